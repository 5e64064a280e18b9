"""`featurize.device.resolve_device`, the one way a featurize process picks its device (issue 14).

What a user expects: "auto" takes CUDA, then MPS, then the CPU; under torchrun each
rank takes cuda:LOCAL_RANK; a name that is not a device, or one this machine lacks, is
a clear message (exit 2 from the command line, no traceback). The CUDA cases run where
there is a GPU and are skipped elsewhere.
"""
from __future__ import annotations

import ast
import subprocess
import time
from pathlib import Path

import pytest
import torch

from featurize.device import DeviceError, resolve_device
from featurize_fixtures import PY, ROOT, env, sample_photos

CUDA = torch.cuda.is_available()
MPS = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")
no_cuda = pytest.mark.skipif(CUDA, reason="checks the message of a machine without CUDA")


def test_there_is_one_resolve_device():
    defs = []
    for folder in ("featurize", "tui", "refs", "bench"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.FunctionDef) and node.name == "resolve_device":
                    defs.append(str(path.relative_to(ROOT)))
    assert defs == ["featurize/device.py"], defs


def test_auto_takes_the_best_device_here(monkeypatch):
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert resolve_device("auto").type == ("cuda" if CUDA else "mps" if MPS else "cpu")
    assert resolve_device("auto") == resolve_device()


def test_cpu_as_a_name_or_a_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    assert resolve_device(" cpu ") == torch.device("cpu")


@pytest.mark.parametrize("bad", ["gpu", "", "cuda:x", "meta", "xla"])
def test_a_name_that_is_no_device_here_is_a_clear_error(bad):
    with pytest.raises(DeviceError) as e:
        resolve_device(bad)
    msg = str(e.value)
    assert msg.startswith("--device ") and "auto" in msg and "cpu" in msg, msg
    assert isinstance(e.value, ValueError)


@no_cuda
@pytest.mark.parametrize("name", ["cuda", "cuda:0"])
def test_cuda_without_a_gpu_says_so(name, monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "1")  # under torchrun too
    with pytest.raises(DeviceError, match=r"--device cuda(:0)?: no CUDA device is available \(try --device auto or cpu\)"):
        resolve_device(name)


@pytest.mark.skipif(MPS, reason="checks the message of a machine without MPS")
def test_mps_without_mps_says_so():
    with pytest.raises(DeviceError, match="Apple MPS is not available"):
        resolve_device("mps")


@needs_cuda
@pytest.mark.parametrize("name", ["auto", "cuda"])
def test_under_torchrun_each_rank_takes_its_gpu(name, monkeypatch):
    n = torch.cuda.device_count()
    for rank in range(n + 2):  # more ranks than GPUs share them round-robin
        monkeypatch.setenv("LOCAL_RANK", str(rank))
        assert resolve_device(name) == torch.device("cuda", rank % n)
    monkeypatch.delenv("LOCAL_RANK")
    assert resolve_device(name) == torch.device("cuda")


@needs_cuda
def test_an_explicit_gpu_wins_and_a_missing_one_is_refused(monkeypatch):
    n = torch.cuda.device_count()
    monkeypatch.setenv("LOCAL_RANK", str(n - 1 + n))
    assert resolve_device("cuda:0") == torch.device("cuda", 0)
    assert resolve_device(torch.device("cuda", 0)) == torch.device("cuda", 0)
    with pytest.raises(DeviceError, match=f"has {n} CUDA device"):
        resolve_device(f"cuda:{n}")
    monkeypatch.setenv("LOCAL_RANK", "first")
    with pytest.raises(DeviceError, match="LOCAL_RANK='first'"):
        resolve_device("cuda")


def test_load_backbone_refuses_a_bad_device_before_loading():
    from featurize.models import load_backbone
    t0 = time.monotonic()
    with pytest.raises(DeviceError, match="'gpu'"):
        load_backbone("effnet-lite0", device="gpu")
    assert time.monotonic() - t0 < 1.0  # the name is checked first, not after building the model


def _featurize(tmp_path, *args):
    refs = tmp_path / "refs.txt"
    refs.write_text(f'"{sample_photos()[0]}"\n')
    return subprocess.run([PY, "-m", "featurize", str(refs), "-o", str(tmp_path / "f.h5"), "--model", "effnet-lite0",
                           *args], capture_output=True, text=True, env=env(), cwd=str(ROOT), timeout=240)


@pytest.mark.slow
@no_cuda
def test_the_command_exits_2_for_a_gpu_it_lacks(tmp_path):
    r = _featurize(tmp_path, "--device", "cuda")
    assert r.returncode == 2, r.stderr
    assert "featurize: error: --device cuda: no CUDA device is available" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and not Path(tmp_path / "f.h5").exists()


@pytest.mark.slow
def test_the_command_exits_2_for_a_name_that_is_no_device(tmp_path):
    r = _featurize(tmp_path, "--device", "gpu")
    assert r.returncode == 2, r.stderr
    assert "argument --device: invalid choice: 'gpu'" in r.stderr and "Traceback" not in r.stderr, r.stderr
