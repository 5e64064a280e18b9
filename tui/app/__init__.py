"""The Textual app: the screen, the image panes, the side panel, the help screen, the
export dialog, the picture prefetcher and the driver. Only `tui.cli` imports it."""
