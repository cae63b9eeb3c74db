"""``canary doctor``: what a new deployment gets wrong, one line per finding.

``CHECKS`` is the list of checks, in the order they print; each takes a :class:`DoctorContext` and
returns one or more :class:`CheckResult` (one per mail domain, say). A check that raises is reported as
failing with its error, and the others still run. Network checks go only where the settings point:
the DNS resolver (``doctor.resolver``, else the system's), the callback base URL, the notification
destinations.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import socket
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import dns.exception
import dns.resolver
import requests
import sqlite_utils

from canary.errors import CanaryError
from canary.settings import get_float, get_list, get_str
from canary.store.restores import last_restore, restore_notice

OK, FAIL, SKIP = "ok", "fail", "skip"


@dataclass(frozen=True)
class CheckResult:
    check: str
    status: str  # ok | fail | skip
    detail: str

    def line(self) -> str:
        return f"{self.status.upper() if self.status == FAIL else self.status:<4}  {self.check}: {self.detail}"

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass
class DoctorContext:
    db: sqlite_utils.Database
    send_test: bool = False  # page every destination with a [TEST] alert (only when asked: it wakes people)
    timeout: float = field(init=False)

    def __post_init__(self) -> None:
        self.timeout = get_float(self.db, "doctor.timeout")

    @cached_property
    def resolver(self) -> dns.resolver.Resolver:
        configured = get_str(self.db, "doctor.resolver").strip()
        if not configured:
            resolver = dns.resolver.Resolver()  # /etc/resolv.conf, as every program on the host
        else:
            host, port = _host_port(configured)
            try:
                host = str(ipaddress.ip_address(host))
            except ValueError as exc:
                raise CanaryError(f"doctor.resolver {configured!r}: expected an IP address, optionally with "
                                  ":port") from exc
            resolver = dns.resolver.Resolver(configure=False)
            resolver.nameservers = [host]
            resolver.port = port
        resolver.lifetime = self.timeout
        return resolver

    @cached_property
    def host_addresses(self) -> set[str]:
        """This host's public addresses: setting doctor.host_addresses, else what its own name resolves to."""
        configured = get_list(self.db, "doctor.host_addresses")
        if configured:
            try:
                return {str(ipaddress.ip_address(a.strip())) for a in configured}
            except ValueError as exc:
                raise CanaryError(f"doctor.host_addresses: {exc}") from exc
        found: set[str] = set()
        for name in {socket.gethostname(), socket.getfqdn()}:
            try:
                found |= {str(info[4][0]) for info in socket.getaddrinfo(name, None)}
            except OSError:
                continue
        return found

    def addresses(self, name: str) -> list[str]:
        out: list[str] = []
        for rdtype in ("A", "AAAA"):
            try:
                out.extend(r.to_text() for r in self.resolver.resolve(name, rdtype))
            except (dns.resolver.NoAnswer, dns.resolver.NXDOMAIN):
                continue
        return out


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if sep and host and not host.endswith(":") and port.isdigit() and "]" not in port:
        return host.strip("[]"), int(port)
    return text.strip("[]"), 53


def _dns_error(exc: Exception) -> str:
    if isinstance(exc, dns.resolver.NXDOMAIN):
        return "the name does not exist"
    if isinstance(exc, dns.resolver.NoAnswer):
        return "no such record"
    if isinstance(exc, dns.exception.Timeout):
        return "the resolver did not answer in time"
    if isinstance(exc, dns.resolver.NoNameservers):
        return "no name server answered"
    return str(exc)


def check_dns_zone(ctx: DoctorContext) -> list[CheckResult]:
    name = "dns zone"
    zone = get_str(ctx.db, "tripwire.dns_zone").strip().rstrip(".")
    if not zone:
        return [CheckResult(name, SKIP, "tripwire.dns_zone not set (no DNS tripwire)")]
    try:
        servers = sorted(r.to_text().rstrip(".") for r in ctx.resolver.resolve(zone, "NS"))
    except dns.exception.DNSException as exc:
        return [CheckResult(name, FAIL, f"{zone}: no NS record ({_dns_error(exc)}): delegate the zone to this host")]
    seen = {server: ctx.addresses(server) for server in servers}
    ours = [f"{s} ({', '.join(a)})" for s, a in seen.items() if set(a) & ctx.host_addresses]
    if ours:
        return [CheckResult(name, OK, f"{zone} delegated to {', '.join(ours)}: this host")]
    shown = "; ".join(f"{s} -> {', '.join(a) or 'no address'}" for s, a in seen.items())
    return [CheckResult(name, FAIL, f"{zone} is delegated to {shown}, not to this host "
                                    f"({', '.join(sorted(ctx.host_addresses)) or 'no address known'}; "
                                    "see doctor.host_addresses)")]


