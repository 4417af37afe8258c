"""The reliability tests reuse the helpers of the evaluation and training tests (tiny models, small configs)."""

from __future__ import annotations

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
for helpers in (TESTS / "evaluation", TESTS / "training"):
    if str(helpers) not in sys.path:
        sys.path.insert(0, str(helpers))
