"""Every domain stands on the ones below it: the import direction is kept by reading the imports.

Data flows generate -> store -> plant -> watch -> alert -> web (ops runs them all). The registry and
the generator never reach up into planting, watching, alerting, the console or operations, and no
library module imports a command-line module (``cli.py`` stays a thin layer over the library).
"""

from __future__ import annotations

import ast
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


def test_no_library_module_imports_a_command_module():
    offending = [f"{_module(p)} imports {name}" for p in PACKAGE.rglob("*.py") if p.name != "cli.py"
                 for name in _imports(p) if name.endswith(".cli") and name != "canary.cli"]
    assert offending == []
