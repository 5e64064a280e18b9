"""The features file's format names, defined once for its writer and its readers.

`featurize.store` writes `features.h5`; `tui.store.features` reads it. Both need
the same format name, version, status codes and datasets, and two copies kept equal
only by a test had already begun to drift (issue 14). This module imports nothing,
and `featurize/__init__.py` imports nothing either, so tui can take these names
without pulling in torch or any other part of featurize (DESIGN.md: tui reads the
file, never featurize's internals; tests/test_layout.py checks that this is the only
featurize module tui imports).
"""

#: The `format` attribute of every features file.
FORMAT = "binlabel.features"
#: The `format_version` attribute; a reader refuses a newer one.
FORMAT_VERSION = 1
#: Values of the per-row `status` dataset (int8).
PENDING, DONE, FAILED = 0, 1, 2
#: Every dataset of the file, in the order they are described (README, "features.h5").
DATASETS = ("features", "status", "error", "items/key", "items/path", "items/box", "items/meta",
            "items/image_size")
#: Datasets a reader can do without (files written before they existed).
OPTIONAL_DATASETS = ("error",)
