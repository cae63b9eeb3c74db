"""Each line format, the syslog header forms, TCP framing and timestamps."""

from __future__ import annotations

import json

import pytest

from canary.errors import CanaryError
from canary.watch.accesslog.model import Malformed
from canary.watch.accesslog.parsers import build_parser, parse_field_options
from canary.watch.accesslog.syslog import TcpFramer, header_of, message_texts, parse_syslog, parse_syslog_general
from canary.watch.accesslog.timeparse import parse_duration, parse_log_time, zone

PARIS = zone("Europe/Paris")


# --- mediboard profile -----------------------------------------------------------------------------

def test_mediboard_reads_the_documented_line() -> None:
    parse = build_parser("mediboard")
    entry = parse("2026-11-14 09:32:11+01:00 user=jdupont ip=10.2.3.4 action=dPpatients.vw_full_patients "
                  "ipp=40000012 module=dPpatients")
    assert (entry.account, entry.patients, entry.action, entry.ip) == (
        "jdupont", ["40000012"], "dPpatients.vw_full_patients", "10.2.3.4")
    assert parse_log_time(entry.time, PARIS) == "2026-11-14T08:32:11.000Z"


def test_mediboard_is_tolerant_of_case_aliases_quotes_separators_and_lists() -> None:
    parse = build_parser("mediboard")
    entry = parse('Nov 14 09:32:11 srv-dpi mediboard[812]: USER="Jean Dupont" | Remote_Addr=10.0.0.9 ; '
                  'type=export object=CPatient-77 patient_ipp=40000001,40000002 nir="2 69 05 49 588 157 80"')
    assert entry.account == "Jean Dupont"
    assert entry.ip == "10.0.0.9"
    assert entry.action == "export"
    assert entry.patients == ["CPatient-77", "77", "40000001", "40000002", "2 69 05 49 588 157 80"]
    json_entry = parse('{"utilisateur": "mmartin", "ipp": "40000003", "action": "print", '
                       '"date": "2026-11-14T10:00:00Z"}')
    assert (json_entry.account, json_entry.patients, json_entry.time) == ("mmartin", ["40000003"],
                                                                         "2026-11-14T10:00:00Z")


@pytest.mark.parametrize("line", ["garbage without pairs", "2026-11-14 ipp=40000001 action=view", "{not json"])
def test_mediboard_malformed_lines_raise_malformed(line: str) -> None:
    with pytest.raises(Malformed):
        build_parser("mediboard")(line)


# --- regex ---------------------------------------------------------------------------------------

def test_regex_named_groups() -> None:
    parse = build_parser("regex", r"^(?P<time>\S+ \S+) (?P<ip>\S+) (?P<user>\w+) (?P<action>\w+) IPP:(?P<ipp>\d+)$")
    entry = parse("2026-11-14 09:00:00 10.1.1.1 jdupont consult IPP:40000004")
    assert (entry.account, entry.patients, entry.action, entry.ip) == ("jdupont", ["40000004"], "consult", "10.1.1.1")
    with pytest.raises(Malformed):
        parse("something else")


@pytest.mark.parametrize("pattern", [None, "(?P<user>\\w+", r"(?P<user>\w+)", r"(?P<who>\w+) (?P<patient>\d+)"])
def test_regex_bad_configuration_is_an_operator_error(pattern: str | None) -> None:
    with pytest.raises(CanaryError):
        build_parser("regex", pattern)


# --- JSON lines ----------------------------------------------------------------------------------

def test_jsonl_default_keys_and_field_paths() -> None:
    assert build_parser("jsonl")('{"user": "a", "patient": "40000001", "action": "read"}').patients == ["40000001"]
    fields = parse_field_options(["account=actor.login", "patient=subjects.ipp", "patient=nir", "time=ts",
                                  "ip=net.0.addr", "action=what"])
    parse = build_parser("jsonl", fields=fields)
    line = json.dumps({"actor": {"login": "etl"}, "subjects": [{"ipp": "40000001"}, {"ipp": "40000002"}],
                       "nir": "269054958815780", "ts": "2026-11-14T09:00:00+01:00",
                       "net": [{"addr": "10.9.9.9"}], "what": "search"})
    entry = parse(line)
    assert entry.account == "etl"
    assert entry.patients == ["40000001", "40000002", "269054958815780"]
    assert (entry.ip, entry.action, entry.time) == ("10.9.9.9", "search", "2026-11-14T09:00:00+01:00")
    for bad in ("[1, 2]", '{"user": ', "plain text"):
        with pytest.raises(Malformed):
            parse(bad)


def test_field_options_are_checked() -> None:
    with pytest.raises(CanaryError):
        parse_field_options(["colour=x"])
    with pytest.raises(CanaryError):
        parse_field_options(["account=a", "user=b"])
    assert parse_field_options(["user=login"]) == {"account": ["login"]}


# --- CSV -----------------------------------------------------------------------------------------

