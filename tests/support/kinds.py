"""The scan every extension point's symmetry test runs: code outside the kinds that decides by a kind's name.

A kind's name written as a constant and compared with, used as a dict key or an index, or matched on
means a branch that a new kind would have to join by hand (docs/extending.md). Each extension point
says which of those forms count for it (a name like "file" is also a plain word in some modules).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path


def decisions_by_name(path: Path, names: Iterable[str], *, dict_keys: int = 1, subscripts: bool = True,
                      matches: bool = True, calls: Iterable[str] = ()) -> list[str]:
    """``file:line`` of each place in ``path`` that compares with one of ``names``, keys a dict with at least
    ``dict_keys`` of them (0: dicts do not count), indexes by one (``subscripts``), matches on one
    (``matches``), or calls one of ``calls``."""
    wanted, called = set(names), set(calls)

    def named(node: ast.AST | None) -> bool:
        if isinstance(node, ast.Constant):
            return node.value in wanted
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            return any(named(e) for e in node.elts)
        return False

    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Compare):
            hit = any(named(side) for side in [node.left, *node.comparators])
        elif isinstance(node, ast.Dict) and dict_keys:
            hit = sum(named(key) for key in node.keys) >= dict_keys
        elif isinstance(node, ast.Subscript) and subscripts:
            hit = named(node.slice)
        elif isinstance(node, ast.MatchValue) and matches:
            hit = named(node.value)
        elif isinstance(node, ast.Call) and called:
            func = node.func
            hit = (func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)) in called
        else:
            continue
        if hit:
            found.append(f"{path.name}:{getattr(node, 'lineno', '?')}")
    return found
