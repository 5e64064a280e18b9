"""COCO `.json` reference lists.

Three shapes are read:

- ground truth, ``{"images": [...], "annotations": [...], "categories": [...]}``:
  one item per annotation;
- an images list alone, ``{"images": [...]}`` (COCO's ``image_info`` files):
  one whole-image item per image;
- detection results, ``[{"image_id", "bbox", "score", "category_id"}, ...]``:
  one item per detection; image names come from a separate images file
  (``images=``, e.g. the ground truth) that holds an ``images`` list.

``bbox`` is always ``[x, y, w, h]``. Image ``file_name`` values resolve
against the folder of the file that lists them. Positions in messages and
``Item.line`` are 0-based indices into the JSON array they come from
(``annotations[4]``, ``images[0]``; ``detections[7]`` for the top-level list
of detection results).
Metadata kept: ``image_id``, ``annotation_id`` (the annotation ``id``),
``category_id``, ``category`` (its name, when categories are given),
``score`` and ``iscrowd`` when present.
"""

from __future__ import annotations

from refs.errors import RefsError
from refs.items import Item
from refs.jsonl import load_json
from refs.source import PathResolver, base_dir, check_path, decode, make_box, read_bytes

_GT = 'COCO ground truth {"images": [...], "annotations": [...]} or detection results [...]'


def parse_coco(src: str, text: str, images: str | None = None) -> tuple[list[Item], str, list[str]]:
    """Items, the shape read (``coco-gt``, ``coco-images`` or ``coco-dets``)
    and warnings."""
    doc = load_json(src, text)
    warnings: list[str] = []
    if isinstance(doc, list):
        if images is None:
            raise RefsError(src, None, "detection results need the images file that names "
                            "their image ids", None,
                            "--images FILE: a COCO JSON with an images list, e.g. the "
                            "ground truth")
        data, _ = read_bytes(images)
        img_doc = load_json(images, decode(images, data))
        if not isinstance(img_doc, dict) or not isinstance(img_doc.get("images"), list):
            raise RefsError(images, None, f"no images list: found {_kind(img_doc)}", None,
                            'a COCO JSON object with an "images" list')
        paths, _ = _images(images, img_doc["images"])
        cats = _categories(images, img_doc.get("categories"))
        return _boxes(src, doc, "detections", paths, cats), "coco-dets", warnings
    if not isinstance(doc, dict) or not isinstance(doc.get("images"), list):
        raise RefsError(src, None, f"not a COCO file: found {_kind(doc)}", None, _GT)
    if images is not None:
        warnings.append(f"--images {images} ignored: {src} lists its own images")
    paths, order = _images(src, doc["images"])
    if "annotations" not in doc:
        return [Item(paths[i], None, {"image_id": i}, n) for n, i in order], "coco-images", warnings
    anns = doc["annotations"]
    if not isinstance(anns, list):
        raise RefsError(src, None, f"annotations is not a list: found {_kind(anns)}", None, _GT)
    cats = _categories(src, doc.get("categories"))
    return _boxes(src, anns, "annotations", paths, cats), "coco-gt", warnings


def _images(src: str, images: list) -> tuple[dict, list]:
    """image id -> absolute path, and (index, id) in file order."""
    resolve = PathResolver(base_dir(src))
    paths: dict = {}
    order = []
    for n, im in enumerate(images):
        where = f"images[{n}]"
        if not isinstance(im, dict):
            raise RefsError(src, None, f"{where} is not an object: found {_kind(im)}", None,
                            '{"id": ..., "file_name": ...}')
        for k in ("id", "file_name"):
            if k not in im:
                raise RefsError(src, None, f"{where}: missing field {k!r}", _short(im),
                                '{"id": ..., "file_name": ...}')
        iid = _id(src, where, im["id"])
        p = resolve(check_path(src, None, im["file_name"], where))
        if iid in paths and paths[iid] != p:
            raise RefsError(src, None, f"{where}: image id {iid!r} is used twice, for "
                            "different files", im["file_name"], "unique image ids")
        if iid not in paths:
            order.append((n, iid))
        paths[iid] = p
    return paths, order


def _categories(src: str, cats) -> dict:
    names = {}
    if isinstance(cats, list):
        for c in cats:
            if isinstance(c, dict) and "id" in c and isinstance(c.get("name"), str):
                try:
                    names[c["id"]] = c["name"]
                except TypeError:  # an unhashable id: no name for it
                    pass
    return names


def _boxes(src: str, anns: list, array: str, paths: dict, cats: dict) -> list[Item]:
    items = []
    for n, a in enumerate(anns):
        where = f"{array}[{n}]"
        if not isinstance(a, dict):
            raise RefsError(src, None, f"{where} is not an object: found {_kind(a)}", None,
                            '{"image_id": ..., "bbox": [x, y, w, h], ...}')
        for k in ("image_id", "bbox"):
            if k not in a:
                raise RefsError(src, None, f"{where}: missing field {k!r}", _short(a),
                                '{"image_id": ..., "bbox": [x, y, w, h], ...}')
        iid = _id(src, where, a["image_id"])
        if iid not in paths:
            raise RefsError(src, None, f"{where}: unknown image id", iid,
                            "an id from the images list")
        bbox = a["bbox"]
        if not isinstance(bbox, list) or len(bbox) != 4:
            raise RefsError(src, None, f"{where}: bbox is not a list of 4 numbers", bbox,
                            "[x, y, w, h]")
        box = make_box(src, None, bbox, "xywh", where, strings=False)
        meta = {"image_id": iid}
        if "id" in a:
            meta["annotation_id"] = a["id"]
        if "category_id" in a:
            meta["category_id"] = a["category_id"]
            try:
                name = cats.get(a["category_id"])
            except TypeError:
                name = None
            if name is not None:
                meta["category"] = name
        for k in ("score", "iscrowd"):
            if k in a:
                meta[k] = a[k]
        items.append(Item(paths[iid], box, meta, n))
    return items


def _id(src: str, where: str, v):
    if isinstance(v, bool) or not isinstance(v, (int, str)):
        raise RefsError(src, None, f"{where}: an id must be an integer or a string", v)
    return v


def _kind(v) -> str:
    """What a JSON value is, in JSON's words, for messages."""
    if isinstance(v, dict):
        keys = ", ".join(map(str, list(v)[:8]))
        return f"an object with keys {keys}" if keys else "an empty object"
    if isinstance(v, list):
        return f"a list of {len(v)}"
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    return "a string" if isinstance(v, str) else "a number"


def _short(v, n: int = 200) -> str:
    s = repr(v)
    return s if len(s) <= n else s[:n] + "..."
