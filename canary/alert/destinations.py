"""Notification destinations: one URL each, with routing by minimum severity and by system.

Kinds, chosen by the URL scheme:
- ``json://`` / ``jsons://host/path``: generic webhook (HTTP / HTTPS) receiving the alert object itself;
- ``hmac://`` / ``hmacs://host/path``: the same, signed with HMAC-SHA256 of the body (per-destination secret);
- ``syslog://host[:port]`` (UDP) / ``syslog+tcp://host[:port]``: CEF lines for a SIEM;
- ``jsonl:///path/file.jsonl``: one JSON object per line appended to a local file;
- anything else: an apprise URL (Slack, Teams, PagerDuty, Opsgenie, mailto, SMS gateways...).
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import sqlite_utils

from canary.alert import severity
from canary.alert.ssrf import Resolver, TargetPolicy, check_target, system_resolver
from canary.errors import CanaryError, NotFound
from canary.store.events import utcnow
from canary.store.registry import get_system
from canary.store.tx import write_transaction

# apprise services that open an incident per message: a state-change notice would page again
INCIDENT_SCHEMES = {"pagerduty", "opsgenie", "pagertree", "splunk", "victorops"}
NATIVE_SCHEMES = {"json": "webhook", "jsons": "webhook", "hmac": "signed-webhook", "hmacs": "signed-webhook",
                  "syslog": "syslog", "syslog+tcp": "syslog", "jsonl": "jsonl"}


@dataclass
class Destination:
    id: int
    url: str
    kind: str
    min_severity: str
    systems: list[str] = field(default_factory=list)
    secret: str | None = None

    def accepts(self, alert_severity: str, alert_systems: list[str]) -> bool:
        """Routing: severity at least the minimum, and (when systems are named) one of them involved."""
        if severity.rank(alert_severity) < severity.rank(self.min_severity):
            return False
        return not self.systems or bool(set(self.systems) & set(alert_systems))

    @property
    def takes_notices(self) -> bool:
        """Whether acknowledge/resolve notices are sent here (not to incident services)."""
        return self.kind != "apprise" or self.url.split("://", 1)[0].lower() not in INCIDENT_SCHEMES

    @property
    def shown_url(self) -> str:
        return mask_url(self.url, self.kind)


def _row_to_destination(row: dict[str, Any]) -> Destination:
    return Destination(id=row["id"], url=row["url"], kind=row["kind"], min_severity=row["min_severity"],
                       systems=json.loads(row["systems"] or "[]"), secret=row["secret"])


def kind_of(url: str) -> str:
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if not scheme:
        raise CanaryError(f"not a notification URL: {url!r} (expected scheme://...)")
    if scheme in ("http", "https"):
        native = ("json" if scheme == "http" else "jsons") + "://" + url.split("://", 1)[1]
        raise CanaryError(f"{scheme}:// names no kind of destination: for a webhook receiving the alert as JSON use "
                          f"{mask_url(native, 'webhook')} ({'hmacs' if scheme == 'https' else 'hmac'}:// to have it "
                          "signed)")
    return NATIVE_SCHEMES.get(scheme, "apprise")


def apprise_plugin(url: str) -> Any:
    import apprise  # imported here: loading every plugin is slow and only delivery needs it

    plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    if plugin is None:
        raise CanaryError(f"unsupported or malformed notification URL {mask_url(url, 'webhook')!r} "
                          "(see the apprise URL list)")
    return plugin


# apprise services whose connections are known: a fixed vendor endpoint, or a host (and port) the URL
# names, read from the plugin's host and SMTP fields. Any other plugin may carry its endpoint in a field
# of its own (nostr's ?relay=ws://..., a ?server=...): refused rather than guessed, since a field that
# holds a URL is not always one the plugin connects to (xml's xsd_url is a name, never fetched).
VETTED_APPRISE_SCHEMES = frozenset({
    "slack", "workflows", "msteams", "pagerduty", "opsgenie", "pagertree", "splunk", "victorops", "discord",
    "tgram", "pover", "mailto", "mailtos", "ntfy", "ntfys", "gotify", "gotifys", "matrix", "matrixs", "form",
    "forms", "xml", "xmls", "apprise", "apprises", "mmost", "mmosts", "rocket", "rockets"})


def _apprise_targets(url: str) -> list[tuple[str, int | None]]:
    scheme = url.split("://", 1)[0].lower()
    plugin = apprise_plugin(url)
    if scheme not in VETTED_APPRISE_SCHEMES:
        raise CanaryError(f"apprise scheme {scheme}:// is not one canary vets (where it connects may hide in "
                          f"any field of its URL); use one of {', '.join(sorted(VETTED_APPRISE_SCHEMES))}, "
                          "or a jsons:// or hmacs:// webhook")
    targets: list[tuple[str, int | None]] = []
    smtp_host = getattr(plugin, "smtp_host", None)
    if smtp_host:
        targets.append((str(smtp_host), getattr(plugin, "port", None)))
    elif "host" in getattr(plugin, "template_tokens", {}) and getattr(plugin, "host", None):
        targets.append((str(plugin.host), getattr(plugin, "port", None)))
    return targets


def _port(parts: Any) -> int | None:
    try:
        return parts.port
    except ValueError as exc:
        raise CanaryError(f"bad port in notification URL: {exc}") from exc


def network_targets(url: str, kind: str) -> list[tuple[str, int | None]]:
    """Every host (and port) this destination makes us connect to, when the URL chooses it; none for a
    fixed vendor endpoint (Slack, PagerDuty...) or a local file."""
    if kind == "jsonl":
        return []
    if kind == "apprise":
        return _apprise_targets(url)
    parts = urlsplit(url)
    return [(parts.hostname or "", _port(parts))]


def check_destination_url(db: sqlite_utils.Database, url: str, kind: str,
                          resolver: Resolver = system_resolver) -> None:
    """Refuse malformed URLs and SSRF targets (see canary.alert.ssrf)."""
    if kind == "jsonl":
        path = urlsplit(url).path
        if not path.startswith("/") or path.endswith("/"):
            raise CanaryError("jsonl:// needs an absolute file path, e.g. jsonl:///var/log/canary/alerts.jsonl")
        return
    if kind in ("webhook", "signed-webhook") and not urlsplit(url).hostname:
        raise CanaryError(f"notification URL {mask_url(url, kind)!r} has no host")
    policy = TargetPolicy.from_settings(db)
    for target in network_targets(url, kind):
        check_target(policy, *target, resolver=resolver)


def check_jsonl_folder(db: sqlite_utils.Database, url: str) -> None:
    """From the console or the API, a jsonl:// file only under ``alert.jsonl_folder`` (the host chose it):
    the service can write anywhere it may, and an admin token must not be enough to choose where."""
    from canary.settings import get_str

    if kind_of(url.strip()) != "jsonl":
        return
    folder = get_str(db, "alert.jsonl_folder")
    path = os.path.normpath(urlsplit(url.strip()).path)
    if not folder or os.path.commonpath([path, os.path.normpath(folder)]) != os.path.normpath(folder):
        raise CanaryError(f"jsonl:// files added from the console or the API must lie under alert.jsonl_folder "
                          f"({folder or 'unset'}); set it, or add this target with 'canary notify add' on the server")


def add_destination(db: sqlite_utils.Database, url: str, *, min_severity: str = "low",
                    systems: list[str] | None = None, resolver: Resolver = system_resolver) -> Destination:
    url = url.strip()
    kind = kind_of(url)
    severity.check(min_severity)
    systems = sorted(set(systems or []))
    for name in systems:
        get_system(db, name)
    check_destination_url(db, url, kind, resolver)
    secret = secrets.token_urlsafe(32) if kind == "signed-webhook" else None
    with write_transaction(db):
        cursor = db.execute(
            "INSERT INTO alert_destinations (url, kind, min_severity, systems, secret, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [url, kind, min_severity, json.dumps(systems), secret, utcnow()],
        )
    return get_destination(db, int(cursor.lastrowid or 0))


def get_destination(db: sqlite_utils.Database, destination_id: int) -> Destination:
    rows = list(db.query("SELECT * FROM alert_destinations WHERE id = ?", [destination_id]))
    if not rows:
        raise NotFound(f"unknown destination {destination_id}; see 'canary notify list'")
    return _row_to_destination(rows[0])


def list_destinations(db: sqlite_utils.Database) -> list[Destination]:
    return [_row_to_destination(row) for row in db.query("SELECT * FROM alert_destinations ORDER BY id")]


def destination_status(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """What ``notify list`` shows: masked URL, routing and delivery health."""
    rows = []
    for row in db.query(
        """SELECT d.*, (SELECT COUNT(*) FROM alert_outbox o WHERE o.destination_id = d.id
                        AND o.state = 'pending') AS pending
           FROM alert_destinations d ORDER BY d.id"""
    ):
        destination = _row_to_destination(row)
        rows.append({"id": destination.id, "url": destination.shown_url, "kind": destination.kind,
                     "min_severity": destination.min_severity, "systems": destination.systems,
                     "pending": row["pending"], "failures": row["failures"], "last_error": row["last_error"],
                     "last_success_at": row["last_success_at"]})
    return rows


def remove_destination(db: sqlite_utils.Database, destination_id: int) -> None:
    with write_transaction(db):
        get_destination(db, destination_id)
        db.execute("DELETE FROM alert_outbox WHERE destination_id = ?", [destination_id])
        db.execute("DELETE FROM alert_destinations WHERE id = ?", [destination_id])


def mask_url(url: str, kind: str) -> str:
    """The URL without credentials or tokens, for listings and logs."""
    if kind == "apprise":
        try:
            return str(apprise_plugin(url).url(privacy=True))
        except CanaryError:
            pass
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"
