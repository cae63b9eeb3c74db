"""Sweeps past one machine: the units of a scan run on the workers of a Dask cluster, merged here.

The caller expands the inputs into units (files, byte ranges of big plain files cut at record
boundaries, the objects under an fsspec URL), ships the sweep index and the compiled search to each
worker once (a worker plugin, so a worker that joins or restarts gets them too), maps the units onto
the cluster, and merges the results with the same code as a local scan (findings graded for the whole
scan). This module imports distributed (about half a second): only ``--dask`` scans load it.
The index holds the canary->system map: workers must be trusted hosts.

Dask retries the units of a worker that dies (``distributed.scheduler.allowed-failures``, 3 by default);
a unit that keeps killing its workers, or fails there, becomes one ``skipped`` entry and the scan goes on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import time
import uuid
from collections.abc import Callable
from typing import Any

from distributed import Client, KilledWorker, as_completed, get_worker
from distributed.diagnostics.plugin import WorkerPlugin

from canary.errors import CanaryError
from canary.watch.sweep.containers import unreadable
from canary.watch.sweep.index_shapes import SweepIndex
from canary.watch.sweep.limits import Limits
from canary.watch.sweep.scanner import ScanReport, UnitResult, UnitScanner, merge_results
from canary.watch.sweep.search import portable_search, restored_search
from canary.watch.sweep.settings import check_scheduler_address
from canary.watch.sweep.source_kinds import Expansion, expand
from canary.watch.sweep.sources import SPLIT_MIN, Unit

PLUGIN_PREFIX = "canary-sweep-"


class SweepIndexPlugin(WorkerPlugin):
    """Carries the index and the compiled search to a worker; builds the worker's scanner there, once."""

    def __init__(self, name: str, index: SweepIndex, limits: Limits, engine: str, search: bytes | None) -> None:
        self.name = name
        self.index = index
        self.limits = limits
        self.engine = engine
        self.search = search
        self.scanner: UnitScanner | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "scanner"}  # the scanner is built on the worker

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, scanner=None)

    def setup(self, worker: object) -> None:
        compiled = restored_search(self.engine, self.search) if self.search is not None else None
        self.scanner = UnitScanner(self.index, dataclasses.replace(self.limits, engine=self.engine), compiled)

    def teardown(self, worker: object) -> None:
        self.scanner = None


def scan_unit_on_worker(unit: Unit, plugin_name: str) -> UnitResult:
    """The task each unit becomes: the worker's own scanner (from the plugin) scans it."""
    plugin = get_worker().plugins.get(plugin_name)
    scanner = getattr(plugin, "scanner", None)
    if scanner is None:
        raise RuntimeError("the sweep index did not load on this worker (same canary version and engine?)")
    return scanner.scan(unit)


