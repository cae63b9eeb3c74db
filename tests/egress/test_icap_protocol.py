"""The ICAP service against a raw client: the protocol's corners and hostile input (no proxy needed)."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from canary.watch.egress.icap import IcapService
from tests.support.egress import csv_rows, events_for, passed_counts, start_icap
from tests.support.peers.icap import RawIcap, chunked, icap_request
from tests.support.wait import wait_for


@pytest.fixture
def quick_icap(registry) -> Iterator[IcapService]:
    """A service that gives up on a silent peer after half a second, with a 1 MiB limit."""
    service = start_icap(registry[0], io_timeout=0.5, max_body_bytes=1024 * 1024)
    yield service
    service.stop()


def head_for(url_path: str, content_type: str = "text/csv") -> bytes:
    return (f"POST http://exfil.example.net{url_path} HTTP/1.1\r\nHost: exfil.example.net\r\n"
            f"Content-Type: {content_type}\r\n\r\n").encode()


def still_serving(service: IcapService) -> None:
    client = RawIcap(service.port)
    client.send(b"OPTIONS icap://127.0.0.1/reqmod ICAP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
    status, headers, _, _ = client.read_answer()
    client.close()
    assert status == 200 and headers["methods"] == "REQMOD"


def test_options_name_the_method_of_each_service(icap_monitor):
    client = RawIcap(icap_monitor.port)
    for service, method in (("reqmod", "REQMOD"), ("respmod", "RESPMOD")):
        client.send(f"OPTIONS icap://127.0.0.1/{service} ICAP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode())
        status, headers, _, _ = client.read_answer()
        assert status == 200 and headers["methods"] == method
        assert headers["allow"] == "204" and int(headers["preview"]) > 0 and headers["istag"].startswith('"')
    client.close()


def test_echo_without_204_and_many_requests_on_one_connection(icap_monitor, registry):
    db_path, canaries = registry
    client = RawIcap(icap_monitor.port)
    bodies = []
    for i in range(3):
        path = f"/echo/{uuid.uuid4().hex}"
        body = csv_rows(canaries[i]) + b"z" * 100_000
        head, http = icap_request("REQMOD", "reqmod", body, http_head=head_for(path), allow_204=False, preview=0)
        client.send(head + http + b"0\r\n\r\n")  # an empty preview, then the body after 100 Continue
        status, _, _, _ = client.read_answer()
        assert status == 100
        client.send(chunked(body, 7000))
        status, headers, echoed_head, echoed = client.read_answer()
        assert status == 200 and echoed_head == http and echoed == body
        bodies.append((path, i))
    client.close()
    for path, i in bodies:
        assert [e["canary_id"] for e in events_for(db_path, path)] == [canaries[i]["id"]]


def test_respmod_body_is_matched(icap_monitor, registry):
    db_path, canaries = registry
    path = f"/resp/{uuid.uuid4().hex}"
    req = f"GET http://webmail.example.net{path} HTTP/1.1\r\nHost: webmail.example.net\r\n\r\n".encode()
    res = b"HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\n\r\n"
    body = csv_rows(canaries[1])
    head = (f"RESPMOD icap://127.0.0.1/respmod ICAP/1.0\r\nHost: x\r\nAllow: 204\r\n"
            f"Encapsulated: req-hdr=0, res-hdr={len(req)}, res-body={len(req) + len(res)}\r\n\r\n").encode()
    client = RawIcap(icap_monitor.port)
    client.send(head + req + res + chunked(body))
    assert client.read_answer()[0] == 204
    client.close()
    events = events_for(db_path, path)
    assert [(e["canary_id"], e["details"]["icap"], e["details"]["destination"]) for e in events] == \
        [(canaries[1]["id"], "RESPMOD", "webmail.example.net")]


@pytest.mark.parametrize("garbage", [
    b"REQMOD icap://127.0.0.1/reqmod HTTP/1.1\r\n\r\n",
    b"REQMOD icap://127.0.0.1/reqmod ICAP/1.0\r\nHost 127.0.0.1\r\n\r\n",
    b"REQMOD icap://127.0.0.1/reqmod ICAP/1.0\r\nEncapsulated: req-hdr=0, req-body=banana\r\n\r\n",
    b"REQMOD icap://127.0.0.1/reqmod ICAP/1.0\r\nEncapsulated: req-hdr=0, req-body=99999999\r\n\r\n",
    b"REQMOD icap://127.0.0.1/reqmod ICAP/1.0\r\n" + b"X: " + b"a" * 20000 + b"\r\n\r\n",
], ids=["wrong version", "header without colon", "bad offset", "huge offset", "endless header"])
def test_malformed_request_is_answered_400(quick_icap, garbage, caplog):
    caplog.set_level(logging.WARNING, logger="canary.egress")
    client = RawIcap(quick_icap.port)
    client.send(garbage)
    status, _, _, _ = client.read_answer()
    assert status == 400
    assert client.closed()
    client.close()
    assert len([r for r in caplog.records if "bad request" in r.getMessage()]) == 1
    still_serving(quick_icap)


def test_preview_longer_than_announced_is_answered_400_without_reading_on(quick_icap):
    head, http = icap_request("REQMOD", "reqmod", b"x", preview=1024)
    client = RawIcap(quick_icap.port)
    # 64 MiB announced in one chunk of a 1 KiB preview: refused after the first piece, not spooled.
    client.send(head + http + b"4000000\r\n" + b"a" * 300_000)
    assert client.read_answer()[0] == 400
    client.close()
    still_serving(quick_icap)


def test_bad_chunk_size_is_answered_400(quick_icap):
    head, http = icap_request("REQMOD", "reqmod", b"x")
    client = RawIcap(quick_icap.port)
    client.send(head + http + b"zz\r\nabc\r\n0\r\n\r\n")
    assert client.read_answer()[0] == 400
    client.close()
    still_serving(quick_icap)


def test_truncated_chunk_is_logged_and_counted(quick_icap, registry, caplog):
    caplog.set_level(logging.WARNING, logger="canary.egress")
    before = passed_counts(registry[0]).get(("egress-web", "protocol_error"), (0, 0))[0]
    head, http = icap_request("REQMOD", "reqmod", b"x")
    client = RawIcap(quick_icap.port)
    client.send(head + http + b"1000\r\n" + b"a" * 100)  # 4096 announced, 100 sent, then gone
    client.close()
    wait_for(lambda: passed_counts(registry[0]).get(("egress-web", "protocol_error"), (0, 0))[0] != before,
             timeout=5)
    assert len([r for r in caplog.records if "mid-request" in r.getMessage()]) == 1
    still_serving(quick_icap)


def test_client_stopping_mid_preview_gets_408_in_time(quick_icap, caplog):
    caplog.set_level(logging.WARNING, logger="canary.egress")
    head, http = icap_request("REQMOD", "reqmod", b"x", preview=4096)
    client = RawIcap(quick_icap.port)
    started = time.monotonic()
    client.send(head + http + b"800\r\n" + b"a" * 1000)  # half a preview chunk, then silence
    status, headers, _, _ = client.read_answer()
    waited = time.monotonic() - started
    assert status == 408 and headers["connection"] == "close"
    assert waited < 5  # io_timeout is 0.5 s; generous under load
    assert client.closed()
    client.close()
    assert len([r for r in caplog.records if "no data" in r.getMessage()]) == 1
    still_serving(quick_icap)


@pytest.mark.parametrize("allow_204", [True, False])
def test_body_over_the_limit_passes_unheld(quick_icap, registry, allow_204):
    """8 MiB through a 1 MiB limit: answered (204 or the same bytes), counted, not matched."""
    db_path, canaries = registry
    before = passed_counts(db_path).get(("egress-web", "over_limit"), (0, 0))[0]
    path = f"/huge/{uuid.uuid4().hex}"
    body = csv_rows(canaries[0]) + b"y" * (8 * 1024 * 1024)
    head, http = icap_request("REQMOD", "reqmod", body, http_head=head_for(path), allow_204=allow_204)
    client = RawIcap(quick_icap.port)
    # The answer flows back while the body is sent, as a proxy does it: send from another thread.
    sender = threading.Thread(target=client.send, args=(head + http + chunked(body, 1 << 20),))
    sender.start()
    status, _, _, echoed = client.read_answer()
    sender.join(10)
    client.close()
    if allow_204:
        assert status == 204
    else:
        assert status == 200 and echoed == body
    assert passed_counts(db_path)[("egress-web", "over_limit")][0] == before + 1
    assert events_for(db_path, path) == []


def test_past_the_deadline_the_upload_passes_and_the_match_still_records(registry, caplog):
    db_path, canaries = registry
    service = start_icap(db_path, deadline=0.0)
    try:
        service.inspector.scanner()  # loaded: only the match itself is late
        before = passed_counts(db_path).get(("egress-web", "timeout"), (0, 0))[0]
        path = f"/late/{uuid.uuid4().hex}"
        # 2 MB of other rows before the canary's: the match cannot end before a 0 s deadline is checked
        # (a tiny body could, and then it rightly counts as in time).
        body = b"".join(f"DURAND{i};Paul;1970-01-01;;\n".encode() for i in range(80_000)) + csv_rows(canaries[3])
        head, http = icap_request("REQMOD", "reqmod", body, http_head=head_for(path))
        client = RawIcap(service.port)
        client.send(head + http + chunked(body))
        assert client.read_answer()[0] == 204
        client.close()
        assert passed_counts(db_path)[("egress-web", "timeout")][0] == before + 1
        events = wait_for(lambda: events_for(db_path, path), timeout=5)
        assert events[0]["details"]["late"] is True and events[0]["action"] == "passed"
    finally:
        service.stop()


def test_unknown_method_is_answered_501_and_closed(quick_icap):
    client = RawIcap(quick_icap.port)
    client.send(b"PATCH icap://127.0.0.1/reqmod ICAP/1.0\r\nHost: x\r\nEncapsulated: req-body=0\r\n\r\n5\r\nhello\r\n")
    assert client.read_answer()[0] == 501
    assert client.closed()
    client.close()
    still_serving(quick_icap)


def test_connections_past_the_cap_get_503(registry):
    import dataclasses

    from canary.watch.egress.inspect import EgressConfig, Inspector

    config = dataclasses.replace(EgressConfig(), io_timeout=5.0)
    service = IcapService(registry[0], "127.0.0.1", 0, Inspector(registry[0], config=config), max_connections=2)
    service.start()
    try:
        held = [RawIcap(service.port) for _ in range(2)]
        for client in held:  # both connections are being served (an answered OPTIONS proves it)
            client.send(b"OPTIONS icap://127.0.0.1/reqmod ICAP/1.0\r\nHost: x\r\n\r\n")
            status, headers, _, _ = client.read_answer()
            assert status == 200 and headers["max-connections"] == "2"
        extra = RawIcap(service.port)
        assert extra.read_answer()[0] == 503 and extra.closed()
        extra.close()
        held.pop().close()

        def options_answered() -> bool:
            again = RawIcap(service.port)
            again.send(b"OPTIONS icap://127.0.0.1/reqmod ICAP/1.0\r\nHost: x\r\n\r\n")
            try:
                return again.read_answer()[0] == 200
            finally:
                again.close()

        # A slot frees when the closed connection's thread ends.
        wait_for(options_answered, timeout=5, interval=0.05)
        for client in held:
            client.close()
    finally:
        service.stop()


def _many_empty_members(canary_rows: bytes, count: int = 10_000) -> bytes:
    """The issue's zip, smaller (its 100,000 members take tens of seconds to walk here: bench/egress_zip.py
    runs that one, against the default deadline): empty members, then the canary's rows."""
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for i in range(count):
            archive.writestr(f"vide/{i:06d}.txt", b"")
        archive.writestr("patients.csv", canary_rows)
    return buffer.getvalue()


