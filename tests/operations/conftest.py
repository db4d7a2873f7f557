"""The monitoring tests reuse the helpers of the end-to-end and orchestration tests."""
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
for _path in (str(TESTS / "orchestration"), str(TESTS / "e2e"), str(TESTS)):
    if _path not in sys.path:
        sys.path.insert(0, _path)
