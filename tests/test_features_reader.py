"""The features.h5 reader against files written in the README format with h5py."""

import subprocess
import sys

import h5py
import numpy as np
import pytest

from tests.h5fixtures import normalise, write_features
from tui.store.features import FeatureFile, FeaturesError


@pytest.fixture
def pool(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 16))
    boxes = np.full((300, 4), np.nan, np.float32)
    boxes[5] = [1, 2, 30.5, 40]
    meta = [{"i": i} for i in range(300)]
    status = np.ones(300, np.int8)
    status[7], status[8] = 0, 2
    return tmp_path, X, boxes, meta, status


@pytest.mark.parametrize("chunked", [False, True])
def test_reads_what_was_written(pool, chunked):
    tmp, X, boxes, meta, status = pool
    keys = write_features(tmp / "f.h5", X, boxes=boxes, meta=meta, status=status, chunked=chunked,
                          file_uuid="abc-123")
    with FeatureFile(tmp / "f.h5", chunk_rows=64) as f:
        assert f.storage == ("h5py" if chunked else "memmap")
        assert (f.n, f.dim, f.id) == (300, 16, "abc-123")
        assert list(f.keys) == keys and f.keys[3] == keys[3]
        assert all(f.index_of(k) == i for i, k in enumerate(keys))
        assert f.get_index("nope") is None and "nope" not in f and keys[9] in f
        assert np.array_equal(f.indices_of([keys[4], "x", keys[0]]), [4, -1, 0])
        with pytest.raises(KeyError, match="nope"):
            f.index_of("nope")
        assert f.box(5) == (1.0, 2.0, 30.5, 40.0) and f.box(4) is None
        assert f.meta(11) == {"i": 11} and f.path(2) == "/data/img_000002.jpg"
        assert f.image_size(0) == (64, 64)
        assert f.done.sum() == 298 and not f.done[7] and f.status[8] == 2
        want = normalise(X).astype(np.float16).astype(np.float32)
        want[[7, 8]] = 0
        assert np.array_equal(f.rows([9, 3, 9]), want[[9, 3, 9]])
        got = np.concatenate([b.copy() for _, b in f.iter_chunks()])
        assert np.array_equal(got, want)
        w = np.random.default_rng(1).standard_normal(16).astype(np.float32) * 5
        assert np.allclose(f.dot(w, 0.5), want @ w + 0.5, atol=2e-2)


WRITER = """
import sys, h5py, numpy as np
d = sys.argv[1]
with h5py.File(d + "/f.h5", "a", locking=False) as w:
    w["features"][:10] = np.load(d + "/rows.npy")
    w["status"][:10] = 1
"""


def test_sees_rows_finished_after_opening(tmp_path):
    X = np.random.default_rng(0).standard_normal((50, 8))
    status = np.zeros(50, np.int8)
    write_features(tmp_path / "f.h5", X, status=status, complete=False)
    f = FeatureFile(tmp_path / "f.h5")
    assert f.done.sum() == 0 and not f.complete
    np.save(tmp_path / "rows.npy", normalise(X[:10]).astype(np.float16))
    # featurize finishing rows meanwhile, in another process (as it does)
    subprocess.run([sys.executable, "-c", WRITER, str(tmp_path)], check=True)
    f.refresh()
    assert f.done.sum() == 10 and np.abs(f.rows([3])[0] - normalise(X[3:4])[0]).max() < 1e-3
    f.close()


def test_errors_name_the_file_and_the_problem(tmp_path):
    with pytest.raises(FeaturesError, match="no such features file"):
        FeatureFile(tmp_path / "missing.h5")
    (tmp_path / "text.h5").write_text("hello")
    with pytest.raises(FeaturesError, match="text.h5.*not a readable HDF5"):
        FeatureFile(tmp_path / "text.h5")
    write_features(tmp_path / "f.h5", np.ones((3, 4)))
    with h5py.File(tmp_path / "f.h5", "a") as w:
        w.attrs["format_version"] = 7
    with pytest.raises(FeaturesError, match="format_version 7"):
        FeatureFile(tmp_path / "f.h5")
    write_features(tmp_path / "g.h5", np.ones((3, 4)))
    with h5py.File(tmp_path / "g.h5", "a") as w:
        del w["items/meta"]
    with pytest.raises(FeaturesError, match="g.h5: missing dataset.*items/meta"):
        FeatureFile(tmp_path / "g.h5")
    with h5py.File(tmp_path / "other.h5", "w") as w:
        w["x"] = 1
    with pytest.raises(FeaturesError, match="not a binlabel features file"):
        FeatureFile(tmp_path / "other.h5")
