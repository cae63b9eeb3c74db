"""The delivery worker: claim due outbox rows, send them in parallel, record the outcome.

Settings are read on every pass so ``canary config set`` takes effect without a restart.
"""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlite_utils

from canary.alert import outbox
from canary.alert.destinations import Destination, list_destinations
from canary.alert.pinned import PinnedHTTP
from canary.alert.ratelimit import RateLimiter
from canary.alert.readable import readable_error
from canary.alert.senders import DeliveryError, send
from canary.alert.ssrf import Resolver, TargetPolicy, system_resolver
from canary.errors import CanaryError
from canary.settings import get_float, get_int
from canary.store.events import record_event

log = logging.getLogger("canary.alert.delivery")
PRUNE_EVERY_SECONDS = 600.0


@dataclass(frozen=True)
class DeliveryConfig:
    lease: float
    retry_base: float
    retry_max: float
    warning_after: float
    rate_per_minute: int
    timeout: float
    threads: int
    keep_days: int

    @classmethod
    def load(cls, db: sqlite_utils.Database) -> DeliveryConfig:
        return cls(
            lease=get_float(db, "alert.lease_seconds"),
            retry_base=get_float(db, "alert.retry_base_seconds"),
            retry_max=get_float(db, "alert.retry_max_seconds"),
            warning_after=get_float(db, "alert.destination_warning_seconds"),
            rate_per_minute=get_int(db, "alert.rate_per_minute"),
            timeout=get_float(db, "alert.delivery_timeout_seconds"),
            threads=max(1, get_int(db, "alert.delivery_threads")),
            keep_days=max(1, get_int(db, "alert.outbox_keep_days")),
        )


