"""``python -m caelib`` (and the ``caelib`` console script): see ``caelib.cli``."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
