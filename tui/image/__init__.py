"""Item -> picture -> terminal bytes: render (crop, box, resize), the terminal image
protocols (kitty, sixel, half-cell), quantisation, terminal queries and the filter that
keeps their replies out of the key stream. Imports no other tui package."""
