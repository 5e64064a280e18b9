"""The featurize command end to end, in-process, with a tiny real-architecture
model and real photos: the file format read back with bare h5py, the rows
equal to direct model calls, refusals, --limit, progress lines, bad input."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from PIL import Image

import refs
from featurize.cli import main
from featurize.decode import open_image
from featurize.models import load_backbone
from featurize.pool import box_patch_weights, pool_tokens, whole_image_weights
from featurize.preprocess import input_geometry, to_tensor
from featurize_fixtures import TINY_MODEL, cli_args, make_photos, read, tiny_model, write_refs

sys.path.insert(0, str(Path(__file__).parent / "data"))
import make_bad  # noqa: E402


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("fz")
    photos = make_photos(d / "photos", 4)
    refs_path = write_refs(d / "refs.txt", photos, boxes_per_image=2)
    return d, photos, refs_path, tiny_model(d / "tiny")


def run(capsys, refs_path, out, weights, *extra):
    rc = main(cli_args(refs_path, out, weights, "--workers", "0", *extra))
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return rc, err


def _unit(v):
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


@pytest.mark.parametrize("mode", ["crop", "pool"])
def test_format_and_rows_match_direct_model_calls(setup, capsys, tmp_path, mode):
    d, photos, refs_path, weights = setup
    out = tmp_path / "features.h5"
    rc, err = run(capsys, refs_path, out, weights, "--box-mode", mode, "--batch-size", "3")
    assert rc == 0, err
    assert re.search(r"12 done, 0 failed, 0 pending of 12 items; 0 boxes clipped", err)
    rl = refs.read_refs(refs_path)
    n = len(rl.items)
    # bare h5py: every dataset, its type and shape
    with h5py.File(out, "r") as f:
        assert set(f.keys()) == {"features", "status", "error", "items"}
        assert set(f["items"].keys()) == {"key", "path", "box", "meta", "image_size"}
        assert f["features"].dtype == np.float16 and f["features"].shape == (n, 32)
        assert f["status"].dtype == np.int8 and f["items/box"].dtype == np.float32
        assert f["items/image_size"].dtype == np.int32 and f["items/image_size"].shape == (n, 2)
        for k in ("error", "items/key", "items/path", "items/meta"):
            assert h5py.check_string_dtype(f[k].dtype).encoding == "utf-8", k
        assert f["features"].compression is None and f["features"].chunks is None
    r = read(out)
    a = r["attrs"]
    assert a["format"] == "binlabel.features" and a["format_version"] == 1
    assert re.fullmatch(r"[0-9a-f]{32}", a["uuid"])
    assert a["model"] == TINY_MODEL and "sha256:" in a["weights"] and str(weights) in a["weights"]
    pre = json.loads(a["preprocess"])
    assert pre["size"] == [56, 56] and pre["resize"] == "shortest"
    assert a["box_mode"] == mode and a["context"] == pytest.approx(0.15) and a["dim"] == 32
    assert a["refs_path"] == str(refs_path)
    assert a["refs_sha256"] == hashlib.sha256(refs_path.read_bytes()).hexdigest() == rl.sha256
    assert a["binlabel_version"] and bool(a["complete"]) is True
    assert datetime.fromisoformat(a["created"]).utcoffset().total_seconds() == 0
    assert list(r["key"]) == [it.key for it in rl.items]
    assert list(r["path"]) == [it.path for it in rl.items]
    for i, it in enumerate(rl.items):
        if it.box is None:
            assert np.isnan(r["box"][i]).all()
        else:
            assert np.allclose(r["box"][i], it.box, atol=1e-3)
        assert json.loads(r["meta"][i]) == it.meta
        assert tuple(r["image_size"][i]) == Image.open(it.path).size
    assert (r["status"] == 1).all() and (r["error"] == "").all()
    norms = np.linalg.norm(r["features"].astype(np.float32), axis=1)
    assert np.allclose(norms, 1, atol=2e-3)
    # each row is the embedding of its own item (full decode here, no draft, no batching)
    bb = load_backbone(TINY_MODEL, weights)
    pool_pre = bb.preprocess.for_pool()
    gh = pool_pre.size[0] // bb.patch_size
    for i, it in enumerate(rl.items):
        dec = open_image(it.path)
        with torch.no_grad():
            if mode == "crop":
                im = dec.image
                if it.box is not None:
                    x1, y1, x2, y2 = it.box
                    dx, dy = 0.15 * (x2 - x1), 0.15 * (y2 - y1)
                    w, h = dec.size
                    im = im.crop((max(0, x1 - dx), max(0, y1 - dy), min(w, x2 + dx), min(h, y2 + dy)))
                want = bb.embed(to_tensor(im, bb.preprocess)[None])[0]
            else:
                grid = bb.patch_grid(to_tensor(dec.image, pool_pre)[None])[0]
                if it.box is None:
                    wts = whole_image_weights((gh, gh))
                else:
                    geo = input_geometry(*dec.size, pool_pre)
                    wts = box_patch_weights(geo.map_box(it.box), (gh, gh), bb.patch_size)
                want = pool_tokens(grid, [wts])[0]
        cos = float(_unit(want) @ _unit(r["features"][i]))
        assert cos > 0.98, (i, it, cos)
        others = [float(_unit(want) @ _unit(r["features"][j])) for j in range(n) if j != i]
        assert cos >= max(others) - 1e-3, "row i is item i, not a neighbour"


def test_workers_give_the_same_rows(setup, capsys, tmp_path):
    d, photos, refs_path, weights = setup
    rc0, _ = run(capsys, refs_path, tmp_path / "a.h5", weights, "--box-mode", "crop")
    rc2 = main(cli_args(refs_path, tmp_path / "b.h5", weights, "--box-mode", "crop", "--workers", "2",
                        "--batch-size", "2"))
    capsys.readouterr()
    assert rc0 == rc2 == 0
    a, b = read(tmp_path / "a.h5"), read(tmp_path / "b.h5")
    assert np.abs(a["features"].astype(np.float32) - b["features"].astype(np.float32)).max() < 2e-3


def test_refuses_other_provenance_unless_overwrite(setup, capsys, tmp_path):
    d, photos, refs_path, weights = setup
    out = tmp_path / "f.h5"
    assert run(capsys, refs_path, out, weights)[0] == 0
    uuid = read(out)["attrs"]["uuid"]
    other = tiny_model(tmp_path / "other")
    # another seed: the same architecture, other weights
    from tiny_models import tiny_dinov2reg
    shutil.rmtree(other)
    tiny_dinov2reg(other, seed=1)
    for extra, attr in [(("--context", "0.3"), "context"), (("--box-mode", "crop"), "box_mode")]:
        rc, err = run(capsys, refs_path, out, weights, *extra)
        assert rc == 2 and f"made with {attr} = " in err and "--overwrite" in err, err
    rc, err = run(capsys, refs_path, out, other)
    assert rc == 2 and "made with weights = " in err
    changed = tmp_path / "refs.txt"
    changed.write_text(refs_path.read_text() + f'"{photos[0]}" 1 2 30 40\n')
    rc, err = run(capsys, changed, out, weights)
    assert rc == 2 and "made with refs_sha256 = " in err
    assert read(out)["attrs"]["uuid"] == uuid, "a refusal leaves the file alone"
    rc, err = run(capsys, changed, out, other, "--overwrite")
    assert rc == 0, err
    r = read(out)
    assert r["attrs"]["uuid"] != uuid and len(r["key"]) == 13 and (r["status"] == 1).all()


def test_a_resume_keeps_the_precision_the_file_was_started_with(setup, capsys, tmp_path):
    """Rows of one file come from one arithmetic: `auto` takes the file's precision,
    another precision asked for is refused with the flag that continues the file."""
    from featurize.run import cpu_has_bf16
    d, photos, refs_path, weights = setup
    first, other = ("fp32", "bf16") if cpu_has_bf16() else ("bf16", "fp32")  # not what auto picks
    out = tmp_path / "f.h5"
    assert run(capsys, refs_path, out, weights, "--limit", "3", "--precision", first)[0] == 0
    with h5py.File(out, "r+") as f:              # as if killed: the last row still to do
        f["status"][2] = 0
    before = read(out)
    rc, err = run(capsys, refs_path, out, weights, "--limit", "3", "--precision", other)
    assert rc == 2, err
    assert f"made with precision = '{first}', this run has precision = '{other}'" in err, err
    assert f"--precision {first}" in err and "--overwrite" in err, err
    assert read(out)["attrs"]["uuid"] == before["attrs"]["uuid"] and (read(out)["status"] == [1, 1, 0]).all()
    rc, err = run(capsys, refs_path, out, weights, "--limit", "3", "--precision", "auto")
    assert rc == 0 and f"cpu, {first})" in err, err
    after = read(out)
    assert after["attrs"]["precision"] == first and (after["status"] == 1).all()
    assert np.array_equal(after["features"][:2], before["features"][:2]), "done rows are not recomputed"
    with h5py.File(out, "r+") as f:              # a file written before the attribute existed
        del f.attrs["precision"]
    rc, err = run(capsys, refs_path, out, weights, "--limit", "3", "--precision", other)
    assert rc == 0, err


def test_limit_and_a_changed_limit(setup, capsys, tmp_path):
    d, photos, refs_path, weights = setup
    out = tmp_path / "f.h5"
    rc, err = run(capsys, refs_path, out, weights, "--limit", "5")
    assert rc == 0, err
    r = read(out)
    assert list(r["key"]) == [it.key for it in refs.read_refs(refs_path).items[:5]]
    rc, err = run(capsys, refs_path, out, weights, "--limit", "7")
    assert rc == 2 and "holds 5 items, this run has 7" in err


def test_non_tty_progress_lines(setup, capsys, tmp_path):
    d, photos, refs_path, weights = setup
    rc, err = run(capsys, refs_path, tmp_path / "f.h5", weights, "--batch-size", "2", "--box-mode", "crop",
                  "--log-every", "0")
    assert rc == 0
    lines = [ln for ln in err.splitlines() if re.match(r"featurize: \d+/12 items", ln)]
    assert len(lines) >= 6, err
    assert "\r" not in err
    m = re.match(r"featurize: (\d+)/12 items \((\d+\.\d)%\), (\d+\.\d) items/s, elapsed \S+, ETA \S+, failed 0",
                 lines[-1])
    assert m and m.group(1) == "12" and m.group(2) == "100.0" and float(m.group(3)) > 0
    counts = [int(re.match(r"featurize: (\d+)/", ln).group(1)) for ln in lines]
    assert counts == sorted(counts)


def test_tty_progress_is_a_tqdm_bar():
    import io
    from featurize.progress import Progress
    s = io.StringIO()
    p = Progress(10, 2, stream=s, tty=True)
    p.update(3)
    p.close()
    text = s.getvalue()
    assert "\r" in text and "5/10" in text and "item/s" in text


def test_bad_input_marks_rows_failed_and_the_job_goes_on(setup, capsys, tmp_path):
    d, photos, refs_path, weights = setup
    bad = Path(__file__).parent / "data" / "bad"
    odd = tmp_path / "odd"
    odd.mkdir()
    weird = odd / "new\nline ☃ é.jpg"
    shutil.copy(photos[0], weird)
    w, h = Image.open(photos[0]).size
    recs = [{"path": str(bad / name)} for name in make_bad.EXPECTED]
    recs += [
        {"path": str(bad / "exif-rotated.jpg"), "box": list(make_bad.EXIF_RED_BOX)},
        {"path": str(weird), "box": [-10, -10, 50, 50], "note": "clipped"},
        {"path": str(weird), "box": [w + 5, 10, w + 50, 60], "note": "outside"},
        {"path": str(weird)},
    ]
    refs_file = tmp_path / "refs.jsonl"
    refs_file.write_bytes(("\ufeff" + "\r\n".join(json.dumps(r) for r in recs) + "\r\n").encode())
    out = tmp_path / "f.h5"
    rc, err = run(capsys, refs_file, out, weights)
    assert rc == 1, err
    r = read(out)
    n_bad = sum(v is not None for v in make_bad.EXPECTED.values()) + 1
    assert re.search(rf"{len(recs) - n_bad} done, {n_bad} failed, 0 pending of {len(recs)} items; "
                     r"1 boxes clipped", err), err
    for i, name in enumerate(make_bad.EXPECTED):
        exp = make_bad.EXPECTED[name]
        if exp is None:
            assert r["status"][i] == 1 and r["error"][i] == "", name
            assert np.linalg.norm(r["features"][i].astype(np.float32)) == pytest.approx(1, abs=2e-3)
        else:
            assert r["status"][i] == 2 and exp in r["error"][i], (name, r["error"][i])
            assert not r["features"][i].any()
    k = len(make_bad.EXPECTED)
    assert r["status"][k] == 1 and tuple(r["image_size"][k]) == make_bad.EXIF_SIZE
    assert r["status"][k + 1] == 1 and r["path"][k + 1] == str(weird)
    assert json.loads(r["meta"][k + 1]) == {"note": "clipped"}
    assert r["status"][k + 2] == 2 and "outside the image" in r["error"][k + 2]
    assert r["status"][k + 3] == 1
    assert "exit code 1" in err and "bomb.png: refused as a possible decompression bomb" in err


def test_output_problems_are_messages(setup, capsys, tmp_path):
    d, photos, refs_path, weights = setup
    junk = tmp_path / "junk.h5"
    junk.write_text("not hdf5")
    rc, err = run(capsys, refs_path, junk, weights)
    assert rc == 2 and "not a readable HDF5 file" in err and junk.read_text() == "not hdf5"
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = 1
    rc, err = run(capsys, refs_path, other, weights)
    assert rc == 2 and "not a binlabel features file" in err
    out = tmp_path / "f.h5"
    assert run(capsys, refs_path, out, weights, "--limit", "2")[0] == 0
    holder = subprocess.Popen(  # another process writing it holds its lock
        [sys.executable, "-c", f"import h5py, sys, time; f = h5py.File({str(out)!r}, 'r+'); "
                               "print('open', flush=True); time.sleep(120)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        rc, err = run(capsys, refs_path, out, weights, "--limit", "2")
    finally:
        holder.kill()
        holder.wait()
    assert rc == 2 and "open in another process" in err, err
    rc, err = run(capsys, refs_path, tmp_path / "f2.h5", weights, "--model", "no-such-model")
    assert rc == 2 and "unknown model 'no-such-model'" in err
    bad_refs = tmp_path / "bad.txt"
    bad_refs.write_text(f'"{photos[0]}" 10 10 5 5\n')
    rc, err = run(capsys, bad_refs, tmp_path / "f3.h5", weights)
    assert rc == 2 and "bad.txt:1" in err
    with pytest.raises(SystemExit) as e:
        main(cli_args(refs_path, tmp_path / "nofolder" / "f.h5", weights))
    assert e.value.code == 2 and "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--help"], ["/nonexistent/list.txt", "-o", "/tmp/f.h5"]],
                         ids=["help", "missing list"])
def test_help_and_a_list_mistake_answer_without_importing_torch(argv):
    """torch takes 1-2 s to import: the help and a mistake in the list must not wait for it."""
    code = ("import sys\nfrom featurize.cli import main\n"
            f"try:\n    rc = main({argv!r})\nexcept SystemExit as e:\n    rc = e.code\n"
            "print(rc, 'torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parent.parent)
    rc, torch_loaded = done.stdout.split()[-2:]
    assert torch_loaded == "False", done.stdout + done.stderr
    assert rc == ("0" if argv == ["--help"] else "2"), done.stdout + done.stderr
    if argv != ["--help"]:
        assert "/nonexistent/list.txt: no such file" in done.stderr