@pytest.mark.parametrize("fail_closed", [True, False], ids=["fail closed", "fail open"])
def test_in_block_mode_a_body_the_deadline_cannot_finish_is_refused(registry, fail_closed):
    """A zip of many empty members plus the canary takes longer than the deadline: in block mode it is
    refused and counted (egress.fail_closed, the default), or let through and counted when set off; the
    match still goes on, bounded, and records what it finds."""
    from tests.support.wait import wait_for

    db_path, canaries = registry
    service = start_icap(db_path, block=True, deadline=0.05, fail_closed=fail_closed, max_body_bytes=64 << 20)
    try:
        service.inspector.scanner()
        reason = "timeout_blocked" if fail_closed else "timeout"
        before = passed_counts(db_path).get(("egress-web", reason), (0, 0))[0]
        path = f"/bomb/{uuid.uuid4().hex}"
        body = _many_empty_members(csv_rows(canaries[2]))
        head, http = icap_request("REQMOD", "reqmod", body, http_head=head_for(path, "application/zip"))
        client = RawIcap(service.port, timeout=30)
        client.send(head + http + chunked(body))
        status, _headers, encapsulated, page = client.read_answer()
        client.close()
        if fail_closed:
            assert status == 200 and b"403 Forbidden" in encapsulated and "bloqué".encode() in page
        else:
            assert status == 204
        assert passed_counts(db_path)[("egress-web", reason)][0] == before + 1
        events = wait_for(lambda: events_for(db_path, path), timeout=120)
        assert [(e["canary_id"], e["action"], e["details"]["late"]) for e in events] == [
            ("eg0002", "blocked" if fail_closed else "passed", True)]
    finally:
        service.stop()


