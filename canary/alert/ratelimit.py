"""Per-destination token buckets: over the limit a message waits for its turn, it is never dropped."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class RateLimiter:
    buckets: dict[int, _Bucket] = field(default_factory=dict)

    def reserve(self, destination_id: int, per_minute: int, now: float | None = None) -> float:
        """Take one send for ``destination_id``; return 0 when allowed now, else seconds to wait."""
        if per_minute <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        capacity = max(1.0, per_minute / 6)  # a burst of ten seconds' worth
        refill = per_minute / 60.0
        bucket = self.buckets.setdefault(destination_id, _Bucket(capacity, now))
        bucket.tokens = min(capacity, bucket.tokens + (now - bucket.updated) * refill)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / refill
