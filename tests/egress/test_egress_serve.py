"""``canary serve --icap --milter`` builds both services from its options and settings."""

from __future__ import annotations

import socket
import struct

import pytest

from canary.errors import CanaryError
from canary.serve import ServeContext, start_all, stop_all
from canary.settings import set_setting
from canary.store import open_db
from canary.web.runner import build_services, serve_options
from tests.support.peers.icap import RawIcap


def test_serve_options_start_both_services_sharing_one_index(registry):
    names = {opt for option in serve_options() for opt in option.opts}
    assert {"--icap", "--icap-port", "--milter", "--milter-port"} <= names
    services = build_services(ServeContext(registry[0]), {"icap": True, "icap_port": 0, "milter": True,
                                                          "milter_port": 0})
    egress = [s for s in services if s.name.startswith("egress")]
    assert [s.name for s in egress] == ["egress icap service", "egress milter"]
    started = start_all(egress)
    try:
        icap, milter = egress
        assert icap.inspector is milter.inspector
        client = RawIcap(icap.port)
        client.send(b"OPTIONS icap://127.0.0.1/reqmod ICAP/1.0\r\nHost: x\r\n\r\n")
        assert client.read_answer()[0] == 200
        client.close()
        with socket.create_connection(("127.0.0.1", milter.port), timeout=5) as sock:
            sock.sendall(struct.pack("!I", 13) + b"O" + struct.pack("!III", 6, 0, 0))
            assert sock.recv(64)[4:5] == b"O"
    finally:
        stop_all(started)


def test_no_flag_no_service(registry):
    assert [s for s in build_services(ServeContext(registry[0]), {}) if s.name.startswith("egress")] == []


def test_bad_block_action_is_one_clear_error(tmp_path):
    path = tmp_path / "canary.db"
    db = open_db(path)
    set_setting(db, "egress.mail_block_action", "bounce")
    db.close()
    with pytest.raises(CanaryError, match="egress.mail_block_action"):
        build_services(ServeContext(path), {"milter": True, "milter_port": 0})
