"""The export dialog (E in the app): choose a format and a path, export, see where it went.

A modal screen, so labelling keys do not reach the app while it is open. The export
runs in a worker thread (`tui.export.dispatch.run_export`, which opens its own handles on the
features and labels files), so the app keeps drawing; the model is the sampler's
current one, so the scores and predicted boxes are those the person has been seeing
(refit from the labels when the sampler has none yet). COCO keeps the command's default:
only images whose every box is judged (or predicted, with the box ticked), and the
result says how many were left out. The dialog stays open after an export and names
the files written; Escape (or Q outside the path box) closes it.
"""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Select, Static

from tui.export.dispatch import FORMATS, ExportResult, default_output


def sampler_model(sampler):
    """The sampler's current model (a LinearModel) or None (a sampler without one)."""
    from tui.learn.trainer import LinearModel

    m = getattr(sampler, "model", None)
    return m if isinstance(m, LinearModel) else None


class ExportDialog(ModalScreen[ExportResult | None]):
    """Format, path, Export; the result line says what was written where."""

    DEFAULT_CSS = """
    ExportDialog { align: center middle; }
    #export-box { width: 80; max-width: 95%; height: auto; border: round $primary;
                  background: $surface; padding: 0 1; }
    #export-title { text-style: bold; margin-bottom: 1; }
    #export-box Select { width: 100%; }
    #export-box Input { width: 100%; }
    #export-buttons { height: auto; margin-top: 1; }
    #export-buttons Button { margin-right: 2; }
    #export-result { height: auto; margin-top: 1; }
    #export-result.error { color: $text-error; }
    """
    # Escape or Q closes (Q typed into the path box is a letter: the Input takes it first).
    BINDINGS = [Binding("escape", "close", "Close"), Binding("q", "close", "Close", show=False)]

    def __init__(self, sampler, fmt: str = "csv") -> None:
        super().__init__()
        self.sampler = sampler
        self.features_path = sampler.features.filename
        self.fmt = fmt
        self.result: ExportResult | None = None
        self.error: str | None = None
        self.running = False

    def compose(self) -> ComposeResult:
        with Vertical(id="export-box"):
            yield Static("Export", id="export-title")
            yield Select([(f"{k}: {v}", k) for k, v in FORMATS.items()], value=self.fmt,
                         allow_blank=False, id="export-format")
            yield Input(str(default_output(self.features_path, self.fmt)), id="export-path")
            yield Checkbox("coco: include the boxes the model accepts (threshold auto)",
                           id="export-predicted")
            with Horizontal(id="export-buttons"):
                yield Button("Export", variant="primary", id="export-go")
                yield Button("Close", id="export-close")
            yield Static("", id="export-result")

    @on(Select.Changed, "#export-format")
    def _format_changed(self, event: Select.Changed) -> None:
        old_default = str(default_output(self.features_path, self.fmt))
        self.fmt = str(event.value)
        path = self.query_one("#export-path", Input)
        if path.value in ("", old_default):  # follow the format unless the person typed a path
            path.value = str(default_output(self.features_path, self.fmt))

    @on(Button.Pressed, "#export-go")
    @on(Input.Submitted, "#export-path")
    def _go(self) -> None:
        if self.running:
            return
        path = self.query_one("#export-path", Input).value.strip()
        if not path:
            self._show("choose a path to write to", error=True)
            return
        self.running = True
        self.query_one("#export-go", Button).disabled = True
        self._show(f"exporting {self.fmt} to {path} ...")
        self._export(self.fmt, path, self.query_one("#export-predicted", Checkbox).value)

    @on(Button.Pressed, "#export-close")
    def action_close(self) -> None:
        self.dismiss(self.result)

    @work(thread=True, exclusive=True)
    def _export(self, fmt: str, path: str, predicted: bool) -> None:
        from tui.export.dispatch import run_export
        from tui.export.cli import user_errors

        try:
            res = run_export(fmt, self.features_path, path, labels=self.sampler.labels_path,
                             model=sampler_model(self.sampler),
                             include_predicted=predicted and fmt == "coco")
        except user_errors() as exc:
            self.app.call_from_thread(self._done, None, str(exc))
        except OSError as exc:
            self.app.call_from_thread(self._done, None, f"{path}: cannot be written ({exc})")
        else:
            self.app.call_from_thread(self._done, res, None)

    def _done(self, res: ExportResult | None, error: str | None) -> None:
        self.running = False
        if not self.is_attached:  # closed while the export ran: it finished all the same
            return
        self.query_one("#export-go", Button).disabled = False
        self.result, self.error = res or self.result, error
        if error is not None:
            self._show(error, error=True)
        else:
            self._show("\n".join([res.message, *res.notes, *res.warnings]))

    def _show(self, text: str, error: bool = False) -> None:
        from rich.text import Text

        box = self.query_one("#export-result", Static)
        box.set_class(error, "error")
        box.update(Text(text))
