"""Sweeps on a real Dask cluster: a LocalCluster whose workers are separate processes, on loopback.

The same findings as a local scan, a killed worker's unit rerun and counted once, a unit that keeps
killing its workers skipped with one line, an fsspec URL that 404s skipped, an unreachable scheduler
one line and a failed sweep.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from canary.watch.sweep.findings import sweep_findings
from canary.watch.sweep.index import build_index
from canary.watch.sweep.limits import Limits
from canary.watch.sweep.scanner import scan
from tests.support.sweep import zip_bytes
from tests.support.wait import wait_for

distributed = pytest.importorskip("distributed")
dask = pytest.importorskip("dask")

ROWS = "BERNARD-MARTIN;Nathalie;18/06/1981\nPETIT-MARTIN;Sylvie;20/08/1983\ntel 06 12 34 56 78\n"
FILLER = "".join(f"{i};DURAND;Paul;01/01/1950\n" for i in range(6000))


@pytest.fixture(scope="module")
def cluster():
    """Two worker processes; a unit is retried once after its worker dies, then reported as killed."""
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}), \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                     scheduler_kwargs={"dashboard": False}, worker_dashboard_address=None) as local:
        yield local


@pytest.fixture
def client(cluster):
    with distributed.Client(cluster.scheduler_address, set_as_default=False) as c:
        yield c


def _corpus(folder: Path) -> Path:
    folder.mkdir()
    (folder / "a.csv").write_text(ROWS, encoding="utf-8")
    (folder / "b.zip").write_bytes(zip_bytes({"export/p.csv": b"HELENE;nothing here\n" + ROWS.encode()}))
    # Big enough to be cut into byte ranges (split_min below): line numbers must stay exact across them.
    (folder / "big.csv").write_text(FILLER + "BERNARD-MARTIN;Nathalie;18/06/1981\n" + FILLER + "06 12 34 56 78\n",
                                    encoding="utf-8")
    return folder


def _key(report) -> list[tuple]:
    return [(f.canary_id, f.file, f.line, f.offset, f.fields, f.confidence, round(f.score, 6))
            for f in report.findings]


def test_same_findings_as_a_local_scan(db, sweep_canaries, tmp_path, cluster, engine):
    from canary.watch.sweep.cluster import scan_on_dask

    drops = _corpus(tmp_path / "drops")
    limits = Limits(engine=engine)
    local = scan(build_index(db), [str(drops)], limits)
    remote = scan_on_dask(build_index(db), [str(drops)], limits, cluster.scheduler_address, split_min=64 * 1024)
    assert local.findings and _key(remote) == _key(local)
    assert (remote.files, remote.bytes, remote.skipped) == (local.files, local.bytes, local.skipped)
    assert [f.line for f in remote.findings if f.file.endswith("big.csv")] == [6001, 12002]


def _archive(path: Path) -> Path:
    """A zip of several members: sightings in two of them, one inside a gzip member, a corrupt member
    (a wrong CRC, found once it is read) and a member of another name holding nothing."""
    import gzip
    import zipfile

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("export/one.csv", FILLER + ROWS)
        archive.writestr("export/two.csv.gz", gzip.compress(("x;y\n" + ROWS).encode()))
        archive.writestr("empty/nothing.txt", FILLER)
        archive.writestr("export/broken.csv", ROWS)
    data = bytearray(path.read_bytes())
    # Corrupt the stored CRC of the last member in its central directory entry: it reads, then fails its check.
    entry = data.rindex(b"PK\x01\x02")
    data[entry + 16:entry + 20] = b"\x00\x00\x00\x00"
    path.write_bytes(bytes(data))
    return path


def test_archive_members_are_units_of_their_own(db, sweep_canaries, tmp_path, cluster, engine):
    """Each member of a zip is a unit a different worker can take: same findings, files, bytes and skips as
    a local scan of the whole archive, nothing counted twice."""
    from canary.watch.sweep.cluster import scan_on_dask
    from canary.watch.sweep.source_kinds import Expansion, expand

    tmp_path.joinpath("drops").mkdir()
    archive = _archive(tmp_path / "drops" / "dump.zip")
    units, _skipped = expand([str(archive)], Expansion(jobs=2))
    assert sorted(u.members for u in units) == [("empty/nothing.txt",), ("export/broken.csv",), ("export/one.csv",),
                                                ("export/two.csv.gz",)]
    assert expand([str(archive)], Expansion(jobs=1))[0] == [units[0].__class__(name=str(archive), path=str(archive),
                                                                     size=archive.stat().st_size)]
    limits = Limits(engine=engine)
    local = scan(build_index(db), [str(archive)], limits)
    assert {f.file for f in local.findings} == {f"{archive}!export/one.csv", f"{archive}!export/two.csv.gz"}
    assert [s["file"] for s in local.skipped] == [f"{archive}!export/broken.csv"]
    seen = _KeysSeen()
    cluster.scheduler.add_plugin(seen)
    try:
        remote = scan_on_dask(build_index(db), [str(tmp_path / "drops")], limits, cluster.scheduler_address)
    finally:
        cluster.scheduler.remove_plugin(name=seen.name)
    assert _key(remote) == _key(local)
    assert (remote.files, remote.bytes, remote.skipped) == (local.files, local.bytes, local.skipped) \
        and remote.files == 3  # the corrupt member is skipped, not counted
    assert len([k for k in seen.keys if "-unit-" in str(k)]) == 4  # one task per member
    pooled = scan(build_index(db), [str(archive)], limits, jobs=2)  # a local pool takes the members apart too
    assert _key(pooled) == _key(local) and (pooled.files, pooled.bytes, pooled.skipped) == \
        (local.files, local.bytes, local.skipped)


def test_plain_tar_members_are_units_too(db, sweep_canaries, tmp_path, cluster, engine):
    """A plain tar is listed from its headers; its members (a zip inside one of them) spread the same way."""
    import gzip
    import io
    import tarfile
    import zipfile

    from canary.watch.sweep.cluster import scan_on_dask
    from canary.watch.sweep.source_kinds import Expansion, expand

    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as nested:
        nested.writestr("deep/rows.csv", ROWS)
    files = {"a/one.csv": (FILLER + ROWS).encode(), "a/two.csv.gz": gzip.compress(ROWS.encode()),
             "b/inner.zip": inner.getvalue(), "b/nothing.txt": FILLER.encode()}
    archive = tmp_path / "dump.tar"
    with tarfile.open(archive, "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    units, _skipped = expand([str(archive)], Expansion(jobs=2))
    assert [u.members for u in units] == [(name,) for name in files]
    limits = Limits(engine=engine)
    local = scan(build_index(db), [str(archive)], limits)
    assert {f.file for f in local.findings} == {f"{archive}!a/one.csv", f"{archive}!a/two.csv.gz",
                                                f"{archive}!b/inner.zip!deep/rows.csv"}
    remote = scan_on_dask(build_index(db), [str(archive)], limits, cluster.scheduler_address)
    assert _key(remote) == _key(local)
    assert (remote.files, remote.bytes, remote.skipped) == (local.files, local.bytes, local.skipped) == \
        (remote.files, remote.bytes, []) and remote.files == 4


def test_an_archive_stays_one_unit_when_splitting_could_pass_a_bound(tmp_path):
    """Past sweep.max_expanded_bytes in declared sizes, as a spreadsheet, or unreadable: one unit, walked whole."""
    import zipfile

    from canary.watch.sweep.source_kinds import Expansion, expand
    from canary.watch.sweep.sources import archive_member_units

    archive = _archive(tmp_path / "dump.zip")
    declared = sum(i.file_size for i in zipfile.ZipFile(archive).infolist())
    assert len(archive_member_units(str(archive), "zip", declared, 8)) == 4
    assert archive_member_units(str(archive), "zip", declared - 1, 8) == []
    with zipfile.ZipFile(tmp_path / "book.xlsx", "w") as book:
        book.writestr("xl/workbook.xml", "<workbook/>")
        book.writestr("xl/worksheets/sheet1.xml", "<worksheet/>")
    (tmp_path / "cut.zip").write_bytes(archive.read_bytes()[:200])  # a local header, no central directory
    for name in ("book.xlsx", "cut.zip"):
        units, _skipped = expand([str(tmp_path / name)], Expansion(jobs=4))
        assert [(u.name, u.members) for u in units] == [(str(tmp_path / name), ())]


def test_many_small_members_make_at_most_four_units_per_worker(tmp_path):
    """Each unit reads the central directory again: 300 members for 2 workers make 8 units, in order."""
    import zipfile

    from canary.watch.sweep.source_kinds import Expansion, expand

    with zipfile.ZipFile(tmp_path / "many.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        for i in range(300):
            archive.writestr(f"rows/{i:03d}.csv", f"{i};DURAND;Paul;01/01/1950\n" * (1 + i % 7))
    units, _skipped = expand([str(tmp_path / "many.zip")], Expansion(jobs=2))
    assert len(units) == 8
    assert [m for u in units for m in u.members] == [f"rows/{i:03d}.csv" for i in range(300)]
    assert max(u.size for u in units) < 2 * min(u.size for u in units)  # about the same compressed size


class _Blocking(BaseHTTPRequestHandler):
    """Serves ROWS; the first ``server.hold`` requests wait (their worker is killed meanwhile)."""

    def do_GET(self) -> None:  # the http.server name
        server = self.server
        with server.lock:  # type: ignore[attr-defined]
            server.requests += 1  # type: ignore[attr-defined]
            held = server.requests <= server.hold  # type: ignore[attr-defined]
        if held:
            server.arrived.set()  # type: ignore[attr-defined]
            server.release.wait(30)  # type: ignore[attr-defined]
            return  # the worker that asked is dead by now; nobody reads an answer
        body = ROWS.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def blocking_site():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Blocking)
    server.lock, server.requests, server.hold = threading.Lock(), 0, 1  # type: ignore[attr-defined]
    server.arrived, server.release = threading.Event(), threading.Event()  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.release.set()  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()


def _kill_worker_holding_the_url(client, server, url: str) -> None:
    """SIGKILL the worker process whose unit is waiting on ``url`` (found from the scheduler's view)."""
    assert server.arrived.wait(30), "no worker fetched the URL"
    server.arrived.clear()

    def lone_busy_worker() -> int | None:
        busy = [address for address, keys in client.processing().items() if keys]
        pids = client.run(os.getpid, workers=busy) if busy else {}
        # The URL's unit is the one still running: the other units are local files, scanned at once.
        return next(iter(pids.values())) if len(pids) == 1 else None

    pid = wait_for(lone_busy_worker, timeout=30, interval=0.05, message="could not tell which worker holds the URL")
    os.kill(pid, signal.SIGKILL)


def _sweep_in_thread(db_path: Path, inputs: list[str], address: str) -> tuple[threading.Thread, dict]:
    from canary.store.db import open_db
    from canary.watch.sweep.feeds import run_sweep

    outcome: dict = {}

    def run() -> None:
        own = open_db(db_path)  # one connection per thread
        outcome["sweep_id"], outcome["report"] = run_sweep(own, inputs, dask=address)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def test_a_killed_workers_unit_is_rerun_and_counted_once(db, db_path, sweep_canaries, tmp_path, cluster, client,
                                                          blocking_site):
    drops = _corpus(tmp_path / "drops")
    url = f"http://127.0.0.1:{blocking_site.server_port}/paste.txt"
    thread, outcome = _sweep_in_thread(db_path, [str(drops), url], cluster.scheduler_address)
    _kill_worker_holding_the_url(client, blocking_site, url)
    thread.join(60)
    assert not thread.is_alive()
    report = outcome["report"]
    assert blocking_site.requests == 2  # the unit ran again, on a live worker
    assert report.skipped == []
    from_url = [f for f in report.findings if f.file == url]
    assert sorted(f.canary_id for f in from_url) == ["sw0000", "sw0001", "sw0003"]
    stored = sweep_findings(db, outcome["sweep_id"])
    assert len(stored) == len(report.findings) == len({(r["canary_id"], r["file"]) for r in stored})
    assert report.files == 4  # a.csv, b.zip!export/p.csv, big.csv and the URL: the URL counted once
    row = db.execute("SELECT status, files FROM sweeps WHERE id = ?", [outcome["sweep_id"]]).fetchone()
    assert row == ("ok", 4)


def test_a_unit_that_keeps_killing_workers_is_skipped_and_the_rest_goes_on(db, db_path, sweep_canaries, tmp_path,
                                                                          cluster, client, blocking_site):
    blocking_site.hold = 2
    drops = _corpus(tmp_path / "drops")
    url = f"http://127.0.0.1:{blocking_site.server_port}/paste.txt"
    thread, outcome = _sweep_in_thread(db_path, [str(drops), url], cluster.scheduler_address)
    _kill_worker_holding_the_url(client, blocking_site, url)
    _kill_worker_holding_the_url(client, blocking_site, url)
    thread.join(60)
    report = outcome["report"]
    assert [s["file"] for s in report.skipped] == [url]
    assert "worker died" in report.skipped[0]["reason"] and "\n" not in report.skipped[0]["reason"]
    assert {f.file for f in report.findings} == {str(drops / "a.csv"), f"{drops / 'b.zip'}!export/p.csv",
                                                 str(drops / "big.csv")}
    status, skipped = db.execute("SELECT status, skipped FROM sweeps WHERE id = ?", [outcome["sweep_id"]]).fetchone()
    assert status == "ok" and json.loads(skipped) == report.skipped


def test_fsspec_urls_listing_and_404(db, sweep_canaries, tmp_path, cluster, engine):
    """file:// is read through fsspec by the workers; an http(s) listing page that 404s is one skipped line."""
    from canary.watch.sweep.cluster import scan_on_dask

    drops = _corpus(tmp_path / "drops")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        gone = f"http://127.0.0.1:{server.server_port}/drops/"
        report = scan_on_dask(build_index(db), [f"file://{drops}", gone], Limits(engine=engine),
                              cluster.scheduler_address)
    finally:
        server.shutdown()
        server.server_close()
    assert {f.file for f in report.findings} >= {f"file://{drops}/a.csv", f"file://{drops}/big.csv"}
    assert report.skipped == [{"file": gone, "reason": "unreachable: not found"}]


class _NotFound(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # the http.server name
        self.send_error(404)

    def log_message(self, *args) -> None:
        pass


def test_unreachable_scheduler_is_one_line_and_a_failed_sweep(cli, db, sweep_canaries, tmp_path, monkeypatch):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed once the probe is: nothing listens there
    (tmp_path / "a.csv").write_text(ROWS, encoding="utf-8")
    monkeypatch.setenv("CANARY_SWEEP_DASK_TIMEOUT", "1")
    result = cli("scan", "--dask", f"tcp://127.0.0.1:{port}", str(tmp_path / "a.csv"))
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and f"Dask scheduler tcp://127.0.0.1:{port} unreachable" in lines[0], result.output
    status, error = db.execute("SELECT status, error FROM sweeps ORDER BY id DESC LIMIT 1").fetchone()
    assert status == "failed" and "unreachable" in error


def test_feeds_run_on_the_configured_scheduler(cli, db, sweep_canaries, tmp_path, cluster):
    drops = _corpus(tmp_path / "drops")
    local = scan(build_index(db), [str(drops)], Limits())
    assert cli("feed", "add", "cert", str(drops)).exit_code == 0
    assert cli("config", "set", "sweep.dask_scheduler", cluster.scheduler_address).exit_code == 0
    seen = _KeysSeen()
    cluster.scheduler.add_plugin(seen)
    result = cli("sweep", "--json")
    assert result.exit_code == 0, result.output
    outcome = json.loads(result.output)[0]
    assert outcome["status"] == "ok" and outcome["findings"] == len(local.findings) > 0
    stored = sweep_findings(db, outcome["sweep_id"])
    assert [(r["canary_id"], r["file"], r["line"]) for r in stored] == \
        [(f.canary_id, f.file, f.line) for f in local.findings]
    cluster.scheduler.remove_plugin(name=seen.name)
    assert any(str(key).startswith("canary-sweep-") for key in seen.keys)  # its units ran on the cluster


class _KeysSeen(distributed.diagnostics.plugin.SchedulerPlugin):
    """The keys of the tasks the scheduler finished, seen from inside it."""

    name = "keys-seen"

    def __init__(self) -> None:
        self.keys: list = []

    def transition(self, key, start, finish, *args, **kwargs) -> None:
        if finish == "memory":
            self.keys.append(key)


def _scheduler_address(address_file: Path) -> str | None:
    """The address in the scheduler's file, once it is there whole (None before)."""
    try:
        return json.loads(address_file.read_text())["address"]
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return None


@pytest.fixture
def lone_worker(tmp_path):
    """A scheduler and one worker without a nanny, as `dask scheduler` and `dask worker` processes: kill the
    worker and the cluster has none left."""
    import subprocess
    import sys

    address_file = tmp_path / "scheduler.json"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    scheduler = subprocess.Popen([sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1", "--port", "0",
                                  "--no-dashboard", "--scheduler-file", str(address_file)], **quiet)
    worker = None
    try:
        address = wait_for(lambda: _scheduler_address(address_file), timeout=60, interval=0.1,
                           message="the dask scheduler wrote no address")
        worker = subprocess.Popen([sys.executable, "-m", "dask", "worker", "--no-nanny", "--nthreads", "1",
                                   "--no-dashboard", "--scheduler-file", str(address_file)], **quiet)
        with distributed.Client(address, set_as_default=False) as probe:
            probe.wait_for_workers(1, timeout=60)
        yield address, worker
    finally:
        for process in (worker, scheduler):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(10)


def test_when_every_worker_is_gone_the_rest_is_skipped_not_waited_for(db, sweep_canaries, tmp_path, blocking_site,
                                                                      lone_worker):
    """A cluster that loses its last worker mid-scan: the units left are skipped after sweep.dask_timeout."""
    from canary.watch.sweep.cluster import scan_on_dask

    address, worker = lone_worker
    (tmp_path / "a.csv").write_text(ROWS, encoding="utf-8")
    url = f"http://127.0.0.1:{blocking_site.server_port}/paste.txt"
    outcome: dict = {}
    local_file_done = threading.Event()  # its result is here: killing the worker cannot lose it any more

    def progress(done: int, total: int) -> None:
        if done and done == total:  # the URL counts 0 bytes: the local file is the whole total
            local_file_done.set()

    thread = threading.Thread(target=lambda: outcome.update(report=scan_on_dask(
        build_index(db), [str(tmp_path / "a.csv"), url], Limits(), address, timeout=2.0, progress=progress)))
    thread.start()
    assert blocking_site.arrived.wait(60) and local_file_done.wait(60)
    worker.kill()
    thread.join(60)
    assert not thread.is_alive()
    report = outcome["report"]
    assert report.skipped == [{"file": url, "reason": "not scanned: no Dask worker left (waited 2 s, "
                                                      "sweep.dask_timeout)"}]
    assert {f.file for f in report.findings} == {str(tmp_path / "a.csv")}


def test_an_http_listing_page_is_swept_file_by_file(run_scan, tmp_path):
    """A URL ending in '/' is an index page (fsspec's http filesystem): the files it links to are the inputs."""
    from functools import partial
    from http.server import SimpleHTTPRequestHandler

    site = tmp_path / "site"
    (site / "sub").mkdir(parents=True)
    (site / "a.csv").write_text(ROWS, encoding="utf-8")
    (site / "sub" / "b.csv").write_text(ROWS, encoding="utf-8")  # a page it links to is not walked

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_port}/"
        report = run_scan(base)
    finally:
        server.shutdown()
        server.server_close()
    assert {f.file for f in report.findings} == {base + "a.csv"}
    assert report.files == 1 and report.skipped == []


def test_a_malformed_scheduler_address_is_refused_in_one_line(cli, sweep_canaries, tmp_path):
    (tmp_path / "a.csv").write_text(ROWS, encoding="utf-8")
    result = cli("config", "set", "sweep.dask_scheduler", "scheduler.cert.fr")
    assert result.exit_code == 1 and "is not a Dask scheduler address" in result.output
    result = cli("scan", "--dask", "not-an-address", str(tmp_path / "a.csv"))
    assert result.exit_code == 1 and result.output.strip().splitlines() == [
        "error: 'not-an-address' is not a Dask scheduler address (such as tcp://scheduler:8786)"]
    for good in ("tcp://127.0.0.1:8786", "tls://[::1]:8786", "scheduler:8786", ""):
        assert cli("config", "set", "sweep.dask_scheduler", good).exit_code == 0


def test_an_unreachable_scheduler_fails_each_feed_in_one_line(cli, db, sweep_canaries, tmp_path, monkeypatch):
    (tmp_path / "a.csv").write_text(ROWS, encoding="utf-8")
    assert cli("feed", "add", "one", str(tmp_path / "a.csv")).exit_code == 0
    assert cli("feed", "add", "two", str(tmp_path)).exit_code == 0
    monkeypatch.setenv("CANARY_SWEEP_DASK_TIMEOUT", "0.5")
    monkeypatch.setenv("CANARY_SWEEP_DASK_SCHEDULER", "tcp://127.0.0.1:9")
    result = cli("sweep", "--json")
    assert result.exit_code == 1 and "Traceback" not in result.output
    outcomes = json.loads(result.output[result.output.index("["):result.output.rindex("]") + 1])
    assert [o["status"] for o in outcomes] == ["failed", "failed"]
    assert all(o["error"].startswith("Dask scheduler tcp://127.0.0.1:9 unreachable") for o in outcomes)


def _headed_dump(path: Path) -> Path:
    """A CSV with a header, big enough for several byte ranges; the sightings need the header's roles:
    an e-mail on a row of someone else (a lead, graded from the columns that disagree), a name + first
    name + birth date row, and the same name in a row whose first name disagrees."""
    filler = "".join(f"{i};DURAND;Paul;01/01/1950;Lyon;paul.durand{i}@exemple.fr\n" for i in range(5000))
    path.write_text("id;nom;prenom;ddn;ville;email\n" + filler +
                    "9001;HENRY;Nadine;01/02/1970;Paris;helene.lefevre@mail.example.fr\n" + filler +
                    "9002;BERNARD-MARTIN;Nathalie;18/06/1981;Lyon;\n" + filler +
                    "9003;PETIT-MARTIN;Odile;20/08/1983;Lyon;\n" + filler, encoding="utf-8")
    return path


def _graded(report) -> list[tuple]:
    return [(*key, f.severity, f.structured, f.disagreed) for key, f in zip(_key(report), report.findings, strict=True)]


def test_a_split_scan_is_the_same_scan(db, sweep_canaries, tmp_path, cluster, engine):
    """Every byte range carries its file's header (field roles, delimiter) and encoding: --jobs and
    Dask give the findings, grades, lines and offsets of the whole-file scan."""
    from canary.watch.sweep.cluster import scan_on_dask

    path = _headed_dump(tmp_path / "patients.csv")
    limits = Limits(engine=engine)
    whole = scan(build_index(db), [str(path)], limits)
    split = scan(build_index(db), [str(path)], limits, jobs=2, split_min=64 * 1024)
    remote = scan_on_dask(build_index(db), [str(path)], limits, cluster.scheduler_address, split_min=64 * 1024)
    assert {f.canary_id: f.confidence for f in whole.findings} == {"sw0000": "low", "sw0001": "medium", "sw0003": "low"}
    assert all(f.structured for f in whole.findings)
    assert _graded(split) == _graded(whole)
    assert _graded(remote) == _graded(whole)
    assert (split.files, split.bytes) == (remote.files, remote.bytes) == (whole.files, whole.bytes)
