"""The bench scripts import each other as top-level modules (``from yclient import ...``)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