def test_one_client_flooding_the_service_is_refused_alone(registry):
    """300 idle connections from one address made ICAP answer 503 to everyone (Squid then fails open):
    one client may hold three quarters of the connections at most, the rest stay for the others."""
    import contextlib
    import dataclasses
    import socket

    from canary.watch.egress.inspect import EgressConfig, Inspector

    config = dataclasses.replace(EgressConfig(), io_timeout=5.0)
    service = IcapService(registry[0], "127.0.0.1", 0, Inspector(registry[0], config=config), max_connections=8)
    service.start()
    flood = []
    try:
        for _ in range(12):  # idle connections from 127.0.0.1
            flood.append(socket.create_connection(("127.0.0.1", service.port), timeout=5))
        refused = 0
        for conn in flood:
            conn.settimeout(0.5)
            with contextlib.suppress(TimeoutError):  # a timeout: held by the service, waiting for a request
                refused += conn.recv(64).startswith(b"ICAP/1.0 503")
        assert refused == 12 - 6
        other = socket.socket()
        other.bind(("127.0.0.2", 0))  # another client (the proxy) still gets an answer
        other.settimeout(5)
        other.connect(("127.0.0.1", service.port))
        other.sendall(b"OPTIONS icap://127.0.0.1/reqmod ICAP/1.0\r\nHost: x\r\n\r\n")
        assert other.recv(64).startswith(b"ICAP/1.0 200")
        other.close()
    finally:
        for conn in flood:
            conn.close()
        service.stop()


