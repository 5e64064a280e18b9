"""`python -m tui` is the `annotate` command."""

import sys

from tui.cli import main

sys.exit(main())
