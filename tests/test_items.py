"""Item keys are the join column of labels, features and exports: they must never drift."""

import unicodedata

from refs import Item, item_key, normalize_path


def test_key_is_pinned_across_versions():
    # A labels file written by an older binlabel must still find its items:
    # these values are part of the file formats, not an implementation detail.
    assert item_key("/a/b.jpg", None) == item_key("/a/b.jpg", None)
    assert item_key("/a/b.jpg", (1, 2, 3.04, 4)) == "f102f501206b1fb82a9f"


def test_box_rounding_and_negative_zero():
    assert item_key("/a.jpg", (1.2000001, 2, 3, 4)) == item_key("/a.jpg", (1.2, 2, 3, 4))
    assert item_key("/a.jpg", (-0.04, 2, 3, 4)) == item_key("/a.jpg", (0.0, 2, 3, 4))
    assert item_key("/a.jpg", (1.2, 2, 3, 4)) != item_key("/a.jpg", (1.3, 2, 3, 4))
    assert item_key("/a.jpg", None) != item_key("/a.jpg", (0, 0, 1, 1))


def test_unicode_normal_forms_share_a_key():
    nfc = unicodedata.normalize("NFC", "/data/café.jpg")
    nfd = unicodedata.normalize("NFD", "/data/café.jpg")
    assert nfc != nfd
    assert item_key(nfc, None) == item_key(nfd, None)


def test_item_key_and_relative_paths(tmp_path):
    p = normalize_path("sub/../x.jpg", tmp_path)
    assert p == str(tmp_path / "x.jpg")
    item = Item(p, (1.0, 2.0, 3.0, 4.0), {"score": 0.5})
    assert item.key == item_key(p, (1.0, 2.0, 3.0, 4.0))
    assert item == Item(p, (1.0, 2.0, 3.0, 4.0), {"other": 1})  # meta is not identity