def test_csv_default_columns_and_learned_header() -> None:
    parse = build_parser("csv")
    entry = parse("2026-11-14 09:00:00,jdupont,40000001,view,10.0.0.1")
    assert (entry.account, entry.patients, entry.action, entry.ip) == ("jdupont", ["40000001"], "view", "10.0.0.1")
    assert parse("ip;patient;login") is None  # header: learned, not an access
    entry = parse("10.0.0.2;40000002;mmartin")
    assert (entry.account, entry.patients, entry.ip) == ("mmartin", ["40000002"], "10.0.0.2")


def test_csv_named_fields_need_their_header() -> None:
    parse = build_parser("csv", fields=parse_field_options(["patient=IPP", "account=Utilisateur"]))
    with pytest.raises(Malformed):
        parse("40000001,jdupont")
    assert parse('Date,Utilisateur,"IPP"') is None
    assert parse("2026-11-14,jdupont,40000001").patients == ["40000001"]
    indexed = build_parser("csv", fields=parse_field_options(["patient=0", "account=1"]))
    assert indexed('40000001,"Dupont, Jean"').account == "Dupont, Jean"


# --- FHIR AuditEvent ---------------------------------------------------------------------------------

def test_fhir_auditevent_line() -> None:
    resource = {
        "resourceType": "AuditEvent", "id": "ae1", "recorded": "2026-11-14T09:00:00+01:00", "action": "R",
        "type": {"code": "rest"}, "subtype": [{"code": "read"}],
        "agent": [{"requestor": False, "who": {"display": "server"}},
                  {"requestor": True, "who": {"identifier": {"value": "jdupont"}},
                   "network": {"address": "10.4.4.4", "type": "2"}}],
        "entity": [{"what": {"reference": "Patient/123"}},
                   {"what": {"identifier": {"system": "urn:oid:1.2.250.1.213.1.4.8", "value": "269054958815780"}}}],
    }
    entry = build_parser("fhir-auditevent")(json.dumps(resource))
    assert (entry.account, entry.action, entry.ip) == ("jdupont", "read", "10.4.4.4")
    assert entry.patients == ["Patient/123", "269054958815780"]
    with pytest.raises(Malformed):
        build_parser("fhir-auditevent")('{"resourceType": "Patient"}')


# --- syslog ----------------------------------------------------------------------------------------

def test_syslog_rfc5424_with_structured_data_and_bom() -> None:
    frame = ('<134>1 2026-11-14T09:32:11.5+01:00 srv-dpi mediboard 812 ACCESS '
             '[meta x="a\\]b"][origin ip="10.0.0.1"] \ufeffuser=jdupont ipp=40000001').encode()
    message = parse_syslog(frame)
    assert message.msg == "user=jdupont ipp=40000001"
    assert (message.hostname, message.app, message.timestamp) == ("srv-dpi", "mediboard",
                                                                  "2026-11-14T09:32:11.5+01:00")
    nil = parse_syslog(b"<134>1 - - - - - - user=a ipp=1\n")
    assert (nil.msg, nil.timestamp, nil.hostname) == ("user=a ipp=1", None, None)


def test_syslog_rfc3164_and_bare_python_handler_frames() -> None:
    message = parse_syslog(b"<38>Nov 14 09:32:11 srv-dpi mediboard[812]: user=jdupont ipp=40000001")
    assert (message.msg, message.hostname, message.app, message.timestamp) == (
        "user=jdupont ipp=40000001", "srv-dpi", "mediboard", "Nov 14 09:32:11")
    assert parse_syslog(b"<14>user=jdupont ipp=40000001\x00").msg == "user=jdupont ipp=40000001"
    assert parse_syslog(b"no header at all").msg == "no header at all"


@pytest.mark.parametrize("frame", [
    b"<38>Nov 14 09:32:11 srv-dpi mediboard[812]: user=jdupont ipp=40000001",
    b"<38>Nov  4 09:32:11 srv-dpi mediboard: user=jdupont ipp=40000001\r\n\x00",
    b"<38>Nov 14 09:32:11 srv-dpi mediboard:user=a",
    b"<38>Nov 14 09:32:11 srv-dpi mediboard[812] user=a",  # no colon: no tag
    b"<38>Nov 14 09:32:11 srv-dpi " + b"t" * 49 + b": user=a",  # a tag longer than 48 is no tag
    b"<38>Nov 14 09:32:11 srv-d\xc3\xa9pi m\xff[1]: user=\xff",  # UTF-8 and bytes that are not
    b"<38>Nov 14 09:32:11 srv-dpi mediboard[812]: line one\nline two",
    b"<999>Nov 14 09:32:11 h a: x", b"<1000>Nov 14 09:32:11 h a: x", b"<38>nov 14 09:32:11 h a: x",
    b"<38>Nov 14 9:32:11 h a: x", b"<134>1 2026-11-14T09:32:11Z h a - - - x", b"<14>Nov 14 09:32:11 h",
])
def test_syslog_shortcut_for_the_common_frame_agrees_with_the_general_parser(frame: bytes) -> None:
    assert parse_syslog(frame) == parse_syslog_general(frame)
    texts, heads = message_texts([frame])  # what the receiver uses: the header read for a hit only
    assert texts == [parse_syslog_general(frame).msg]
    assert header_of(heads[0]) == parse_syslog_general(frame)


