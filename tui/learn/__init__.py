"""Active learning: the sampler (which item next), the classifier and its background
refit, the strategies and the ranking, the quality estimates. Plain classes, no
Textual, no PIL; imports only `tui.store`."""
