"""Stopping the callback listener right after it answered: the stop must never fail (it once wrote to
waitress's wake-up pipe after the loop thread, woken by the request's own wake-up, had closed it)."""

from __future__ import annotations

import http.client
import sys

from canary.watch.tripwire.services import CallbackService


def test_stopping_just_after_an_answer_never_fails(start_listeners, canaries) -> None:
    first = start_listeners()["CallbackService"]
    token = canaries[0]["token"]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads switch as often as they can: the race shows in a few stops
    try:
        for _ in range(100):
            service = CallbackService(first.writer, first.config, "127.0.0.1", 0, threads=4)
            service.start()
            conn = http.client.HTTPConnection("127.0.0.1", service.port, timeout=5)
            conn.request("POST", f"/mon-espace/documents/{token}", body=b"x=1")
            assert conn.getresponse().status == 200
            conn.close()
            service.stop()  # raised OSError(EBADF) when the race was lost
            assert service.ready() == "not serving"
    finally:
        sys.setswitchinterval(interval)
