"""Second looks at answered items in the main image pane: R's review and H's jumps.

Why a controller and not a screen: the item must show in the app's own image
pane (its prefetch, and its check that a frame was painted before a key may
answer it), so a review only decides which item the app shows and where D, A
and S go; the app keeps drawing and the sampler keeps its own pick for later.
A line above the notice (ReviewBar) says what is on screen.

R ranks the answers by how little a model trained without each believes it
(tui.learn.disagreements, in a worker thread: keys keep answering the normal
picks while it computes) and shows, one by one, those that model would have
answered the other way. D or A records a new answer with strategy "review"
(H: "history"); the old one stays in the log. A confirmation is recorded too,
as the same answer again: the log then says a person looked twice, and a later
R leaves out items whose label is already such a second look, so the same
disagreements do not come back at every R. S goes on without an answer,
Escape leaves, and the sampler's pick comes back.
"""

from __future__ import annotations

import time

from rich.text import Text
from textual.widgets import Static

from tui.app.literal import literal_text
from tui.learn.quality import SECOND_LOOKS

KEYS = {"review": "D positive · A negative (a new answer either way) · S next, no answer · "
                  "Escape leaves the review",
        "history": "D positive · A negative (a new answer; the old one stays in the log) · "
                   "Escape goes back to picking"}
# Keys that would act on another item than the one under review: after Escape.
REFUSED = {"undo", "more_like", "next_strategy"}


class ReviewBar(Static):
    """The line that says what a second look shows and which keys do what."""

    DEFAULT_CSS = """
    ReviewBar { height: auto; max-height: 4; padding: 0 1; background: $boost;
                color: $text; border-top: hkey $accent; }
    """


def when(t: float) -> str:
    lt, now = time.localtime(t), time.localtime()
    same_day = lt[:3] == now[:3]
    return time.strftime("%H:%M:%S" if same_day else "%Y-%m-%d %H:%M", lt)


def open_history(app) -> None:
    """H: the recent answers; Enter on one shows it here for a second look."""
    from tui.app.history_screen import HistoryScreen

    if len(app.screen_stack) == 1:
        app.push_screen(HistoryScreen(app.sampler), lambda key: Review.history(app, key))