def check_mail_domains(ctx: DoctorContext) -> list[CheckResult]:
    domains = [d.strip().rstrip(".") for d in get_list(ctx.db, "pool.mail_domains")]
    if not domains:
        return [CheckResult("mail domains", SKIP, "pool.mail_domains is empty")]
    results = []
    for domain in domains:
        name = f"mx {domain}"
        try:
            hosts = sorted((r.preference, r.exchange.to_text().rstrip(".")) for r in ctx.resolver.resolve(domain, "MX"))
        except dns.exception.DNSException as exc:
            results.append(CheckResult(name, FAIL, f"no MX record ({_dns_error(exc)}): mail to canaries goes nowhere"))
            continue
        seen = {host: ctx.addresses(host) for _pref, host in hosts}
        ours = [host for host, addresses in seen.items() if set(addresses) & ctx.host_addresses]
        shown = ", ".join(f"{host} ({', '.join(a) or 'no address'})" for host, a in seen.items())
        if ours:
            results.append(CheckResult(name, OK, f"MX {shown}: reaches this host"))
        else:
            results.append(CheckResult(name, FAIL, f"MX {shown}: not this host"))
    return results


def check_callback_url(ctx: DoctorContext) -> list[CheckResult]:
    from canary.watch.tripwire.pages import PIXEL_GIF

    name = "callback url"
    base = get_str(ctx.db, "tripwire.base_url").strip().rstrip("/")
    if not base:
        return [CheckResult(name, FAIL, "tripwire.base_url not set: canaries carry no callback URL")]
    # A token no canary has: the listener answers it like any other and records nothing.
    url = f"{base}/{secrets.token_hex(10)}.gif"
    try:
        response = requests.get(url, timeout=ctx.timeout, allow_redirects=False)
    except requests.RequestException as exc:
        return [CheckResult(name, FAIL, f"{base} unreachable: {type(exc).__name__}")]
    if response.status_code == 200 and response.content == PIXEL_GIF:
        return [CheckResult(name, OK, f"{base} answers like the callback listener")]
    kind = response.headers.get("Content-Type", "?").split(";")[0]
    return [CheckResult(name, FAIL, f"{base} answered {response.status_code} {kind}, not like the callback "
                                    "listener (check the reverse proxy)")]


def check_pools(ctx: DoctorContext) -> list[CheckResult]:
    from canary.generate.pools import pools_from_settings

    pools = pools_from_settings(ctx.db)  # ranges and @files expanded: the numbers, not the entries
    results = []
    for setting, what, count in (("pool.phones", "phone numbers", len(pools.phones)),
                                 ("pool.mail_domains", "mail domains", len(pools.mail_domains))):
        if count:
            results.append(CheckResult(setting, OK, f"{count:,} {what} configured"))
        else:
            results.append(CheckResult(setting, FAIL, f"no {what}: new canaries carry none (set {setting})"))
    return results


def check_plantings(ctx: DoctorContext) -> list[CheckResult]:
    name = "plantings"
    active = ctx.db.execute("SELECT COUNT(*) FROM canaries WHERE status = 'active'").fetchone()[0]
    if not active:
        return [CheckResult(name, FAIL, "no active canary: seed and plant some ('canary seed', 'canary plant')")]
    unplanted = [row[0] for row in ctx.db.execute(
        "SELECT c.id FROM canaries c WHERE c.status = 'active' AND NOT EXISTS "
        "(SELECT 1 FROM plantings p WHERE p.canary_id = c.id AND p.state = 'planted') ORDER BY c.system, c.id")]
    if not unplanted:
        return [CheckResult(name, OK, f"all {active} active canaries are planted")]
    shown = ", ".join(unplanted[:5]) + (", ..." if len(unplanted) > 5 else "")
    return [CheckResult(name, FAIL, f"{len(unplanted)} of {active} active canaries are planted nowhere ({shown}); "
                                    "see 'canary plants'")]


def check_notification(ctx: DoctorContext) -> list[CheckResult]:
    """Destinations exist and are not failing; with ``--send-test``, each one takes a test alert now."""
    from canary.alert.destinations import destination_status
    from canary.alert.sample_alert import send_test

    name = "notification"
    if not ctx.send_test:
        status = destination_status(ctx.db)
        if not status:
            return [CheckResult(name, FAIL, "no destination: nobody is paged ('canary notify add')")]
        failing = [f"#{row['id']} {row['url']}: {row['last_error'] or 'failing'}" for row in status if row["failures"]]
        if failing:
            return [CheckResult(name, FAIL, f"{len(failing)} of {len(status)} destinations are failing: "
                                            + "; ".join(failing))]
        return [CheckResult(name, OK, f"{len(status)} destination(s), none failing (no test sent: "
                                      "'canary doctor --send-test' pages each one)")]
    report = send_test(ctx.db)
    if not report:
        return [CheckResult(name, FAIL, "no destination: nobody is paged ('canary notify add')")]
    failed = [f"#{row['id']} {row['url']}: {row['error']}" for row in report if not row["ok"]]
    if failed:
        return [CheckResult(name, FAIL, f"{len(failed)} of {len(report)} destinations failed the test alert: "
                                        + "; ".join(failed))]
    return [CheckResult(name, OK, f"{len(report)} destination(s) accepted a test alert")]


