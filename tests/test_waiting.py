"""Tests wait on what they wait for, through ``tests/support/wait.wait_for``: never a fixed sleep (too short on a
loaded machine, wasted time on an idle one) and never a hand-written deadline loop (each one a new way to fail
without saying what was last seen). A sleep that stands for "nothing else happened" waits instead for an
observable or for a later marker event. Read from the syntax tree, so comments and strings do not count."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
SUPPORT = TESTS / "support"
WAIT = SUPPORT / "wait.py"

SLEEPS = {"time.sleep", "asyncio.sleep"}
CLOCKS = {"time.monotonic", "time.time", "time.perf_counter", "datetime.now", "datetime.utcnow"}


def _dotted(node: ast.AST) -> str:
    """``time.sleep`` for ``time.sleep``, ``dt.datetime.now`` for ``dt.datetime.now``; "" for anything else."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return f"{inner}.{node.attr}" if inner else ""
    return ""


def _calls(node: ast.AST) -> list[ast.Call]:
    return [n for n in ast.walk(node) if isinstance(n, ast.Call)]


def _is(call: ast.Call, names: set[str], bare: set[str]) -> bool:
    """A call of one of ``names`` (matched on the dotted tail) or of a name imported bare from them."""
    name = _dotted(call.func)
    return any(name == full or name.endswith("." + full) for full in names) or name in bare


def _bare_imports(tree: ast.AST, names: set[str]) -> set[str]:
    """Local names bound by ``from time import sleep`` and the like."""
    bound = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                if f"{node.module.rsplit('.', 1)[-1]}.{alias.name}" in names:
                    bound.add(alias.asname or alias.name)
    return bound


def _is_event_wait(call: ast.Call) -> bool:
    """``threading.Event().wait(0.1)``: a sleep under another name (an event nobody can set)."""
    return (isinstance(call.func, ast.Attribute) and call.func.attr == "wait" and isinstance(call.func.value, ast.Call)
            and _dotted(call.func.value.func).rsplit(".", 1)[-1] == "Event")


def fixed_sleeps(source: str) -> list[int]:
    """Lines of the calls that sleep for a fixed time."""
    tree = ast.parse(source)
    bare = _bare_imports(tree, SLEEPS)
    return sorted(c.lineno for c in _calls(tree) if _is(c, SLEEPS, bare) or _is_event_wait(c))


def deadline_loops(source: str) -> list[int]:
    """Lines of the loops that read a clock, or sleep, to decide when to stop: hand-written deadline loops."""
    tree = ast.parse(source)
    clocks, sleeps = _bare_imports(tree, CLOCKS), _bare_imports(tree, SLEEPS)
    return sorted(loop.lineno for loop in ast.walk(tree) if isinstance(loop, ast.While | ast.For)
                  and any(_is(c, CLOCKS, clocks) or _is(c, SLEEPS, sleeps) or _is_event_wait(c)
                          for c in _calls(loop)))


def _offences(find, exempt) -> list[str]:
    found = []
    for path in sorted(TESTS.rglob("*.py")):
        if exempt(path):
            continue
        found += [f"{path.relative_to(TESTS.parent)}:{line}" for line in find(path.read_text(encoding="utf-8"))]
    return found


def test_no_fixed_sleep_outside_the_support_peers():
    """Peers under tests/support may answer slowly on purpose (a slow webhook receiver); tests never sleep."""
    assert _offences(fixed_sleeps, lambda path: path.is_relative_to(SUPPORT)) == []


def test_no_deadline_loop_outside_wait_for():
    assert _offences(deadline_loops, lambda path: path == WAIT) == []


def test_the_scan_finds_the_shapes_it_forbids():
    """The two scans above pass only because nothing matches: they must match what they forbid."""
    sleeping = "import time\nimport threading\ntime.sleep(0.5)\nthreading.Event().wait(0.1)\n"
    assert fixed_sleeps(sleeping) == [3, 4]
    assert fixed_sleeps("from time import sleep as nap\nnap(1)\n") == [2]
    assert fixed_sleeps("import threading\nstop = threading.Event()\nstop.wait(1)\n") == []  # an event one can set
    loop = ("import time\ndeadline = time.monotonic() + 5\nwhile time.monotonic() < deadline:\n"
            "    if ready():\n        break\n")
    assert deadline_loops(loop) == [3]
    assert deadline_loops("from datetime import datetime\nwhile datetime.now() < end:\n    pass\n") == [2]
    assert deadline_loops("import time\nfor _ in range(100):\n    if ready():\n        break\n"
                          "    time.sleep(0.1)\n") == [2]
    assert deadline_loops("while not done():\n    step()\n") == []
