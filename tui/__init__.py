"""tui: the annotate app, its sampler and its label store."""