def check_settings(ctx: DoctorContext) -> list[CheckResult]:
    """Every setting in force (environment, registry) matches its declared type."""
    from canary.settings import setting_problems

    problems = setting_problems(ctx.db)
    if problems:
        return [CheckResult("settings", FAIL, problem) for problem in problems]
    return [CheckResult("settings", OK, "every setting matches its declared type")]


def check_delivery(ctx: DoctorContext) -> list[CheckResult]:
    """The delivery worker can run, and no destination is failing."""
    from canary.alert.destinations import destination_status
    from canary.alert.outbox import blocked_reason

    problems = []
    reason = blocked_reason(ctx.db)
    if reason:
        problems.append(reason)
    for row in destination_status(ctx.db):
        if row["failures"] and row["last_error"] != reason:
            problems.append(f"destination {row['id']} ({row['url']}): {row['failures']} failure(s), "
                            f"last: {row['last_error']}")
    if problems:
        return [CheckResult("delivery", FAIL, problem) for problem in problems]
    return [CheckResult("delivery", OK, "the delivery worker can run; no destination is failing")]


def check_tripwires(ctx: DoctorContext) -> list[CheckResult]:
    """Every active canary carries a callback URL and DNS name (else it can never fire on them)."""
    from canary.store.tokens import tokenless

    missing: dict[str, int] = {}
    for _canary_id, key in tokenless(ctx.db):
        missing[key] = missing.get(key, 0) + 1
    words = {"url": "callback URL (tripwire.base_url)", "hostname": "DNS name (tripwire.dns_zone)"}
    if missing:
        return [CheckResult("tripwires", FAIL, f"{count} active canaries without a {words[key]}: see "
                                                "'canary lint', 'canary tripwire fill-tokens'")
                for key, count in sorted(missing.items())]
    return [CheckResult("tripwires", OK, "every active canary carries its callback URL and DNS name")]


MIN_DESCRIPTORS = 8192  # a flood of connections must not exhaust serve's descriptors (deploy sets 65,536)


def _open_files_limit(pid: int) -> int | None:
    """The soft ``Max open files`` of a process, from /proc (None if unreadable or unlimited)."""
    try:
        text = Path(f"/proc/{pid}/limits").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("Max open files"):
            soft = line.split()[3]
            return int(soft) if soft.isdigit() else None
    return None


def check_descriptors(ctx: DoctorContext) -> list[CheckResult]:
    """Every ``canary serve`` of this host holding a lease on the registry, else this process: enough
    file descriptors (LimitNOFILE in the systemd units)."""
    host = socket.gethostname()
    pids = sorted({int(row[0]) for row in ctx.db.execute("SELECT pid FROM leases WHERE host = ?", [host])
                   if Path(f"/proc/{row[0]}").exists()})
    targets = [(f"serve (pid {pid})", pid) for pid in pids] or [("this process (no serve running here)", os.getpid())]
    results = []
    for label, pid in targets:
        limit = _open_files_limit(pid)
        if limit is None:
            results.append(CheckResult("descriptors", SKIP, f"{label}: open-file limit unreadable or unlimited"))
        elif limit < MIN_DESCRIPTORS:
            results.append(CheckResult("descriptors", FAIL, f"{label}: {limit} open files at most; a flood of "
                                       f"connections exhausts them (set LimitNOFILE=65536 in the unit, at least "
                                       f"{MIN_DESCRIPTORS})"))
        else:
            results.append(CheckResult("descriptors", OK, f"{label}: {limit} open files at most"))
    return results


def check_restore(ctx: DoctorContext) -> list[CheckResult]:
    """A restored registry lost what came after its backup: say how old that backup was."""
    restore = last_restore(ctx.db)
    if restore is None:
        return [CheckResult("restore", OK, "never restored from a backup")]
    return [CheckResult("restore", OK, f"{restore_notice(restore)} (restored at {restore['restored_at']} from "
                                       f"{restore['backup_file']}; alert keys now carry generation "
                                       f"r{restore['generation']})")]


Check = Callable[[DoctorContext], list[CheckResult]]

CHECKS: list[tuple[str, Check]] = [
    ("dns zone", check_dns_zone),
    ("mail domains", check_mail_domains),
    ("callback url", check_callback_url),
    ("pools", check_pools),
    ("plantings", check_plantings),
    ("notification", check_notification),
    ("settings", check_settings),
    ("delivery", check_delivery),
    ("tripwires", check_tripwires),
    ("restore", check_restore),
    ("descriptors", check_descriptors),
]


def run_checks(db: sqlite_utils.Database, checks: list[tuple[str, Check]] | None = None, *,
               send_test: bool = False) -> list[CheckResult]:
    ctx = DoctorContext(db, send_test)
    results: list[CheckResult] = []
    for name, check in checks or CHECKS:
        try:
            results.extend(check(ctx))
        except (CanaryError, ValueError, OSError, dns.exception.DNSException) as exc:
            results.append(CheckResult(name, FAIL, str(exc) or type(exc).__name__))
    return results


def summary(results: list[CheckResult]) -> dict[str, Any]:
    return {"ok": all(r.status != FAIL for r in results), "checks": [r.as_dict() for r in results]}
