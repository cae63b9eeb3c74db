"""The one way a test waits for something another thread or process does: poll, never a fixed sleep."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.02,
             message: str | Callable[[], str] | None = None) -> T:
    """Poll ``predicate`` until it gives a true value and return that value; AssertionError after ``timeout``
    saying ``message`` (a callable is asked then, to tell what was last seen)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            said = message() if callable(message) else message
            raise AssertionError(said or f"condition not met within {timeout}s")
        time.sleep(interval)
