"""The classifier and the background thread that refits it.

Why a thread and not a process: the heavy parts (lbfgs on numpy, torch's matrix
products, SQLite) release the GIL, so the caller's `record()`/`next()` stay fast
while a fit runs (measured in bench/sampler.py), and a thread shares the
memory-mapped features without copying. Answers that arrive during a fit are
coalesced: the next fit covers all of them.
"""

from __future__ import annotations

import math
import threading
import time
import traceback
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
from threadpoolctl import ThreadpoolController

from tui.learn.niceness import lower_this_thread

#: Inverse regularisation on unit-variance features (embeddings scaled by sqrt(D)).
#: scikit-learn's objective is 0.5*|w|^2 + C * sum(weighted losses), so the prior's
#: weight relative to the data falls as 1/n: strong with 10 labels, weak with 10,000.
DEFAULT_C = 0.1


@dataclass(frozen=True)
class LinearModel:
    """A fitted logistic regression in the features' own space: P(pos) = sigmoid(x.w + b)."""
    version: int
    w: np.ndarray
    b: float
    n_pos: int
    n_neg: int
    C: float
    fit_seconds: float

    def proba(self, X: np.ndarray) -> np.ndarray:
        return sigmoid(np.asarray(X, np.float32) @ self.w + np.float32(self.b))


def sigmoid(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, np.float32)
    out = np.empty_like(z)
    np.negative(z, out=out)
    np.clip(out, -80, 80, out=out)
    np.exp(out, out=out)
    out += 1
    np.reciprocal(out, out=out)
    return out


_CONTROLLER: ThreadpoolController | None = None


def _blas() -> ThreadpoolController:
    """One controller, made after scikit-learn is imported: `threadpool_limits()` rescans the
    loaded libraries on every call (2.4 ms here, more than a small fit), `.limit()` does not."""
    global _CONTROLLER
    if _CONTROLLER is None:
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER


class Fitter:
    """Logistic regression with balanced class weights, warm-started from the previous fit."""

    def __init__(self, dim: int, C: float = DEFAULT_C, max_iter: int = 200):
        self.scale = math.sqrt(dim)
        self.C, self.max_iter = C, max_iter
        self.est = None  # scikit-learn is imported in the background thread: prepare()

    def prepare(self) -> None:
        """Import scikit-learn (1.0-1.5 s here) and make the estimator. The sampler's thread
        calls it at start, while the first images are looked at, so that the first model
        does not wait for the import after the first positive and negative."""
        if self.est is None:
            from sklearn.linear_model import LogisticRegression
            self.est = LogisticRegression(C=self.C, class_weight="balanced", solver="lbfgs",
                                          max_iter=self.max_iter, tol=1e-4, warm_start=True)

    def fit(self, X: np.ndarray, y: np.ndarray, version: int) -> LinearModel:
        t = time.perf_counter()
        self.prepare()
        # One BLAS thread: lbfgs's small products gain nothing from two, and OpenBLAS's
        # spinning threads slowed fits 30x on a busy 2-core machine (bench/sampler.py).
        with warnings.catch_warnings(), _blas().limit(limits=1):
            warnings.simplefilter("ignore")  # ConvergenceWarning: the next answer refits anyway
            self.est.fit(X * np.float32(self.scale), y)
        w = (self.est.coef_[0] * self.scale).astype(np.float32)
        y = np.asarray(y, bool)
        return LinearModel(version, w, float(self.est.intercept_[0]), int(y.sum()),
                           int((~y).sum()), self.C, time.perf_counter() - t)


def refit(X: np.ndarray, y: np.ndarray, version: int = 0, C: float = DEFAULT_C) -> LinearModel:
    """The sampler's classifier fit from scratch on (X, y)."""
    return Fitter(X.shape[1], C).fit(X, y, version)


def image_only(X: np.ndarray, y: np.ndarray, C: float = DEFAULT_C):
    """`fit(train, test)` for the held-out figures: P(pos) of the rows `test` of (X, y)
    from the sampler's classifier fit on the rows `train`, on the image vectors alone
    (side_model.held_out: with side inputs)."""
    def fit(train, test):
        return refit(X[train], y[train], C=C).proba(X[test])
    return fit


def cross_val_proba(X: np.ndarray, y: np.ndarray, folds: int, seed: int = 0,
                    C: float = DEFAULT_C, fit=None) -> np.ndarray:
    """Out-of-fold P(pos) of every labelled row, each from a model fit without its fold
    (stratified k-fold). Why here: the export's threshold and the review of answers
    (tui.learn.disagreements) must judge the labels with the sampler's own classifier.
    `fit(train, test)`: P(pos) of the rows `test` of (X, y) from a model fit on the rows
    `train`; default image_only(X, y, C)."""
    from sklearn.model_selection import StratifiedKFold

    fit = fit or image_only(X, y, C)
    p = np.empty(len(y), np.float32)
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(X, y):
        p[test] = fit(train, test)
    return p


class RowCache:
    """float32 copies of the labelled rows, read once each (labelled sets are small)."""

    def __init__(self, features):
        self.features = features
        self.rows: dict[int, np.ndarray] = {}

    def get(self, idx: np.ndarray) -> np.ndarray:
        missing = [int(i) for i in idx if int(i) not in self.rows]
        if missing:
            for i, r in zip(missing, self.features.rows(missing)):
                self.rows[i] = r
        if not len(idx):
            return np.zeros((0, self.features.dim), np.float32)
        return np.stack([self.rows[int(i)] for i in idx])


class BackgroundLoop:
    """Runs `step(new_work)` in a daemon thread whenever poked, and every `poll` seconds
    with new_work=False (to notice teammates' answers). `wait_idle()` returns once every
    poke so far has been processed."""

    def __init__(self, step: Callable[[bool], None], poll: float = 1.0, name="sampler"):
        self._step = step
        self.poll = poll
        self._cond = threading.Condition()
        self._gen = 0
        self._done = 0
        self._busy = False
        self._stop = False
        self.error: BaseException | None = None
        self.error_text = ""
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def poke(self) -> None:
        with self._cond:
            self._gen += 1
            self._cond.notify_all()

    @property
    def busy(self) -> bool:
        with self._cond:
            return self._busy or self._done != self._gen

    def _run(self) -> None:
        lower_this_thread()  # a refit must not slow the frame drawn after a key
        while True:
            with self._cond:
                if self._done == self._gen and not self._stop:
                    self._cond.wait(timeout=self.poll)
                if self._stop:
                    return
                target, new = self._gen, self._gen != self._done
                self._busy = True
            try:
                self._step(new)
                self.error = None
            except BaseException as exc:  # keep serving; the error shows in stats()
                self.error, self.error_text = exc, traceback.format_exc()
            with self._cond:
                self._done = target
                self._busy = False
                self._cond.notify_all()

    def wait_idle(self, timeout: float | None = None) -> bool:
        with self._cond:
            ok = self._cond.wait_for(lambda: (self._done == self._gen and not self._busy)
                                     or self._stop, timeout)
        if self.error is not None:
            raise RuntimeError(f"the background fit failed: {self.error}\n{self.error_text}")
        return ok

    def stop(self, timeout: float = 30.0) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)
