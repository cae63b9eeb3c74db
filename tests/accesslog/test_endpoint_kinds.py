"""The shape of access-log sources by kind: one record per kind (at the end of its service's module) in one
registry, every kind with every part, documented and storable, and nothing outside the kinds' modules
deciding by a kind's name (read with ast, as tests/plant/test_channels.py does for the planting channels)."""

from __future__ import annotations

import dataclasses
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

from canary.errors import CanaryError
from canary.watch.accesslog.endpoint_kind import EndpointKind
from canary.watch.accesslog.endpoints import ENDPOINTS, endpoint_for
from canary.watch.accesslog.sources import add_source, get_source
from canary.watch.accesslog.supervisor import build_service
from tests.support.accesslog import SYSTEM
from tests.support.kinds import decisions_by_name

ROOT = Path(__file__).resolve().parents[2]
ACCESSLOG = ROOT / "canary" / "watch" / "accesslog"
PARTS = ("claims", "check_url", "check_request", "check_conflict", "service")
# A valid --from value of each kind.
SAMPLES = {"syslog": "syslog+tcp://127.0.0.1:0", "file": "file:///var/log/ehr/access.log",
           "fhir": "fhir-auditevent:https://fhir.example/fhir",
           "sql": "sql+mysql://canary_ro@db.example/mediboard?table=user_log"}


def _kind_modules() -> dict[str, str]:
    """kind name -> the module that declares its record."""
    found = {}
    for path in sorted(ACCESSLOG.glob("*.py")):
        module = importlib.import_module(f"canary.watch.accesslog.{path.stem}")
        for value in vars(module).values():
            if isinstance(value, EndpointKind) and value.check_url.__module__ == module.__name__:
                found[value.name] = module.__name__
    return found


def test_every_kind_is_in_the_registry_with_every_part_from_its_own_module():
    modules = _kind_modules()
    assert sorted(modules) == sorted(ENDPOINTS) == sorted(SAMPLES)
    for name, kind in ENDPOINTS.items():
        assert {f.name for f in dataclasses.fields(kind)} >= {"name", "usage", *PARTS}
        assert all(callable(getattr(kind, part)) for part in PARTS)
        for part in ("claims", "check_url", "service"):
            assert getattr(kind, part).__module__ == modules[name]


def test_each_sample_is_claimed_by_its_kind_only():
    for name, url in SAMPLES.items():
        assert [kind.name for kind in ENDPOINTS.values() if kind.claims(url)] == [name]
        assert endpoint_for(url) is ENDPOINTS[name]
    with pytest.raises(CanaryError, match=r"^invalid --from 'ftp://x/y': use syslog://HOST:PORT, file:///path, "
                                          r"fhir-auditevent:https://server/fhir or sql\+mysql://"):
        endpoint_for("ftp://x/y")


def test_every_kind_can_be_stored(db):
    sql = db.execute("SELECT sql FROM sqlite_master WHERE name = 'accesslog_sources'").fetchone()[0]
    allowed = re.search(r"kind IN \(([^)]*)\)", sql)
    assert allowed is not None
    assert sorted(re.findall(r"'([^']+)'", allowed.group(1))) == sorted(ENDPOINTS)


def test_docs_list_every_kind():
    text = (ROOT / "docs" / "accesslog.md").read_text(encoding="utf-8")
    section = text.split("## Sources (`--from`)", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|") for line in section.splitlines() if line.startswith("| `")]
    assert sorted(row[2].strip(" `") for row in rows) == sorted(ENDPOINTS)
    extending = (ROOT / "docs" / "extending.md").read_text(encoding="utf-8")
    assert "## Adding an access-log endpoint" in extending


def test_the_supervisor_builds_each_kind_through_its_record(db, db_path, add_hand_canaries):
    add_hand_canaries(SYSTEM, 1)
    for name, url in SAMPLES.items():
        source = add_source(db, SYSTEM, url, None if name in ("fhir", "sql") else "mediboard", name=f"k-{name}")
        assert source["kind"] == name
        service = build_service(db_path, get_source(db, f"k-{name}"), scheduler=None, poll_interval=0.1)
        assert type(service).__module__ == ENDPOINTS[name].service.__module__
        assert service.name.endswith(f"k-{name}")


def _decisions_by_kind(path: Path) -> list[str]:
    """Places that compare with a kind's name, or tables keyed by kinds' names."""
    return decisions_by_name(path, ENDPOINTS, dict_keys=2, subscripts=False, matches=False)


def test_no_module_outside_the_kinds_decides_by_a_kind_name():
    kind_files = {module.rsplit(".", 1)[1] + ".py" for module in _kind_modules().values()}
    outside = [p for p in ACCESSLOG.glob("*.py") if p.name not in kind_files]
    assert [hit for path in outside for hit in _decisions_by_kind(path)] == []


def test_the_check_finds_a_dispatch_by_kind(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text('def f(s):\n    if s["kind"] == "syslog":\n        return {"sql": 1, "fhir": 2}\n')
    assert len(_decisions_by_kind(sample)) == 2


def test_the_registry_loads_no_client_library():
    """`canary logs add/list` and the console read the registry: the FHIR client library loads only when a
    server is polled."""
    code = ("import sys; import canary.watch.accesslog.endpoints; "
            "print(sorted(m for m in ('requests', 'pymysql', 'psycopg') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert done.stdout.strip() == "[]"
