"""The HTTP callback listener driven by a real client (requests) over loopback."""

from __future__ import annotations

import contextlib
import socket

import pytest
import requests

from canary.store.events import list_events


def _url(listeners, path: str) -> str:
    return f"http://127.0.0.1:{listeners['CallbackService'].port}{path}"


def test_valid_and_invalid_tokens_get_byte_identical_answers(start_listeners, canaries, db):
    listeners = start_listeners()
    token = canaries[0]["token"]
    fake = "abcdefghijklmnopqrst"
    for path in ("/mon-espace/documents/{}", "/mon-espace/documents/{}/entete.gif", "/d/{}?ref=mail"):
        real = requests.get(_url(listeners, path.format(token)), timeout=5)
        made_up = requests.get(_url(listeners, path.format(fake)), timeout=5)
        assert real.status_code == made_up.status_code == 200
        assert real.content == made_up.content
        strip = {"Date"}
        assert {k: v for k, v in real.headers.items() if k not in strip} == \
               {k: v for k, v in made_up.headers.items() if k not in strip}
        assert b"canary" not in real.content.lower()
        assert "canary" not in str(real.headers).lower()
    gif = requests.get(_url(listeners, f"/img/{token}.gif"), timeout=5)
    assert gif.headers["Content-Type"] == "image/gif" and gif.content.startswith(b"GIF89a")
    events = list_events(db, channel="http")
    assert len(events) == 4  # three pages and the image, all for the real token only
    assert {e["canary_id"] for e in events} == {canaries[0]["id"]}


def test_hit_is_committed_before_the_answer_with_what_was_seen(start_listeners, canaries, db):
    listeners = start_listeners()
    canary = canaries[1]
    response = requests.get(_url(listeners, f"/mon-espace/documents/{canary['token']}?x=1"), timeout=5,
                            headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
                                     "Referer": "https://forum.example/thread/42",
                                     "X-Forwarded-For": "198.51.100.9"})
    assert response.status_code == 200
    # No waiting: the answer came after the commit.
    events = list_events(db, channel="http")
    assert len(events) == 1
    event = events[0]
    assert event["canary_id"] == canary["id"] and event["system"] == "ehr-test"
    assert event["severity"] == "high"
    assert event["source"] == "127.0.0.1"  # X-Forwarded-For from an untrusted peer is not believed
    details = event["details"]
    assert details["method"] == "GET" and details["path"].endswith(f"{canary['token']}?x=1")
    assert details["user_agent"].startswith("Mozilla/5.0") and details["referer"] == "https://forum.example/thread/42"
    assert details["group"].startswith("tripwire:http:from:")  # grouped by client


def test_forwarded_for_is_honoured_from_a_trusted_proxy(start_listeners, canaries, db):
    from canary.settings import set_setting

    set_setting(db, "tripwire.trusted_proxies", "127.0.0.0/8")
    listeners = start_listeners()
    requests.get(_url(listeners, f"/x/{canaries[0]['token']}"), timeout=5,
                 headers={"X-Forwarded-For": "203.0.113.50, 127.0.0.5"})
    assert list_events(db, channel="http")[0]["source"] == "203.0.113.50"


def test_previewers_are_low_and_ignore_rules_info_never_dropped(start_listeners, canaries, db, cli):
    assert cli("tripwire", "ignore", "add", "--user-agent", "HealthCheck/", "--note", "our monitoring").exit_code == 0
    listeners = start_listeners()
    url = _url(listeners, f"/mon-espace/documents/{canaries[0]['token']}")
    requests.get(url, timeout=5, headers={"User-Agent": "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"})
    requests.head(url, timeout=5, headers={"User-Agent": "Mozilla/5.0"})
    requests.get(url, timeout=5, headers={"User-Agent": "HealthCheck/2.1"})
    requests.get(url, timeout=5, headers={"User-Agent": "Mozilla/5.0 (Windows NT 10.0) Chrome/130"})
    events = list_events(db, channel="http")
    assert [e["severity"] for e in events] == ["low", "low", "info", "high"]
    assert events[0]["details"]["noise"].startswith("previewer-user-agent")
    assert events[1]["details"]["noise"] == "head-request"
    assert events[2]["details"]["ignored_by"]["value"] == "HealthCheck/"


def test_garbage_requests_never_break_the_listener(start_listeners, canaries, db):
    listeners = start_listeners()
    port = listeners["CallbackService"].port
    for garbage in (b"\x00\xff\xfe garbage\r\n\r\n", b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n",
                    b"POST / HTTP/1.1\r\nContent-Length: -5\r\n\r\n", b"GET / HTTP/1.1\r\nHost: \xff\xfe\r\n\r\n"):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(garbage)
            sock.shutdown(socket.SHUT_WR)
            with contextlib.suppress(OSError):
                sock.recv(4096)
    huge = requests.post(_url(listeners, f"/x/{canaries[0]['token']}"), data=b"x" * 200_000, timeout=5)
    assert huge.status_code in (200, 413)
    assert requests.get(_url(listeners, f"/x/{canaries[0]['token']}"), timeout=5).status_code == 200
    assert list_events(db, channel="http")[-1]["canary_id"] == canaries[0]["id"]


