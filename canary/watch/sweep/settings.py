"""Settings of canary.watch.sweep (see canary.settings)."""

import re

from canary.errors import CanaryError
from canary.settings import Setting

_SCHEDULER = re.compile(r"^(?:[a-z][a-z0-9+]*://)?(?:\[[0-9a-fA-F:]+\]|[^\s/:\[\]]+):\d{1,5}$")


def check_scheduler_address(address: str) -> None:
    """A Dask scheduler address: ``tcp://host:8786`` (``tls://``, ``host:port``, ``tcp://[::1]:8786``); empty: none."""
    if address and not _SCHEDULER.match(address):
        raise CanaryError(f"{address!r} is not a Dask scheduler address (such as tcp://scheduler:8786)")


SETTINGS: list[Setting] = [
    Setting("sweep.max_expanded_bytes", int, 50 * 1024**3,
            "Most bytes one input may expand to through its archives and compression before the rest is skipped.",
            minimum=1),
    Setting("sweep.max_ratio", int, 200,
            "Highest expansion ratio (expanded / compressed bytes) allowed for a compressed stream or archive member.",
            minimum=1),
    Setting("sweep.max_depth", int, 5, "Deepest nesting of archives inside archives that is opened.",
            minimum=0, maximum=50),
    Setting("sweep.max_download_bytes", int, 2 * 1024**3, "Most bytes fetched from one URL.",
            minimum=1),
    Setting("sweep.http_timeout", float, 30.0, "Seconds to wait for a URL to connect or send data.",
            minimum=0.1),
    Setting("sweep.max_spool_bytes", int, 4 * 1024**3,
            "Most bytes buffered (in memory, then a temporary file) for an archive member that needs seeking "
            "(zip, 7z or xlsx inside another archive).",
            minimum=1),
    Setting("sweep.engine", str, "auto",
            "Search engine of sweeps: 'native' (compiled core, needs the Hyperscan headers at install time), "
            "'python' (same findings, several times slower) or 'auto' (native when it was built).",
            choices=("auto", "native", "python")),
    Setting("sweep.dask_scheduler", str, "",
            "Address of a Dask scheduler (tcp://host:8786) that runs feed sweeps on its workers; empty: sweeps run "
            "here. The workers receive the sweep index (the canary->system map): they must be trusted hosts.",
            extra_check=check_scheduler_address, host_only=True),
    Setting("sweep.dask_timeout", float, 10.0,
            "Seconds to wait for the Dask scheduler to answer, and for it to have a worker."),
]
