"""Every domain stands on the ones below it: the import direction is kept by reading the imports.

Data flows generate -> store -> plant -> watch -> alert -> web (ops runs them all). The registry and
the generator never reach up into planting, watching, alerting, the console or operations, and no
library module imports a command-line module (``cli.py`` stays a thin layer over the library: it
defines click commands and what shows their results, nothing a library module or another domain needs).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "canary"
HIGHER = ("canary.plant", "canary.watch", "canary.alert", "canary.web", "canary.ops")


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
    return [n for n in names if n == "canary" or n.startswith("canary.")]


def _module(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)


def test_lower_domains_never_import_higher_ones():
    lower = [p for p in PACKAGE.rglob("*.py") if p.parent == PACKAGE or
             p.relative_to(PACKAGE).parts[0] in ("store", "generate")]
    offending = [f"{_module(p)} imports {name}" for p in lower for name in _imports(p)
                 if name.startswith(HIGHER) and p.name != "cli.py" and _module(p) != "canary.cli"]
    assert offending == []


# The registry and the generator use each other (the seeder stores what the generator makes, which reads
# the registry's systems and profiles): one layer at the bottom of canary.domains.DOMAINS.
BOTTOM_LAYER = ("canary.store", "canary.generate", "canary.generate.registers")


def _domain_of(module: str, packages: list[str]) -> str | None:
    owners = [p for p in packages if module == p or module.startswith(p + ".")]
    return max(owners, key=len) if owners else None


def test_each_domain_imports_only_the_domains_before_it_in_canary_domains():
    """The order of canary/domains.py is the import direction: e.g. plant never imports watch, alert never web."""
    from canary.domains import DOMAINS

    packages = [d.package for d in DOMAINS]
    layer = {p: 0 if p in BOTTOM_LAYER else i for i, p in enumerate(packages)}
    offending = []
    for path in PACKAGE.rglob("*.py"):
        domain = _domain_of(_module(path), packages)
        if domain is None or path.name == "cli.py":  # a command may gather what several domains know
            continue
        offending += [f"{_module(path)} imports {name}" for name in _imports(path)
                      if (used := _domain_of(name, packages)) and layer[used] > layer[domain]]
    assert offending == []


def test_no_library_module_imports_a_command_module():
    offending = [f"{_module(p)} imports {name}" for p in PACKAGE.rglob("*.py") if p.name != "cli.py"
                 for name in _imports(p) if name.endswith(".cli") and name != "canary.cli"]
    assert offending == []



# Functions of a domain's cli.py that are neither commands nor terminal presentation, and why they stay.
CLI_HELPERS = {
    "canary.alert.cli": {"_who": "the default of --by (the system user)"},
    "canary.plant.cli": {"_raise_if_failed": "a planting report as the command's one-line error",
                         "_generator": "imports the generator when a command needs it, as a one-line error"},
    "canary.web.cli": {"_serve": "the serve command's callback (build_serve_command adds the domains' options); "
                                 "the process itself runs in canary.web.serving",
                       "_cli_actor": "who the audit log names for a CLI action (the system user)",
                       "_read_password": "a password from the terminal or standard input"},
}
# Terminal presentation and click plumbing, by name: echo/print helpers, progress bars, option bundles.
PRESENTATION = ("_echo", "_print", "_progress")


def _is_command(node: ast.FunctionDef) -> bool:
    """Decorated as a click command or group, or returns one it builds (click.Command / click.Group)."""
    decorated = any(isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute)
                    and d.func.attr in ("command", "group") for d in node.decorator_list)
    return decorated or (node.returns is not None and ast.unparse(node.returns) in ("click.Command", "click.Group"))


def test_a_domain_cli_defines_only_commands_and_their_presentation():
    """Library code lives in the domain's modules (canary list/show/export: canary.store.views and .export)."""
    offending, allowed_seen = [], set()
    for path in PACKAGE.rglob("cli.py"):
        if path.parent == PACKAGE:
            continue  # the root group (canary/cli.py) is the wiring every command goes through
        module = _module(path)
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if not isinstance(node, ast.FunctionDef):
                continue
            if _is_command(node) or node.name.startswith(PRESENTATION) or node.name.endswith("_options"):
                continue
            if node.name in CLI_HELPERS.get(module, {}):
                allowed_seen.add((module, node.name))
            else:
                offending.append(f"{module}.{node.name}")
    assert offending == []
    assert {(m, n) for m, names in CLI_HELPERS.items() for n in names} == allowed_seen  # no stale entry


# SQL that changes a table's rows (the sqlite-utils forms: db["alerts"].insert/update/upsert/delete...).
_WRITES = (r"(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|REPLACE\s+INTO|UPDATE|DELETE\s+FROM)\s+{table}\b"
           r"|\[\s*[\"']{table}[\"']\s*\]\s*\.\s*(?:insert|upsert|update|delete)")


# Tables another domain's migration created, and the one domain that may write them.
OWNERS = {"alerts": "canary.alert.", "users": "canary.web.", "login_failures": "canary.web.",
          "web_sessions": "canary.web.", "web_audit": "canary.web.", "api_tokens": "canary.web."}


def test_alerts_and_the_console_tables_are_written_only_by_their_domain():
    """The core schema creates `alerts`; canary.alert alone writes it (the console acks through canary.alert.model).
    The console's tables (some created by core migrations, docs/architecture.md) are written by canary.web alone."""
    sources = {_module(p): p.read_text(encoding="utf-8") for p in PACKAGE.rglob("*.py")}
    for table, owner in OWNERS.items():
        writes = re.compile(_WRITES.format(table=table), re.IGNORECASE)
        writers = sorted(name for name, text in sources.items() if writes.search(text))
        assert writers and all(name.startswith(owner) for name in writers), (table, writers)
