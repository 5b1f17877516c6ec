"""Print results the same way in every example: the values, then one digest line."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def report(name: str, value: Any) -> None:
    """Print ``value`` as JSON and its sha256 (compare runs on different backends with it)."""
    text = json.dumps(value, sort_keys=True, default=str)
    print(f"{name}: {text[:300]}{'...' if len(text) > 300 else ''}")
    print(f"digest: {hashlib.sha256(text.encode()).hexdigest()}")