class DeliveryWorker:
    """One worker per process; several may share a registry (leases keep them apart)."""

    def __init__(self, db: sqlite_utils.Database, *, resolver: Resolver = system_resolver) -> None:
        self.db = db
        self.resolver = resolver  # a parameter so tests can answer for names they control
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.limiter = RateLimiter()
        self._local = threading.local()
        self._clients: list[PinnedHTTP] = []
        self._clients_lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._pool_size = 0
        self._next_prune = 0.0
        # Accepted by their destination, but the registry refused the "delivered" mark (locked past its
        # busy timeout): the mark is retried before anything is claimed again, the send never is.
        self._unmarked: list[outbox.Message] = []
        # A predecessor on this host killed mid-delivery: its claimed rows go out now, not after its lease.
        reclaimed = outbox.reclaim_dead_leases(db, socket.gethostname(), os.getpid())
        if reclaimed:
            log.warning("reclaimed %d message(s) leased by a delivery worker of this host that is gone; "
                        "they are sent again now, with their idempotency keys", reclaimed)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        with self._clients_lock:
            for client in self._clients:
                client.close()
            self._clients.clear()

    def run_once(self) -> int:
        """One pass: deliver what is due; return how many messages were attempted."""
        try:  # read before claiming anything: a worker that cannot run must not hold messages in a lease
            config = DeliveryConfig.load(self.db)
            policy = TargetPolicy.from_settings(self.db)
        except CanaryError as exc:
            blocked = f"delivery worker cannot run: {exc}"
            if outbox.mark_blocked(self.db, blocked):
                log.error("%s", blocked)
            return 0
        outbox.mark_unblocked(self.db)
        if not self._mark_pending():
            return 0
        messages = outbox.claim(self.db, self.owner, limit=config.threads * 4, lease_seconds=config.lease)
        attempted = 0
        if messages:
            attempted = self._deliver(messages, config, policy)
        self._warn_failing(config)
        if time.monotonic() >= self._next_prune:
            outbox.prune_delivered(self.db, config.keep_days)
            self._next_prune = time.monotonic() + PRUNE_EVERY_SECONDS
        return attempted

    def _deliver(self, messages: list[outbox.Message], config: DeliveryConfig, policy: TargetPolicy) -> int:
        destinations = {d.id: d for d in list_destinations(self.db)}
        batch: list[tuple[outbox.Message, Destination]] = []
        for message in messages:
            destination = destinations.get(message.destination_id)
            if destination is None:
                continue  # removed meanwhile; its rows went with it
            wait = self.limiter.reserve(destination.id, config.rate_per_minute)
            if wait > 0:
                outbox.postpone(self.db, message, time.time() + wait)
                continue
            batch.append((message, destination))
        pool = self._executor(config.threads)
        futures: dict[Future[str | None], tuple[outbox.Message, Destination]] = {
            pool.submit(self._attempt, message, destination, policy, config.timeout): (message, destination)
            for message, destination in batch}
        # Each message is marked as soon as its destination answered, not after the whole claim: a
        # worker killed now resends only what was on the wire.
        for future in as_completed(futures):
            message, destination = futures[future]
            error = future.result()
            what = "notice" if message.kind != "page" else "page"
            if error is None:
                self._unmarked.append(message)
                self._mark_pending()
                log.info("alert #%s %s (version %s) delivered to destination %s (%s)", message.alert_id, what,
                         message.version, destination.id, destination.shown_url)
            else:
                log.warning("alert #%s %s delivery to destination %s (%s) failed (attempt %s): %s",
                            message.alert_id, what, destination.id, destination.shown_url, message.attempts, error)
                try:
                    outbox.mark_failed(self.db, message, error, base=config.retry_base, maximum=config.retry_max)
                except sqlite3.OperationalError as exc:  # locked: the lease runs out, the row is retried
                    log.warning("could not record a failed delivery (%s); it is retried", exc)
        return len(batch)

    def _mark_pending(self) -> bool:
        """Record the messages accepted but not yet marked; False while the registry refuses."""
        while self._unmarked:
            message = self._unmarked[0]
            try:
                outbox.mark_delivered(self.db, message)
            except sqlite3.OperationalError as exc:
                log.warning("%d delivered message(s) not yet marked (%s); the mark is retried, the message "
                            "is not sent again", len(self._unmarked), exc)
                return False
            self._unmarked.pop(0)
        return True

    def _executor(self, size: int) -> ThreadPoolExecutor:
        if self._pool is None or self._pool_size != size:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
            self._pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="canary-delivery")
            self._pool_size = size
        return self._pool

    def _attempt(self, message: outbox.Message, destination: Destination, policy: TargetPolicy,
                 timeout: float) -> str | None:
        http = getattr(self._local, "http", None)
        if http is None:
            http = self._local.http = PinnedHTTP()  # keep-alive per sending thread
            with self._clients_lock:
                self._clients.append(http)
        try:
            send(destination, message.payload, policy=policy, timeout=timeout, http=http, resolver=self.resolver)
        except DeliveryError as exc:
            return readable_error(str(exc)) or type(exc).__name__
        except Exception as exc:  # a broken plugin must not stop the worker; the row is retried
            log.exception("unexpected error delivering to destination %s", destination.id)
            return readable_error(f"{type(exc).__name__}: {exc}")
        return None

    def _warn_failing(self, config: DeliveryConfig) -> None:
        """A destination failing for long becomes an event of its own, hence an alert to the others."""
        for row in outbox.failing_destinations(self.db, time.time() - config.warning_after):
            since = datetime.fromtimestamp(row["failing_since"], UTC).isoformat(timespec="seconds")
            shown = Destination(row["id"], row["url"], row["kind"], "info").shown_url
            record_event(self.db, channel="notify", severity="high", source=shown, action="destination-failing",
                         details={"group": f"destination:{row['id']}", "destination_id": row["id"],
                                  "failing_since": since, "failures": row["failures"], "error": row["last_error"]},
                         dedup_key=f"notify-failing:{row['id']}:{row['failing_since']}")
            outbox.mark_warned(self.db, row["id"], row["failing_since"])
            log.error("destination %s (%s) failing since %s: %s", row["id"], shown, since, row["last_error"])
