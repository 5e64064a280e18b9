"""The annotate app: one image, one key, the next image at once.

Every answer is given by a key the person pressed while the item was on screen:
`displayed` names the item whose frame has been painted, and only that item can
be answered. A key that comes while the next image is still on its way (a held
D, a burst) is dropped rather than landing on an item nobody saw. The sampler is
called from the UI thread only for its O(1) calls; rendering and encoding the
next images happen in a background worker (`tui.app.prefetch`).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import replace

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.reactive import var
from textual.widgets import Footer, Static

from tui.app.app_figures import FEATURIZE_POLL_S, AppFigures
from tui.app.help_screen import HelpScreen
from tui.app.image_pane import ImagePane
from tui.app.painted_pane import PaintedImagePane
from tui.app.item_info import ItemInfo
from tui.app.keys import KEYS, key_display
from tui.app.literal import literal_text
from tui.app.pace import Pace
from tui.app.meta_columns import MetaColumns
from tui.app.prefetch import ImageReady, Job, Prefetcher
from tui.app.queries import ask_words, more_like_note
from tui.image.render import render_item
from tui.app.side_panel import SidePanel

STRATEGIES = ("entropy", "maxprob", "random")  # M cycles; N mixes neighbours in
ANSWERS = {"pos": True, "neg": False, "skip": None}
# Actions that change labels or the queue: refused while a dialog (help) is open.
WORK_ACTIONS = {"answer", "undo", "toggle_view", "toggle_proba", "next_strategy", "more_like",
                "words"}


class AnnotateApp(AppFigures, App[None]):
    """Image pane, side panel, notice line and footer; keys label the item on screen."""

    CSS_PATH = "app.tcss"
    TITLE = "binlabel"
    ENABLE_COMMAND_PALETTE = False
    # Ctrl-C is a priority binding: Textual's screens bind it to "copy text" and the
    # app to "Press ctrl+q to quit"; here it quits, as Q does, wherever the focus is.
    BINDINGS = [Binding(name, k.action, k.footer, show=bool(k.footer) and i == 0,
                        key_display=key_display(k), priority=name.startswith("ctrl+"))
                for k in KEYS for i, name in enumerate(k.keys.split(","))]

    # var, not reactive: a reactive on the App repaints the whole screen (~30 KB) when it changes
    view: var[str] = var("crop")
    # The key of the item whose frame has been painted: the only one a key can answer.
    displayed: var[str | None] = var(None)

    def __init__(self, sampler, graphics, *, view: str = "crop", context: float = 0.15,
                 lookahead: int = 3, stats_every: float = 0.5, max_px: int | None = None,
                 colors: int | None = None, question: str | None = None,
                 meta_columns: MetaColumns | None = None, words=None) -> None:
        """``max_px`` and ``colors`` trade image size for sharpness (see ImagePane);
        ``question``: what D and A answer, named at the panel's top and in the footer;
        ``meta_columns``: which metadata the panel shows (the default: all);
        ``words``: the text encoder of `/` (featurize.query.Words; tui/app/queries.py)."""
        super().__init__()
        self.words = words
        self.question = question or None
        self.meta_columns = meta_columns or MetaColumns()
        if self.question:  # the footer names the answers to the question: D → yes, A → no
            for k in KEYS:
                if k.footer_asked:
                    for name in k.keys.split(","):
                        self._bindings.key_to_bindings[name] = [
                            replace(b, description=k.footer_asked)
                            for b in self._bindings.key_to_bindings.get(name, [])]
        self._pane_options = dict(max_px=max_px, colors=colors)
        self.sampler = sampler
        self.graphics = graphics
        self.context = context
        self.lookahead = lookahead
        self.stats_every = stats_every
        self.current: ItemInfo | None = None  # chosen to be on screen (maybe still loading)
        self.dropped_keys = 0  # keys that came while no item was displayed
        self._infos: OrderedDict[str, ItemInfo] = OrderedDict()
        self._shown_token: str | None = None
        self._stale: set[str] = set()  # no longer wanted, discarded once off screen
        self._errors: dict[str, str] = {}
        self._size_px: tuple[int, int] = (0, 0)
        self._peeked: list[str] = []
        self._started = False
        self.pace = Pace()
        self._featurized_now = 0        # rows featurize has finished, read by the app itself
        self.review = None  # a second look in progress (tui.app.review.Review)
        self.set_reactive(AnnotateApp.view, view)

    # ---- layout -------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        self._pane = PaintedImagePane(self.graphics, **self._pane_options)
        self._side = SidePanel(id="side", question=self.question,
                               meta_columns=self.meta_columns)
        with Horizontal(id="main"):
            yield self._pane
            yield self._side
        yield Static(literal_text(self.notice), id="notice")
        yield Footer()

    @property
    def notice(self) -> str:
        """The graphics notice and the labels file's notice (attached to another features file)."""
        parts = [getattr(self.graphics, "notice", ""),
                 getattr(getattr(self.sampler, "store", None), "notice", None)]
        return " · ".join(p for p in parts if p)

    @property
    def pane(self) -> PaintedImagePane:
        return self._pane  # kept: a query would search the help screen while it is open

    @property
    def side(self) -> SidePanel:
        return self._side

    def get_driver_class(self):
        """Textual's Linux driver with terminal replies dropped from the input (tui.app.driver)."""
        driver = super().get_driver_class()
        from textual.drivers.linux_driver import LinuxDriver

        if driver is LinuxDriver:
            from tui.app.driver import ReplyFilteringDriver

            return ReplyFilteringDriver
        return driver

    def on_mount(self) -> None:
        self.query_one("#notice").display = bool(self.notice)
        self.side.view = self.view
        self.prefetcher = Prefetcher(self.pane.prepare, self._render)
        self._prefetch_worker()
        self._refresh_stats()
        self.set_interval(self.stats_every, self._tick)
        # a new model re-ranks the queue: prepare its picks soon, before the next key wants one
        self.set_interval(0.1, self._check_picks)
        if not self.sampler.features.complete:   # featurize still writes: follow its rows
            self._featurize_timer = self.set_interval(FEATURIZE_POLL_S, self._count_featurized)
        self.call_after_refresh(self._start)

    def on_unmount(self) -> None:
        self.prefetcher.close()

    def _start(self) -> None:
        self._size_px = tuple(self.pane.pixel_size())
        self._started = True
        self._advance(self._take_next())

    # ---- the worker -----------------------------------------------------------------
    @work(thread=True, group="prefetch", exit_on_error=False)
    def _prefetch_worker(self) -> None:
        self.prefetcher.run(lambda job, error: self.post_message(ImageReady(job, error)))

    def _render(self, job: Job):
        return render_item(job.path, job.box, view=job.view, context=self.context,
                           size_px=job.size_px)

    # ---- items and images -------------------------------------------------------------
    def _info(self, key: str) -> ItemInfo:
        info = self._infos.get(key)
        if info is None:
            info = ItemInfo.load(self.sampler.features, key)
            self._infos[key] = info
            while len(self._infos) > 64:
                self._infos.popitem(last=False)
        return info

    def _job(self, info: ItemInfo) -> Job:
        return Job(info.key, info.path, info.box, self.view, self._size_px)

    def _take_next(self) -> str | None:
        return self.sampler.next()  # the same key until it is answered

    def _advance(self, key: str | None) -> None:
        """Put `key` on screen: at once if its image is prepared, else when it is."""
        self.displayed = None
        self.current = self._info(key) if key is not None else None
        if self.current is None:
            self.side.info = None
            left = self.sampler.stats().get("left", 0)
            f = self.sampler.features
            done = int(f.done.sum())
            if left:
                self.side.status = (f"The {left} items left are on teammates' screens; the "
                                    f"next one freed shows here. Backspace undoes, Q quits.")
            elif not f.complete and done < f.n:
                self.side.status = (f"Waiting for featurize: {done} of {f.n} items featurized "
                                    f"so far, all answered; the next ones show here as they "
                                    f"land. Q quits.")
            else:
                self.side.status = "Every item has an answer. Backspace undoes, Q quits."
            self._want()
            return
        if self._show_if_ready():
            # the next images are prepared (kitty: uploaded) after this frame, not queued ahead of it
            self.call_after_refresh(self._want)
        else:
            self._want()  # the item on screen first, then the next picks
            self._show_if_ready()

    def _want(self) -> None:
        """Tell the worker what to prepare: the item on screen, then the next picks."""
        if not self._started or min(self._size_px) <= 0:
            return
        infos = [self.current] if self.current is not None else []
        self._peeked = list(self.sampler.peek(self.lookahead))
        for key in self._peeked:
            if self.current is None or key != self.current.key:
                infos.append(self._info(key))
        for token in self.prefetcher.want([self._job(i) for i in infos]):
            self._drop(token)

    def _drop(self, token: str) -> None:
        if token == self._shown_token:
            self._stale.add(token)
        else:
            self.pane.discard(token)
            self._errors.pop(token, None)

    def _show_if_ready(self) -> bool:
        """Show the current item if its image is prepared (or failed); True if it is on its way."""
        if self.current is None or min(self._size_px) <= 0:
            return False
        token = self._job(self.current).token
        if token == self._shown_token:  # already on screen (undo back to it)
            self.side.info = self.current
            if self.displayed != self.current.key:
                self.call_after_refresh(self._mark_displayed, self.current.key, token, 0)
            return True
        if not self.prefetcher.is_ready(token):
            if self.displayed is None:
                self.side.status = "loading…"
            return False
        try:
            self.pane.show(token)
        except Exception as exc:  # an encoder failure must not take the app down
            self._errors[token] = (f"cannot show this image ({type(exc).__name__}: {exc}); "
                                   f"S skips it")
            self.side.info, self.side.status = self.current, self._errors[token]
            key = self.current.key
            # what is on screen is the message about this item: S (or any answer) may follow
            self.call_after_refresh(lambda: setattr(self, "displayed", key)
                                    if self.current is not None and self.current.key == key
                                    else None)
            return True
        old, self._shown_token = self._shown_token, token
        if old in self._stale:
            self._stale.discard(old)
            self.pane.discard(old)
        self.side.info = self.current
        self.side.status = self._errors.get(token, "")
        self._update_proba()
        if self.displayed != self.current.key:
            self.call_after_refresh(self._mark_displayed, self.current.key, token, 0)
        return True

    def _mark_displayed(self, key: str, token: str, tries: int) -> None:
        """After a refresh: the frame with `key` is painted, so keys may answer it."""
        if self.current is None or self.current.key != key or self._shown_token != token:
            return
        painted = self.side.painted_key == key and self.pane.painted == token
        if not painted:  # not in this frame yet: look again after the next one
            if key not in (self.side.painted_key, self.side.drawn_key):
                self.side.refresh()  # repaint only what is missing (the pane is ~22 KB)
            if self.pane.painted != token:
                self.pane.refresh()
            if tries < 20:
                self.call_after_refresh(self._mark_displayed, key, token, tries + 1)
            else:  # a pane with no room to paint: look now and then, never assume
                self.set_timer(0.1, lambda: self._mark_displayed(key, token, tries + 1))
            return
        self.displayed = key

    @on(ImageReady)
    def _image_ready(self, message: ImageReady) -> None:
        token = message.job.token
        if message.error:
            self._errors[token] = f"cannot show this image ({message.error}); S skips it"
        if not self.prefetcher.is_wanted(token):
            self.prefetcher.forget(token)
            self._drop(token)
            return
        # only the item waiting to be shown: a next image made ready repaints nothing
        if self.current is not None and token == self._job(self.current).token != self._shown_token:
            self._show_if_ready()

    @on(ImagePane.Resized)
    def _resized(self, message) -> None:
        size = tuple(self.pane.pixel_size())
        if size == self._size_px or not self._started:
            return
        self._size_px = size
        self._shown_token = None  # the pane forgot every prepared image
        self.prefetcher.reset()
        self._stale.clear()
        self._want()
        self._show_if_ready()

    def watch_view(self, view: str) -> None:
        if self.is_mounted:
            self.side.view = view

    # ---- actions ----------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action in WORK_ACTIONS and len(self.screen_stack) > 1:
            return False
        if self.review is not None and not self.review.allows(action):
            return False
        return True

    def action_answer(self, kind: str) -> None:
        if self.review is not None and self.review.answer(kind):
            return  # a second look (tui.app.review) took the key
        key = self.displayed
        if key is None:
            self.dropped_keys += 1
            return
        try:
            self.sampler.record(key, ANSWERS[kind])  # durable when it returns
        except Exception as exc:  # a full disk: keep the item, say so, lose nothing
            self.side.status = f"not saved: {exc}"
            return
        self.pace.answered()
        self.side.note = ""
        self._refresh_stats()
        self._advance(self._take_next())

    def action_undo(self) -> None:
        try:
            key = self.sampler.undo()
        except Exception as exc:  # a full disk: nothing changed, say so
            self.side.status = f"not undone: {exc}"
            return
        if key is None:
            self.side.note = ("nothing of this session to undo (answers of an earlier run "
                              "can be undone by starting with its --session NAME)")
            return
        self.pace.undone()
        self.side.note = ""
        self._refresh_stats()  # the sampler puts the item on screen back in front
        if key not in self.sampler.features:  # an answer made with another features file
            self.side.status = "undid an answer for an item this features file lacks"
            return
        self._advance(key)

    def action_toggle_proba(self) -> None:
        self.side.show_proba = not self.side.show_proba
        self._update_proba()

    def action_toggle_view(self) -> None:
        self.view = "whole" if self.view == "crop" else "crop"
        self._want()
        self._show_if_ready()

    def action_next_strategy(self) -> None:
        current = self.sampler.strategy
        i = STRATEGIES.index(current) if current in STRATEGIES else -1
        self.sampler.set_strategy(STRATEGIES[(i + 1) % len(STRATEGIES)])
        self._refresh_stats()
        self._want()

    def action_more_like(self) -> None:
        if self.displayed is None:
            return
        self.sampler.more_like(self.displayed)
        self.side.note = more_like_note(self.sampler.strategy)
        self._want()

    def action_words(self) -> None:
        ask_words(self)  # tui/app/queries.py: the box, the text tower in a worker

    def action_export(self) -> None:
        from tui.app.export_dialog import ExportDialog  # imported on use: start-up stays fast

        if len(self.screen_stack) == 1:
            self.push_screen(ExportDialog(self.sampler))

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.question))

    # ---- second looks (issue 15): H's history, R's review; the rest in tui/app/review.py
    def action_history(self) -> None:
        from tui.app.review import open_history  # imported on use: start-up stays fast

        open_history(self)

    def action_review(self) -> None:
        from tui.app.review import Review

        Review.disagreements(self)

    def action_leave_review(self) -> None:
        if self.review is not None:
            self.review.leave()

    def show_key(self, key: str | None) -> None:
        """Put this item on screen now; None: the sampler's pick (which waited meanwhile)."""
        self._advance(key if key is not None else self._take_next())
