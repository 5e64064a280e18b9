"""``python -m featurize`` (and ``torchrun -m featurize``): the featurize command."""

import sys

from featurize.cli import main

if __name__ == "__main__":
    sys.exit(main())
