"""The log of the long-running commands (``serve``, ``sweep --daemon``, ``notify run``).

At INFO it says what an operator acts on: a hit recorded, an alert opened or updated, an upload and its
result, a delivery and where it went. The scheduler's own lines (job added, run, executed), written
every few seconds, are demoted to DEBUG: they are there with ``--log-level debug``, not in the way.
"""

from __future__ import annotations

import logging

LEVELS = ("debug", "info", "warning")
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Loggers whose INFO lines are chatter about the machinery, not about the watched systems.
CHATTY = ("apscheduler",)


class DemoteChatter(logging.Filter):
    """Relabels the chatty loggers' INFO records as DEBUG, then lets them through only at DEBUG."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.INFO and record.name.split(".")[0] in CHATTY:
            record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
            return self.level <= logging.DEBUG
        return True


def configure(level_name: str = "info") -> None:
    """Log to standard error at ``level_name`` (one of LEVELS), the scheduler's chatter at DEBUG."""
    level = logging.getLevelName(level_name.upper())
    logging.basicConfig(level=level, format=FORMAT)
    root = logging.getLogger()
    root.setLevel(level)
    for handler in root.handlers:
        if not any(isinstance(f, DemoteChatter) for f in handler.filters):
            handler.addFilter(DemoteChatter(level))