def test_tcp_framer_octet_counting_and_trailers_across_reads() -> None:
    framer = TcpFramer()
    first = b"<14>1 - h a - - - hello"
    stream = f"{len(first)} ".encode() + first + b"<14>line two\n<14>line three\x00<14>par"
    frames, bad = framer.feed(stream[:10])
    assert frames == [] and bad == 0
    frames, bad = framer.feed(stream[10:])
    assert frames == [first, b"<14>line two", b"<14>line three"] and bad == 0
    frames, _ = framer.feed(b"tial")
    assert frames == []
    assert framer.close() == [b"<14>partial"]
    frames, bad = framer.feed(b"99999999 toolong\n<14>ok\n")
    assert bad == 1 and frames == [b"<14>ok"]


def test_tcp_framer_gives_the_same_frames_whatever_the_read_boundaries() -> None:
    counted = b"<14>1 2026-11-14T09:32:11Z h a - - - user=a ipp=1\nwith a newline inside"
    expected = [counted, b"<38>Nov 14 09:33:11 h m: user=b ipp=2", b"2026-11-14 09:00:00 user=c ipp=3",
                b"<14>user=d ipp=4", counted, b"<38>last\r"]
    stream = (f"{len(counted)} ".encode() + counted + b"<38>Nov 14 09:33:11 h m: user=b ipp=2\n"
              + b"2026-11-14 09:00:00 user=c ipp=3\n<14>user=d ipp=4\x00"
              + f"{len(counted)} ".encode() + counted + b"<38>last\r\n")
    for cut in range(1, len(stream)):  # every single split point
        framer = TcpFramer()
        first, _ = framer.feed(stream[:cut])
        second, _ = framer.feed(stream[cut:])
        assert first + second == expected, cut
    framer = TcpFramer()  # one byte per read
    frames = [frame for byte in range(len(stream)) for frame in framer.feed(stream[byte:byte + 1])[0]]
    assert frames == expected


def test_tcp_framer_newline_only_reads_whatever_the_boundaries() -> None:
    """Reads holding only newline-framed messages take a shortcut (one split): same frames, blank
    lines dropped, a digit opening a later read sends it the long way (maybe an octet count)."""
    stream = (b"<38>Nov 14 09:33:11 h m: user=b ipp=2\r\n\n  \n<14>user=d ipp=4\n"
              b"2026-11-14 09:00:00 user=c ipp=3\n<38>last")
    expected = [b"<38>Nov 14 09:33:11 h m: user=b ipp=2\r", b"<14>user=d ipp=4",
                b"2026-11-14 09:00:00 user=c ipp=3"]
    for cut in range(1, len(stream)):
        framer = TcpFramer()
        first, _ = framer.feed(stream[:cut])
        second, _ = framer.feed(stream[cut:])
        assert first + second == expected, cut
        assert framer.close() == [b"<38>last"]
    framer = TcpFramer()
    assert framer.feed(b"<14>" + b"x" * (64 * 1024)) == ([], 1)  # no end in sight past the largest message
    assert framer.feed(b"<14>next\n") == ([b"<14>next"], 0)


def test_tcp_framer_counts_an_octet_counted_frame_cut_short_by_the_peer() -> None:
    framer = TcpFramer()
    assert framer.feed(b"<14>whole\n40 <14>only part of it") == ([b"<14>whole"], 0)
    assert framer.close() == [] and framer.cut_short == 1


# --- time ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "expected"), [
    ("2026-11-14T09:32:11Z", "2026-11-14T09:32:11.000Z"),
    ("2026-11-14 09:32:11,250", "2026-11-14T08:32:11.250Z"),
    ("2026-07-14 09:32:11", "2026-07-14T07:32:11.000Z"),
    ("[14/Nov/2026:09:32:11 +0100]", "2026-11-14T08:32:11.000Z"),
    ("14/11/2026 09:32:11", "2026-11-14T08:32:11.000Z"),
    ("1794648731", "2026-11-14T09:32:11.000Z"),
    ("no time here", None),
])
def test_log_times(raw: str, expected: str | None) -> None:
    assert parse_log_time(raw, PARIS) == expected


def test_durations() -> None:
    assert parse_duration("10m").total_seconds() == 600
    assert parse_duration("90").total_seconds() == 90
    with pytest.raises(CanaryError):
        parse_duration("soon")


def test_tcp_framer_reads_header_less_lines_starting_with_a_date() -> None:
    framer = TcpFramer()
    frames, bad = framer.feed(b"2026-11-14 09:00:00 user=a ipp=1\n12 <14>hello ab")
    assert (frames, bad) == ([b"2026-11-14 09:00:00 user=a ipp=1", b"<14>hello ab"], 0)


def test_mediboard_dash_means_no_value() -> None:
    entry = build_parser("mediboard")("2026-11-14 09:00:00 user=a ip=- action=- ipp=40000001")
    assert (entry.ip, entry.action) == (None, None)