def connect(scheduler: str, timeout: float) -> Client:
    """A client of ``scheduler``; an unreachable scheduler is one operator-fixable line."""
    check_scheduler_address(scheduler)
    try:
        return Client(scheduler, timeout=f"{timeout}s", set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        detail = " ".join(str(exc).split())[:200]
        raise CanaryError(f"Dask scheduler {scheduler} unreachable: {exc.__class__.__name__}"
                          f"{': ' + detail if detail else ''} (sweep.dask_scheduler / --dask)") from exc


def scan_on_dask(index: SweepIndex, inputs: list[str], limits: Limits, scheduler: str, timeout: float = 10.0,
                 progress: Callable[[int, int], None] | None = None, split_min: int = SPLIT_MIN) -> ScanReport:
    """Scan ``inputs`` on the Dask cluster at ``scheduler``: same findings as :func:`scanner.scan`.

    A plain file larger than ``split_min`` bytes is cut into byte ranges (each read 8 KiB past its end, so a
    record cut there is read whole; lines and offsets renumbered on the caller).
    """
    client = connect(scheduler, timeout)
    try:
        return _scan_with(client, scheduler, index, inputs, limits, timeout, progress, split_min)
    finally:
        client.close()


def _scan_with(client: Client, scheduler: str, index: SweepIndex, inputs: list[str], limits: Limits, timeout: float,
               progress: Callable[[int, int], None] | None, split_min: int) -> ScanReport:
    try:
        client.wait_for_workers(1, timeout=timeout)
    except TimeoutError as exc:
        raise CanaryError(f"Dask scheduler {scheduler} has no worker (waited {timeout:g} s)") from exc
    threads = sum(client.nthreads().values())
    # As many byte ranges per big file as --jobs would make for the cluster's threads.
    units, skipped = expand(inputs, Expansion(max(2, threads), index.private_files(), split_min,
                                              limits.max_expanded_bytes))
    report = ScanReport(skipped=list(skipped))
    local = UnitScanner(index, limits)  # compiles (or loads the cached) search once, here
    engine = "native" if local.matcher.native is not None else "python"
    shipped = dataclasses.replace(index, cache=None, registry=None)  # worker hosts have no registry
    name = PLUGIN_PREFIX + hashlib.sha256(b"\n".join(index.patterns)).hexdigest()[:16] + "-" + uuid.uuid4().hex[:8]
    plugin = SweepIndexPlugin(name, shipped, limits, engine, portable_search(local.matcher.compiled))
    total = sum(u.size for u in units)
    done = 0
    if progress:
        progress(0, total)
    client.register_plugin(plugin, name=name)
    try:
        futures = client.map(scan_unit_on_worker, units, plugin_name=name, pure=False,
                             key=[f"{name}-unit-{i}" for i in range(len(units))])
        position = {future.key: i for i, future in enumerate(futures)}
        results: list[UnitResult | None] = [None] * len(units)
        pending = set(futures)
        arriving = as_completed(futures, loop=client.loop)
        no_worker_since: float | None = None
        while pending:
            finished = arriving.next_batch(block=False)
            for future in finished:
                pending.discard(future)
                i = position[future.key]
                results[i] = _result_of(client, future, units[i], timeout)
                future.release()
                done += units[i].size
                if progress:
                    progress(done, total)
            if finished or not pending:
                continue
            time.sleep(0.1)
            if client.nthreads():
                no_worker_since = None
                continue
            # Every worker is gone: Dask would wait for one forever. Past the timeout, what is left is skipped.
            no_worker_since = no_worker_since or time.monotonic()
            if time.monotonic() - no_worker_since >= timeout:
                for future in pending:
                    i = position[future.key]
                    results[i] = UnitResult(units[i], skipped=[{"file": units[i].name, "reason": (
                        f"not scanned: no Dask worker left (waited {timeout:g} s, sweep.dask_timeout)")}])
                client.cancel(list(pending))
                pending = set()
    finally:
        _unregister(client, name)
    return merge_results([r for r in results if r is not None], report, index.coincidence)


def _result_of(client: Client, future: Any, unit: Unit, timeout: float) -> UnitResult:
    """The unit's result; a unit that killed its workers or failed there is skipped, with the reason."""
    try:
        while True:
            try:
                result = future.result(timeout=timeout)
                break
            except TimeoutError:
                # Finished on a worker that died before handing the result over: Dask computes it again,
                # which only a live worker can do.
                if not client.nthreads():
                    return UnitResult(unit, skipped=[{"file": unit.name, "reason": (
                        f"not scanned: no Dask worker left (waited {timeout:g} s, sweep.dask_timeout)")}])
    except KilledWorker:
        return UnitResult(unit, skipped=[{"file": unit.name, "reason": "a Dask worker died while scanning it "
                                          "(KilledWorker; retried up to distributed.scheduler.allowed-failures)"}])
    except Exception as exc:  # one unit failing on its worker never ends the sweep
        return UnitResult(unit, skipped=[{"file": unit.name, "reason": unreadable("unit on a Dask worker", exc)}])
    if not isinstance(result, UnitResult):
        return UnitResult(unit, skipped=[{"file": unit.name, "reason": "a Dask worker returned no scan result"}])
    return result


def _unregister(client: Client, name: str) -> None:
    """Free the index on the workers (a long-lived cluster serves other work); best effort."""
    with contextlib.suppress(Exception):  # a worker gone meanwhile has nothing left to free
        client.unregister_worker_plugin(name)
