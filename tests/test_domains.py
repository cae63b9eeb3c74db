"""One list of domains (canary/domains.py): the module lists derive from it, and it matches the package."""

from __future__ import annotations

import importlib
from pathlib import Path

from canary.domains import COMMAND_MODULES, DOMAINS, MIGRATION_MODULES, SERVICE_MODULES, SETTING_MODULES

PACKAGE = Path(__file__).resolve().parents[1] / "canary"


def test_migration_order_is_the_one_deployed_registries_recorded():
    # History, not design: generate's tables came after alert's. A new domain's migrations go last.
    assert MIGRATION_MODULES == [
        "canary.store.schema", "canary.plant.schema", "canary.watch.sweep.schema", "canary.watch.tripwire.schema",
        "canary.watch.accesslog.schema", "canary.watch.egress.schema", "canary.alert.schema",
        "canary.generate.schema", "canary.web.schema",
    ]
    places = [d.migrations for d in DOMAINS if d.migrations is not None]
    assert sorted(places) == list(range(1, len(places) + 1))


def test_ops_services_are_built_first_then_the_data_flow_order():
    assert SERVICE_MODULES == [
        "canary.ops.services", "canary.plant.services", "canary.watch.sweep.services",
        "canary.watch.tripwire.services", "canary.watch.accesslog.services", "canary.watch.egress.services",
        "canary.alert.services",
    ]


def test_settings_keep_their_order_in_the_reference():
    assert SETTING_MODULES == [
        "canary.generate.settings", "canary.plant.settings", "canary.watch.sweep.settings",
        "canary.watch.tripwire.settings", "canary.watch.accesslog.settings", "canary.watch.egress.settings",
        "canary.alert.settings", "canary.ops.settings", "canary.web.settings",
    ]


def _face(package: str, name: str) -> bool:
    return (PACKAGE.parent / package.replace(".", "/") / f"{name}.py").is_file()


def test_every_face_a_domain_has_is_declared_and_every_declared_one_exists():
    """A settings.py, services.py, schema.py or cli.py left out of canary/domains.py would be silently ignored."""
    declared = {d.package: d for d in DOMAINS}
    for package, domain in declared.items():
        assert _face(package, "cli") == bool(domain.commands), package
        assert _face(package, "services") == domain.services, package
        assert _face(package, "settings") == domain.settings, package
        assert _face(package, "schema") == (domain.migrations is not None), package
    faces = {"cli", "services", "settings", "schema"}
    packages = {".".join(p.parent.relative_to(PACKAGE.parent).parts) for p in PACKAGE.rglob("*.py")
                if p.stem in faces and p.parent != PACKAGE}
    assert packages <= set(declared)


def test_each_domain_module_declares_what_its_face_is_read_for():
    for module_name in SETTING_MODULES:
        assert importlib.import_module(module_name).SETTINGS, module_name
    for module_name in MIGRATION_MODULES:
        assert importlib.import_module(module_name).MIGRATIONS, module_name
    assert list(COMMAND_MODULES) == [f"{d.package}.cli" for d in DOMAINS if d.commands]
