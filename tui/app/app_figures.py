"""The figures on screen: counts, pace, the model's probability, featurize's progress.

Kept apart from the app's keys and images: these run on timers (every 0.5 s, every
0.1 s for the picks, every second while featurize writes), never on a key's path,
and repaint only what changed. featurize's progress is read by the app itself, in a
worker thread, because the sampler re-reads the file in its refit thread at nice +15,
which featurize starves of CPU: "left 64" once stayed 40 s on screen while featurize
had reached 320 of 500 (tests/test_task_panel.py). A mixin of AnnotateApp.
"""

from __future__ import annotations

from textual import work

FEATURIZE_POLL_S = 1.0  # how often the counts look at the rows featurize has finished


class AppFigures:
    """Mixed into AnnotateApp: needs its sampler, side panel, pace and picks."""

    @work(thread=True, group="featurized", exclusive=True, exit_on_error=False)
    def _count_featurized(self) -> None:
        """The rows featurize has finished, read apart from the sampler: its refresh runs
        in the refit thread (nice +15), which featurize itself starves of CPU ("left 64"
        stayed 40 s on screen while featurize reached 320 of 500)."""
        f = self.sampler.features
        try:
            done = f.featurized_now()
        except Exception as exc:  # noqa: BLE001 - a worker drops errors: say it, never freeze
            self.call_from_thread(self._count_failed, f"{type(exc).__name__}: {exc}")
            return
        if done is not None:
            self.call_from_thread(self._featurized, done, done >= f.n)

    _count_error: str | None = None

    def _count_failed(self, why: str) -> None:
        """The count of featurized rows failed: the panel says so, in the features notice's
        place, rather than showing counts that silently stopped following the file."""
        self._count_error = why
        self._refresh_stats()

    def _featurized(self, done: int, finished: bool) -> None:
        self._count_error = None
        self._featurized_now = done
        if finished:
            self._featurize_timer.stop()
        self._refresh_stats()

    def _refresh_stats(self) -> None:
        stats = self.sampler.stats()
        ahead = self._featurized_now - int(stats.get("featurized") or 0)
        if ahead > 0:   # rows the sampler takes in at its next refresh: unanswered, so left
            stats = {**stats, "left": int(stats.get("left") or 0) + ahead,
                     "featurized": self._featurized_now}
        if self._count_error and not stats.get("features_notice"):
            stats = {**stats, "features_notice": (
                f"featurize's progress could not be read ({self._count_error}); the counts may "
                f"lag behind the file. Trying again every {FEATURIZE_POLL_S:g} s.")}
        if stats != self.side.stats:  # unchanged figures: no repaint, nothing written
            self.side.stats = stats
        pace = self.pace.describe(int(stats.get("left") or 0))
        if pace != self.side.pace:
            self.side.pace = pace

    def _tick(self) -> None:
        """Refresh the figures (repainted only if they changed); check the picks."""
        if not self._side.is_mounted:
            return
        self._refresh_stats()
        if self._started and self.current is None and (self.side.stats or {}).get("left"):
            key = self._take_next()      # nothing on screen: a teammate may have let go of one
            if key is not None:
                self._advance(key)
        self._check_picks()
        if self.side.show_proba:
            self._update_proba()

    def _check_picks(self) -> None:
        """If a new model re-ranked the queue, prepare its picks (O(lookahead))."""
        if self._started and self._side.is_mounted and list(self.sampler.peek(self.lookahead)) != self._peeked:
            self._want()

    def _update_proba(self) -> None:
        if self.side.show_proba and self.current is not None:
            self.side.proba = self.sampler.proba(self.current.key)
