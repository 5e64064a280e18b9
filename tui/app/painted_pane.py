"""The image pane, remembering which image its latest frame drew.

The app lets a key answer an item only once the item's frame has been painted;
`ImagePane.show()` only asks for a repaint, so this subclass records the token
that `render_lines` (called while a frame is composed) actually drew.
"""

from __future__ import annotations

from textual.geometry import Region
from textual.strip import Strip

from tui.app.image_pane import ImagePane


class PaintedImagePane(ImagePane):
    """`ImagePane` plus `painted`: the token drawn by the latest composed frame."""

    painted: str | None = None

    def render_lines(self, crop: Region) -> list[Strip]:
        lines = super().render_lines(crop)
        self.painted = self.current
        return lines
