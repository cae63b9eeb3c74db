"""A log line at most once a minute for a repeated event (a refused or failed connection), with how
many happened meanwhile: a flood of connections must not become a flood of log lines."""

from __future__ import annotations

import logging
import threading
import time


class OncePerMinute:
    """``note(detail)`` logs the first event at once, then at most one line per ``every`` seconds
    saying how many events came since the last line (the latest detail shown)."""

    def __init__(self, logger: logging.Logger, what: str, *, level: int = logging.WARNING,
                 every: float = 60.0) -> None:
        self.logger = logger
        self.what = what
        self.level = level
        self.every = every
        self._lock = threading.Lock()
        self._count = 0
        self._last = float("-inf")

    def note(self, detail: str) -> None:
        with self._lock:
            self._count += 1
            now = time.monotonic()
            if now - self._last < self.every:
                return
            count, self._count, self._last = self._count, 0, now
        self.logger.log(self.level, "%s: %d in the last %.0f s (latest: %s)", self.what, count,
                        self.every if count > 1 else 0, detail)
