"""Reading a child process's output without ever blocking the test on it."""

from __future__ import annotations

import queue
import threading
from typing import IO


def read_line(stream: IO[str], timeout: float = 30.0) -> str:
    """The next line of ``stream`` ("" at its end); AssertionError if none comes within ``timeout``."""
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(stream.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        raise AssertionError(f"no line within {timeout}s") from None
