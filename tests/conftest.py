"""Make the in-repo ``caelib`` importable when it is not installed (e.g. plain ``pytest`` from anywhere)."""

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[1])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