class Review:
    """One second look in progress: R's ranked list, or one item chosen in H."""

    def __init__(self, app, source: str):
        self.app, self.sampler, self.source = app, app.sampler, source
        self.items: list = []            # tui.learn.disagreements.Disagreement, ranked
        self.at = -1                     # index of the item shown in items
        self.shown: str | None = None    # its key, while one is on screen
        self.looked = self.changed = 0
        self.bar = ReviewBar("", id="review-bar")
        if app.review is not None:
            app.review.leave()
        main = app.screen_stack[0]
        main.mount(self.bar, before=main.query_one("#notice"))
        app.review = self

    # ---- starting --------------------------------------------------------------------------
    @classmethod
    def disagreements(cls, app) -> None:
        """R: compute the ranking in a worker; show its items when it is done."""
        if len(app.screen_stack) > 1:
            return
        self = cls(app, "review")
        self.say("Review: computing how a model trained without each answer judges it…")
        now = app.sampler.current_answers()      # the answers as they are at R
        app.run_worker(lambda: self._compute(now), thread=True, group="review",
                       exclusive=True, exit_on_error=False)

    @classmethod
    def history(cls, app, key: str | None) -> None:
        """The item chosen in the history list (None: closed with Escape)."""
        if key is None:
            return
        if key not in app.sampler.features:
            cls(app, "history").say("That answer is for an item this features file lacks. "
                                    "Escape closes this line.")
            return
        from tui.learn.disagreements import Disagreement

        a = app.sampler.current_answers().get(key)
        answer = a.answer if a is not None else "none"
        self = cls(app, "history")
        self.items = [Disagreement(key, answer, float("nan"), float("nan"), float("nan"))]
        self._show(0)

    def _compute(self, now: dict) -> None:
        from tui.learn import disagreements as D
        from tui.learn.niceness import lower_this_thread

        # five fits must not slow the frame after a key; the pool's thread stays lowered,
        # and it only ever runs background workers
        lower_this_thread()
        answers = {k: a.answer for k, a in now.items()}
        looked = {k for k, a in now.items() if a.strategy in SECOND_LOOKS}
        try:
            ranked = D.in_features(self.sampler.features, answers, side=self.sampler.side)
        except D.TooFewAnswers as exc:
            self.app.call_from_thread(self._ready, None, f"Review: {exc}. Escape closes this line.")
            return
        except Exception as exc:     # a failed fit must not take the app down
            self.app.call_from_thread(self._ready, None, f"Review failed ({type(exc).__name__}: "
                                      f"{exc}). Escape closes this line.")
            return
        against = [d for d in ranked if d.disagrees]
        todo = [d for d in against if d.key not in looked]
        self.app.call_from_thread(self._ready, (todo, len(ranked), len(against)), None)

    def _ready(self, got, error: str | None) -> None:
        if self.app.review is not self:      # left (or restarted) while it computed
            return
        if error is not None:
            self.say(error)
            return
        todo, n, against = got
        if not todo:
            self.say(f"Review: a model trained without each agrees with all {n} positive and "
                     f"negative answers. Escape closes this line." if not against else
                     f"Review: the {against} answers that a model trained without each "
                     f"disagrees with were all looked at again already. Escape closes this line.")
            return
        self.items = todo
        self._show(0)

    # ---- the item on screen ---------------------------------------------------------------
    def _show(self, i: int) -> None:
        """Show items[i] or the next one whose label is still the one judged."""
        now = self.sampler.current_answers()
        while i < len(self.items):
            d = self.items[i]
            a = now.get(d.key)
            if self.source == "history" or (a is not None and a.answer == d.answer):
                break
            i += 1                            # changed meanwhile (a teammate, an undo)
        if i >= len(self.items):
            self._done()
            return
        self.at, d = i, self.items[i]
        self.shown = d.key
        self.app.show_key(d.key)
        self.say(self._describe(d, now.get(d.key)))

    def _describe(self, d, a) -> Text:
        t = Text()
        if self.source == "review":
            t.append(f"Review {self.at + 1} of {len(self.items)}: ", "bold")
        else:
            t.append("From the history: ", "bold")
        if a is None:
            t.append("no answer now")
        else:
            t.append("answered ")
            t.append(a.answer.upper(), "bold green" if a.answer == "pos" else
                     "bold red" if a.answer == "neg" else "bold")
            t.append(" by ")
            t.append_text(literal_text(a.annotator))
            t.append(f" at {when(a.time)}")
        if self.source == "review":
            t.append(f" · a model trained without it: P(pos) {d.p_pos:.2f}")
        t.append("\n")
        t.append(KEYS[self.source], "dim")
        return t

    def _done(self) -> None:
        n = self.looked
        self.shown = None
        self.app.show_key(None)
        self.say(f"Review done: {n} answer{'s' if n != 1 else ''} looked at again, "
                 f"{self.changed} changed. Escape closes this line.")

    # ---- keys -----------------------------------------------------------------------------
    def answer(self, kind: str) -> bool:
        """D, A or S while an item of the review is on screen; False: not ours."""
        if self.shown is None:
            return False
        key = self.shown
        if self.app.displayed != key:        # not painted yet: as the app drops such keys
            self.app.dropped_keys += 1
            return True
        if kind == "skip":
            if self.source == "history":
                return True                   # S: not offered here, and no other item waits
            self._show(self.at + 1)
            return True
        before = self.sampler.current_answers().get(key)
        try:
            self.sampler.record(key, kind == "pos", strategy=self.source)
        except Exception as exc:              # a full disk: keep the item, say so
            self.say(f"not saved: {exc}")
            return True
        self.looked += 1
        self.changed += before is None or before.answer != kind
        if self.source == "review":
            self._show(self.at + 1)
            return True
        self.shown = None                     # history: one item, then the sampler's pick
        self.app.show_key(None)
        was = f"it was {before.answer.upper()}" if before is not None else "it had no answer"
        self.say(f"Recorded {kind.upper()} for that item ({was}; the old answer stays in the "
                 f"log). Escape closes this line.")
        return True

    def allows(self, action: str) -> bool:
        return self.shown is None or action not in REFUSED

    def leave(self) -> None:
        """Escape: close the line; the sampler's pick comes back on screen."""
        if self.app.review is self:
            self.app.review = None
        if self.shown is not None:
            self.app.show_key(None)
        self.shown = None
        self.bar.remove()

    def say(self, text) -> None:
        self.bar.update(text if isinstance(text, Text) else Text(text))
