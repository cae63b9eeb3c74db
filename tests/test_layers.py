"""Every domain stands on the ones below it: the import direction is kept by reading the imports.

The core modules at the package's top (errors, settings, normalize, files...) stand below every domain;
the domains follow the order of canary/domains.py (store, the registers, generate, plant, the watchers,
alert, ops, web); the root group and the console script stand above all. No import runs back up, not
even one inside a function, no files import each other in a circle, and no library module imports a
command-line module (``cli.py`` stays a thin layer over the library: it defines click commands and what
shows their results, nothing a library module or another domain needs).
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "canary"


def _imports(path: Path) -> list[str]:
    """Every module of the package ``path`` imports, at its top or inside a function (TYPE_CHECKING too)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from canary.web import actions` names the module canary.web.actions, not the package's face
            names += [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
    return [n for n in names if n == "canary" or n.startswith("canary.")]


def _module(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")


MODULES = {_module(p): p for p in PACKAGE.rglob("*.py")}


def _files_imported(path: Path) -> set[str]:
    """The package's files ``path`` imports (a name imported from a module is that module)."""
    imported = set()
    for name in _imports(path):
        if name in MODULES:
            imported.add(name)
        elif name.rpartition(".")[0] in MODULES:
            imported.add(name.rpartition(".")[0])
    return imported - {_module(path)}


# The entry points: the root group loads every domain's commands (by name, canary.domains), the console
# script runs it. Nothing imports them but each other.
ROOTS = ("canary.cli", "canary.__main__")


def _domain_of(module: str, packages: list[str]) -> str | None:
    owners = [p for p in packages if module == p or module.startswith(p + ".")]
    return max(owners, key=len) if owners else None


def _layer(module: str) -> int:
    """0: the core modules at the package's top; then each domain in the order of canary.domains; the roots last."""
    from canary.domains import DOMAINS

    packages = [d.package for d in DOMAINS]
    if module in ROOTS:
        return len(packages) + 1
    domain = _domain_of(module, packages)
    return 0 if domain is None else packages.index(domain) + 1


def test_each_module_imports_only_its_layer_and_the_ones_below():
    """The order of canary/domains.py is the import direction, with the core modules (settings, normalize,
    files...) below every domain: store never imports generate, plant never watch, alert never web. A
    command that gathers several domains belongs to the last of them (canary lint: plant/cli.py)."""
    offending = [f"{module} imports {used}" for module, path in MODULES.items()
                 for used in sorted(_files_imported(path)) if _layer(used) > _layer(module)]
    assert offending == []


def test_no_files_import_each_other_in_a_circle():
    """Not even through an import inside a function: a loop of files is one room that reads as several."""
    graph = {module: _files_imported(path) for module, path in MODULES.items()}
    circles = [sorted(group) for group in _strongly_connected(graph) if len(group) > 1]
    assert circles == []


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (the package is deeper than Python's recursion allows on some stacks)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                groups.append(group)
    return groups


def test_no_library_module_imports_a_command_module():
    offending = [f"{module} imports {used}" for module, path in MODULES.items()
                 if path.name != "cli.py" and module not in ROOTS
                 for used in sorted(_files_imported(path)) if used.rpartition(".")[2] == "cli"]
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
