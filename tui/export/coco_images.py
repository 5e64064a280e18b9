"""Which images a COCO export holds, and the names it gives them.

Why whole images only: a detector learns every unannotated region of a training
image as background. An image exported with some of its boxes judged and the rest
left out teaches it that the objects nobody looked at are background: in a trial,
20 of 21 exported images lacked 39 real objects this way. So by default an image is
kept only when every box on it was judged by a person (skipped counts as not
judged), or, with --include-predicted, judged or scored by the model (featurized);
the others are left out and counted. `partial` (--partial-images) keeps them all,
as before.

Names: `file_name` is the image's path relative to the images root, the folder the
refs file's relative paths resolve against (its own folder, recorded by featurize
as the refs path) or the root given (--images-root); a path outside the root stays
absolute. The root goes into `info.images_root`, so root + file_name is the image.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from tui.store.features_read import iter_paths_boxes

#: Rows of the path column read at once when looking for every box of the kept images.
BLOCK = 65_536


@dataclass(frozen=True)
class Kept:
    paths: set[str]          # images kept
    left_out: int            # images left out
    open_boxes: int          # their boxes nobody judged (and, predicting, not featurized)
    lost_accepted: int       # accepted boxes on them, not in the file

    def warning(self, include_predicted: bool) -> str | None:
        if not self.left_out:
            return None
        s = "" if self.left_out == 1 else "s"
        why = "nobody judged and the model could not score (not featurized)" \
            if include_predicted else "nobody judged"
        lost = (f" (and the {self.lost_accepted} accepted box"
                f"{'' if self.lost_accepted == 1 else 'es'} on them)"
                if self.lost_accepted else "")
        fix = "--partial-images keeps them" + ("" if include_predicted else
                                               ", --include-predicted fills them from the model")
        return (f"left out {self.left_out} image{s} with {self.open_boxes} "
                f"box{'' if self.open_boxes == 1 else 'es'} {why}{lost}; {fix}")


def boxes_on(features, paths: set[str]) -> dict[str, np.ndarray]:
    """path -> rows of every box item on that image: one pass over the path column
    (1.2 s a million rows here)."""
    found: dict[str, list[int]] = {p: [] for p in paths}
    for a, block, boxes in iter_paths_boxes(features, BLOCK):
        has_box = ~np.isnan(boxes).any(axis=1)
        for j, p in enumerate(block):
            if has_box[j] and p in found:
                found[p].append(a + j)
    return {p: np.asarray(r, np.int64) for p, r in found.items()}


def complete_images(features, candidates: set[str], decided: np.ndarray,
                    accepted_on: dict[str, int]) -> Kept:
    """The candidate images whose every box is `decided` (bool per row), and a count of
    the others: their undecided boxes and the accepted boxes they hold."""
    keep, left, open_boxes, lost = set(), 0, 0, 0
    for path, rows in boxes_on(features, candidates).items():
        undecided = int(np.count_nonzero(~decided[rows]))
        if undecided:
            left += 1
            open_boxes += undecided
            lost += accepted_on.get(path, 0)
        else:
            keep.add(path)
    return Kept(keep, left, open_boxes, lost)


def root_folder(attrs: dict, given=None) -> str | None:
    """The folder file names are relative to: `given`, else the refs file's folder."""
    if given:
        return os.path.normpath(os.path.abspath(os.path.expanduser(os.fspath(given))))
    refs = attrs.get("refs_path")
    if not isinstance(refs, str) or not os.path.isabs(refs):
        return None
    return os.path.dirname(os.path.normpath(refs))


def file_name(path: str, root: str | None) -> str:
    """`path` relative to `root` when it lies below it, else as stored (absolute)."""
    if root and os.path.isabs(path) and path.startswith(root.rstrip(os.sep) + os.sep):
        return os.path.relpath(path, root)
    return path
