"""One source of "now", so tests can move time instead of sleeping."""

from __future__ import annotations

import time
from datetime import UTC, datetime

_offset_seconds = 0.0


def now() -> float:
    """Return the current Unix time in seconds, shifted by the test offset."""
    return time.time() + _offset_seconds


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.fromtimestamp(now(), UTC)


def advance(seconds: float) -> None:
    """Move the clock forward (tests only)."""
    global _offset_seconds
    _offset_seconds += seconds


def reset() -> None:
    """Put the clock back to real time (tests only)."""
    global _offset_seconds
    _offset_seconds = 0.0