def test_the_callback_app_exposes_no_console_route(start_listeners, configured):
    listeners = start_listeners()
    for path in ("/auth/login", "/login", "/", "/static/app.css"):
        response = requests.get(_url(listeners, path), timeout=5)
        assert b"Espace patient" in response.content or response.headers["Content-Type"] == "image/gif"
        assert b"password_hash" not in response.content and b"admin" not in response.content


def test_a_word_opening_fetching_a_document_picture_is_high(start_listeners, canaries, db):
    """Word fetches linked pictures with a user agent containing ms-office, a previewer fragment."""
    listeners = start_listeners()
    token = canaries[0]["token"]
    word = {"User-Agent": "Mozilla/4.0 (compatible; ms-office; MSOffice 16)"}
    picture = requests.get(_url(listeners, f"/mon-espace/documents/{token}/entete.gif"), timeout=5, headers=word)
    assert picture.headers["Content-Type"] == "image/gif"
    # The same user agent on a page (a link pasted in Teams, an Office link check) stays low.
    requests.get(_url(listeners, f"/mon-espace/documents/{token}"), timeout=5, headers=word)
    events = list_events(db, channel="http")
    assert [e["severity"] for e in events] == ["high", "low"]
    assert "noise" not in events[0]["details"]
    assert events[0]["details"]["path_kind"] == "document-picture"
    assert events[1]["details"]["noise"] == "previewer-user-agent:ms-office"


def test_document_pictures_keep_the_network_range_classes(start_listeners, canaries, db):
    from canary.settings import set_setting

    set_setting(db, "tripwire.scanner_networks", "127.0.0.0/8")  # a mail gateway's sandbox opening attachments
    listeners = start_listeners()
    requests.get(_url(listeners, f"/mon-espace/documents/{canaries[0]['token']}/entete.gif"), timeout=5,
                 headers={"User-Agent": "Mozilla/4.0 (compatible; ms-office; MSOffice 16)"})
    [event] = list_events(db, channel="http")
    assert event["severity"] == "low" and event["details"]["noise"] == "scanner-network:127.0.0.0/8"


SANDBOXES = [
    ("/mon-espace/documents/{token}/entete.gif", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Mimecast Sandbox", {},
     "Sandbox"),
    ("/mon-espace/documents/{token}", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "HeadlessChrome/120.0.0.0 Safari/537.36", {}, "HeadlessChrome"),
    ("/mon-espace/documents/{token}/entete.gif", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like "
     "Gecko) HeadlessChrome/120.0.0.0 Safari/537.36", {}, "HeadlessChrome"),
    ("/mon-espace/documents/{token}/entete.gif", "Python-urllib/3.11", {}, "Python-urllib"),
    # A headless Chrome that hides it in its user agent still names itself in its client hints.
    ("/mon-espace/documents/{token}/entete.gif", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/130.0 Safari/537.36",
     {"Sec-CH-UA": '"HeadlessChrome";v="130", "Chromium";v="130"'}, "HeadlessChrome"),
]


@pytest.mark.parametrize(("path", "agent", "headers", "fragment"), SANDBOXES)
def test_headless_and_sandbox_fetchers_are_noise_explained_on_the_event(start_listeners, canaries, db, path, agent,
                                                                       headers, fragment):
    listeners = start_listeners()
    requests.get(_url(listeners, path.format(token=canaries[0]["token"])), timeout=5,
                 headers={"User-Agent": agent, **headers})
    [event] = list_events(db, channel="http")
    assert event["severity"] == "low"
    assert event["details"]["noise"] == f"automated-fetcher:{fragment.lower()}"
    assert fragment in event["details"]["noise_explained"]
    assert "tripwire.automated_are_noise" in event["details"]["noise_explained"]


def test_automated_fetchers_graded_high_when_the_setting_says_so(start_listeners, canaries, db):
    from canary.settings import set_setting

    set_setting(db, "tripwire.automated_are_noise", "false")
    listeners = start_listeners()
    requests.get(_url(listeners, f"/mon-espace/documents/{canaries[0]['token']}/entete.gif"), timeout=5,
                 headers={"User-Agent": "Python-urllib/3.11"})
    [event] = list_events(db, channel="http")
    assert event["severity"] == "high" and "noise" not in event["details"]
