"""Queries embedded with the model a features file records (featurize/query.py): a seed
image is embedded exactly as featurize embedded the file's rows, words through the same
model's text tower equal open_clip's `encode_text`, and a model without a text tower
says so. Real featurize runs with tiny random-weight models saved locally; offline."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from featurize.models import ModelError
from featurize.query import Words, embed_items, load_recorded_backbone, text_source
from refs import Item
from seed_fixtures import rows, tiny_features
from tui.store.features import FeatureFile


def attrs_of(features):
    with FeatureFile(features) as f:
        return dict(f.attrs)


@pytest.fixture(scope="module")
def dino(tmp_path_factory):
    return tiny_features(tmp_path_factory.mktemp("dino"), "dino", n_photos=3, extra_photos=0)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return tiny_features(tmp_path_factory.mktemp("clip"), "open_clip", n_photos=3, extra_photos=0)


@pytest.mark.parametrize("which", ["dino", "clip"])
def test_a_seed_is_embedded_as_featurize_embedded_its_row(which, dino, clip):
    features, _, _, photos, _ = {"dino": dino, "clip": clip}[which]
    X, keys, paths, boxes = rows(features)
    attrs = attrs_of(features)
    backbone = load_recorded_backbone(attrs)
    items = [Item(p, None if np.isnan(b).any() else tuple(float(v) for v in b))
             for p, b in zip(paths, boxes)]
    got = embed_items(backbone, items, attrs)
    assert all(e is None for _, e in got)
    V = np.stack([v for v, _ in got])
    assert np.abs(V - X).max() < 2e-3            # the file holds float16
    assert [it.key for it in items] == keys


def test_a_seed_that_cannot_be_decoded_says_why(dino, tmp_path):
    features = dino[0]
    bad = tmp_path / "not_an_image.jpg"
    bad.write_text("hello")
    attrs = attrs_of(features)
    [(v, why)] = embed_items(load_recorded_backbone(attrs), [Item(str(bad))], attrs)
    assert v is None and "not an image" in why


def test_words_are_open_clips_encode_text_of_the_same_weights(clip):
    import open_clip

    features, folder, saved, _, _ = clip
    words = Words(attrs_of(features))
    assert words.why_not is None and not words.loaded
    text = "a red flower on a wall"
    got = words.encode(text)
    assert words.loaded
    with torch.no_grad():
        tok = open_clip.get_tokenizer(f"local-dir:{folder}")
        want = torch.nn.functional.normalize(saved.encode_text(tok([text])), dim=-1)[0].numpy()
    assert got.dtype == np.float32 and got.shape == (rows(features)[0].shape[1],)
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert not np.allclose(words.encode("a grey roof"), got, atol=1e-3)


def test_a_model_without_a_text_tower_says_so(dino):
    attrs = attrs_of(dino[0])
    why = text_source(attrs)
    assert isinstance(why, str) and "dinov2reg-s" in why and "no text tower" in why
    with pytest.raises(ModelError, match="no text tower"):
        Words(attrs).encode("anything")
    # and the registry's SigLIP2 from an image-tower folder has none either
    assert "holds no text tower" in text_source({**attrs, "model": "siglip2-b16"})


def test_weights_changed_since_featurize_are_refused(tmp_path, clip):
    features, folder, *_ = clip
    copy = shutil.copytree(folder, tmp_path / "weights")
    f = shutil.copy(features, tmp_path / "f.h5")
    import h5py
    with h5py.File(f, "r+") as h:                        # as if featurize had used the copy
        h.attrs["weights"] = h.attrs["weights"].replace(str(folder.resolve()), str(copy))
    attrs = attrs_of(f)
    load_recorded_backbone(attrs)                        # the same bytes: accepted
    w = copy / "open_clip_model.safetensors"
    w.write_bytes(w.read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(ModelError, match="not those featurize used"):
        load_recorded_backbone(attrs)
    with pytest.raises(ModelError, match="changed since featurize"):
        Words(attrs).encode("words")
    shutil.rmtree(copy)
    with pytest.raises(ModelError, match="not there any more"):
        load_recorded_backbone(attrs)