def test_accept_errors_are_paced_counted_and_logged_once(quick_icap, caplog):
    """Out of descriptors (Errno 24), accept fails on every try: socketserver retried at once, in a
    loop that took a core from every other listener, and said nothing. Now each failure is counted and
    followed by a pause, one log line says so, and the connection waiting in the backlog is served
    once descriptors are back."""
    import socket

    from canary.socket_caps import ACCEPT_PAUSE_SECONDS
    from tests.support.descriptors import out_of_descriptors
    from tests.support.wait import wait_for

    caplog.set_level(logging.WARNING, logger="canary.egress")
    with out_of_descriptors() as descriptors:
        descriptors.free(1)
        client = socket.socket()  # the last free descriptor: the service's accept finds none
        client.settimeout(10)
        client.connect(("127.0.0.1", quick_icap.port))
        began = time.monotonic()
        first = wait_for(lambda: quick_icap.connection_tally()["accept_errors"])
        failures = wait_for(lambda: (n := quick_icap.connection_tally()["accept_errors"]) >= first + 3 and n)
        elapsed = time.monotonic() - began
    # Paced: a pause follows each failure (a loaded machine only makes the count smaller).
    assert failures <= elapsed / ACCEPT_PAUSE_SECONDS + 2, (failures, elapsed)
    client.sendall(b"OPTIONS icap://127.0.0.1/reqmod ICAP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
    assert client.recv(64).startswith(b"ICAP/1.0 200")
    client.close()
    lines = [r for r in caplog.records if "connections not accepted" in r.getMessage()]
    assert len(lines) == 1 and "errno 24" in lines[0].getMessage() and lines[0].exc_info is None
