"""Prometheus metrics computed from the registry at scrape time (no counter kept in the process).

Counts of rows that retention prunes (events, findings) are gauges; totals that only grow are
counters: events ever recorded (the AUTOINCREMENT sequence survives pruning), sweep bytes, files and
skipped items, access-log lines per source. Listener errors, known only to the serving process, come
from :class:`ErrorCounter`, which ``serve`` owns.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from canary.store import open_db


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


class RegistryCollector:
    """What the registry holds, queried once per scrape on a connection of its own."""

    def __init__(self, db_path: str) -> None:
        self.db_path = db_path

    def collect(self) -> Iterator[Metric]:
        db = open_db(self.db_path, migrate_schema=False)
        try:
            yield from self._collect(db.conn)
        finally:
            db.close()

    def _collect(self, conn: sqlite3.Connection) -> Iterator[Metric]:
        canaries = GaugeMetricFamily("canary_canaries", "Canaries in the registry by status.", labels=["status"])
        for status, count in conn.execute("SELECT status, COUNT(*) FROM canaries GROUP BY status"):
            canaries.add_metric([status], count)
        yield canaries

        events = GaugeMetricFamily("canary_events", "Events held in the registry (retention prunes old ones), "
                                   "by channel and severity.", labels=["channel", "severity"])
        for channel, severity, count in conn.execute(
                "SELECT channel, severity, COUNT(*) FROM events GROUP BY channel, severity ORDER BY 1, 2"):
            events.add_metric([channel, severity], count)
        yield events
        row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
        yield CounterMetricFamily("canary_events_recorded", "Events ever recorded (pruned ones included).",
                                  value=row[0] if row else 0)

        alerts = GaugeMetricFamily("canary_alerts", "Alerts by state and severity.", labels=["state", "severity"])
        for state, severity, count in conn.execute(
                "SELECT state, severity, COUNT(*) FROM alerts GROUP BY state, severity ORDER BY 1, 2"):
            alerts.add_metric([state, severity], count)
        yield alerts

        yield from self._outbox(conn)
        yield from self._sweeps(conn)
        yield from self._access_logs(conn)

    def _outbox(self, conn: sqlite3.Connection) -> Iterator[Metric]:
        pending, failing, oldest = conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(last_error IS NOT NULL), 0), MIN(created_at) FROM alert_outbox "
            "WHERE state = 'pending'").fetchone()
        messages = GaugeMetricFamily("canary_outbox_messages", "Alert messages waiting for delivery: pending "
                                     "(all) and failed (pending whose last attempt failed).", labels=["state"])
        messages.add_metric(["pending"], pending)
        messages.add_metric(["failed"], failing)
        yield messages
        age = max(0.0, time.time() - _epoch(oldest)) if oldest else 0.0
        yield GaugeMetricFamily("canary_outbox_oldest_pending_age_seconds",
                                "Age of the oldest undelivered alert message (0: none).", value=age)

    def _sweeps(self, conn: sqlite3.Connection) -> Iterator[Metric]:
        files, size, skipped = conn.execute(
            "SELECT COALESCE(SUM(files), 0), COALESCE(SUM(bytes), 0), "
            "COALESCE(SUM(json_array_length(skipped)), 0) FROM sweeps").fetchone()
        yield CounterMetricFamily("canary_sweep_bytes", "Bytes read by leak sweeps.", value=size)
        yield CounterMetricFamily("canary_sweep_files", "Files read by leak sweeps.", value=files)
        yield CounterMetricFamily("canary_sweep_skipped", "Files, archive members or sheets a sweep could not "
                                  "read (listed with their reason in the sweep).", value=skipped)
        findings = conn.execute("SELECT COUNT(*) FROM sweep_findings").fetchone()[0]
        yield GaugeMetricFamily("canary_sweep_findings", "Canary findings of leak sweeps held in the registry.",
                                value=findings)
        runs = GaugeMetricFamily("canary_sweeps", "Leak sweeps by status.", labels=["status"])
        for status, count in conn.execute("SELECT status, COUNT(*) FROM sweeps GROUP BY status ORDER BY 1"):
            runs.add_metric([status], count)
        yield runs

    def _access_logs(self, conn: sqlite3.Connection) -> Iterator[Metric]:
        # Per source only: which system a source watches is the operator's business, not the scraper's.
        families = {column: CounterMetricFamily(f"canary_accesslog_{column}", text, labels=["source"])
                    for column, text in (
                        ("bytes_received", "Bytes that reached a source's reader (socket or file), per source."),
                        ("lines_received", "Messages or lines that reached a source's reader before parsing "
                                           "(dropped ones included), per source."),
                        ("lines", "Audit-trail lines read, per source."),
                        ("malformed", "Audit-trail lines that could not be parsed, per source."),
                        ("matched", "Audit-trail lines naming a canary, per source."))}
        failing = GaugeMetricFamily("canary_accesslog_source_failing",
                                    "1 while a source's last attempt failed (see 'canary logs list').",
                                    labels=["source"])
        columns = ("bytes_received", "lines_received", "lines", "malformed", "matched")
        for row in conn.execute(
                f"SELECT name, {', '.join(columns)}, last_error FROM accesslog_sources ORDER BY name"):
            for column, value in zip(columns, row[1:-1], strict=True):
                families[column].add_metric([row[0]], value)
            failing.add_metric([row[0]], 1 if row[-1] else 0)
        yield from families.values()
        yield failing


class ErrorCounter(logging.Handler):
    """Counts ERROR records of the listeners' loggers while serve runs; read by :meth:`collect`."""

    LOGGERS = ("canary.tripwire", "canary.accesslog")

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self._counts: Counter[str] = Counter()
        self._lock_counts = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        # canary.tripwire.smtp -> tripwire.smtp; canary.accesslog -> accesslog
        listener = ".".join(record.name.split(".")[1:3])
        with self._lock_counts:
            self._counts[listener] += 1

    def attach(self) -> None:
        for name in self.LOGGERS:
            logging.getLogger(name).addHandler(self)

    def detach(self) -> None:
        for name in self.LOGGERS:
            logging.getLogger(name).removeHandler(self)

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily("canary_listener_errors", "Errors logged by the listeners and log "
                                     "watchers of this serve process since it started.", labels=["listener"])
        with self._lock_counts:
            counts: dict[str, Any] = dict(self._counts)
        for listener in ("tripwire", "accesslog"):
            counts.setdefault(listener, 0)
        for listener, count in sorted(counts.items()):
            family.add_metric([listener], count)
        yield family


class ListenerCollector:
    """``canary_listener_up``: 1 per started listener that is bound and serving, else 0; and, for the
    listeners that cap their connections (``connection_tally() -> {"refused", "accept_errors"}``), the
    connections closed over the caps and the failed accepts (out of descriptors) since serve started."""

    def __init__(self, listeners: list[Any]) -> None:
        self.listeners = listeners

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily("canary_listener_up", "1 while the listener is bound and serving.",
                                   labels=["listener"])
        refused = CounterMetricFamily("canary_listener_connections_refused", "Connections a listener closed "
                                      "over its caps (per address, in all) since serve started.",
                                      labels=["listener"])
        failed = CounterMetricFamily("canary_listener_accept_errors", "Connections a listener failed to "
                                     "accept (e.g. out of descriptors, Errno 24) since serve started.",
                                     labels=["listener"])
        for listener in self.listeners:
            family.add_metric([listener.name], 1 if listener.ready() is None else 0)
            tally = getattr(listener, "connection_tally", None)
            if callable(tally):
                counts = tally()
                refused.add_metric([listener.name], counts["refused"])
                failed.add_metric([listener.name], counts["accept_errors"])
        yield family
        yield refused
        yield failed
