"""The repository root on ``sys.path`` for a benchmark run as ``python3 bench/NAME.py``.

Python puts the script's own directory (``bench/``) first on the path, not
the repository's root; every benchmark imports ``kybernetes`` (and some
``tests`` helpers) from the checkout it lives in, so each one starts with
``from _root import ROOT`` (or ``import _root``) before those imports.
"""

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
