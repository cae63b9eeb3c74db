"""What a planting or a retiring run did, target by target: the lifecycle and the channels fill these in."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class PlantReport:
    system: str
    channel: str
    target: str
    planted: list[str] = field(default_factory=list)
    already: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    stopped: str | None = None
    warnings: list[str] = field(default_factory=list)
    forgotten: int = 0  # rows dropped: the target never took a canary (nothing to resume there)
    scheduled: int = 0  # canaries left to a trickle that brings them to this target later (plant --over)

    @property
    def ok(self) -> bool:
        return not self.failed and self.stopped is None

    def as_dict(self) -> dict[str, Any]:
        return {"system": self.system, "channel": self.channel, "target": self.target,
                "planted": self.planted, "already": self.already,
                "failed": [{"canary_id": c, "error": e} for c, e in self.failed], "stopped": self.stopped,
                "warnings": self.warnings, "forgotten": self.forgotten,
                "scheduled": self.scheduled}


@dataclass
class RetireReport:
    retired: list[int] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """``canary retire --json`` and the API's retire answers."""
        return {"retired": self.retired, "failed": [{"planting_id": p, "error": e} for p, e in self.failed],
                "warnings": self.warnings}
