"""Control protocol: newline framing (split/merged any way), validation, limits."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zei.core.protocol import (
    COMMANDS, MAX_REQUEST, Decoder, ProtocolError, encode, parse_reply, parse_request,
)

TOO_LONG = f"request too long (limit {MAX_REQUEST} bytes)"


# ---- framing -------------------------------------------------------------------------------

def test_encode_is_one_compact_line():
    assert encode({"cmd": "status", "service": "web"}) == b'{"cmd":"status","service":"web"}\n'
    assert encode({"msg": "a\nb"}).count(b"\n") == 1


def test_one_frame_byte_by_byte():
    d = Decoder()
    data = b'{"cmd":"list"}\n'
    got = []
    for i in range(len(data)):
        got += d.feed(data[i:i + 1])
        if i < len(data) - 1:
            assert got == []
    assert got == [b'{"cmd":"list"}']


def test_merged_frames_and_a_partial_one():
    d = Decoder()
    assert d.feed(b'{"cmd":"list"}\n{"cmd":"ping"}\n{"cmd":"st') == [b'{"cmd":"list"}', b'{"cmd":"ping"}']
    assert d.feed(b'atus"}\n') == [b'{"cmd":"status"}']
    assert d.buf == b""


def test_blank_lines_are_skipped_and_crlf_tolerated():
    d = Decoder()
    frames = d.feed(b'\n\n  \n{"cmd":"ping"}\r\n')
    assert frames == [b'{"cmd":"ping"}\r']
    assert parse_request(frames[0]) == {"cmd": "ping"}


def test_frame_at_the_limit_is_accepted_one_more_byte_is_not():
    d = Decoder(limit=10)
    assert d.feed(b"x" * 10 + b"\n") == [b"x" * 10]
    with pytest.raises(ProtocolError) as e:
        Decoder(limit=10).feed(b"x" * 11 + b"\n")
    assert str(e.value) == "request too long (limit 10 bytes)"


def test_a_flood_without_newline_is_refused_before_it_ends():
    d = Decoder()
    d.feed(b"x" * MAX_REQUEST)                  # exactly the limit, still waiting
    with pytest.raises(ProtocolError) as e:
        d.feed(b"x")
    assert str(e.value) == TOO_LONG


def test_default_limit_is_small():
    assert Decoder().limit == MAX_REQUEST == 4096


frame_bytes = st.binary(max_size=40).map(lambda b: b.replace(b"\n", b""))


def feed_in_pieces(decoder, data, cuts):
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces = [data[a:b] for a, b in zip([0] + points, points + [len(data)])]
    out = []
    for piece in pieces:
        out += decoder.feed(piece)
    return out


@settings(max_examples=300)
@given(st.lists(frame_bytes, max_size=8), st.binary(max_size=10).map(lambda b: b.replace(b"\n", b"")),
       st.lists(st.integers(0, 10_000), max_size=12))
def test_any_split_gives_the_same_frames(frames, tail, cuts):
    data = b"\n".join(frames) + (b"\n" if frames else b"") + tail
    whole = Decoder(limit=64)
    expected = whole.feed(data)
    assert expected == [f for f in frames if f.strip()]
    split = Decoder(limit=64)
    assert feed_in_pieces(split, data, cuts) == expected
    assert split.buf == whole.buf == tail


@settings(max_examples=200)
@given(st.lists(frame_bytes, max_size=4), st.integers(17, 60), st.lists(st.integers(0, 10_000), max_size=12))
def test_an_over_limit_line_is_refused_however_it_is_split(before, size, cuts):
    data = b"".join(f + b"\n" for f in before) + b"y" * size + b"\n"
    with pytest.raises(ProtocolError):
        feed_in_pieces(Decoder(limit=16), data, cuts)


# ---- requests ------------------------------------------------------------------------------

@pytest.mark.parametrize("req", [
    {"cmd": "list"},
    {"cmd": "ping"},
    {"cmd": "status"},
    {"cmd": "status", "service": None},
    {"cmd": "status", "service": "web"},
    {"cmd": "start", "service": "web"},
    {"cmd": "stop", "service": "web"},
    {"cmd": "restart", "service": "web"},
    {"cmd": "signal", "service": "web", "signal": 1},
    {"cmd": "signal", "service": "web", "signal": 64},
    {"cmd": "list", "extra": "ignored"},
])
def test_valid_requests(req):
    assert parse_request(encode(req).rstrip(b"\n")) == req


ALL = "list, logs, ping, ready, reload, restart, signal, start, status, stop"


@pytest.mark.parametrize("frame,error", [
    (b"hello", "not a JSON request"),
    (b'{"cmd": "list"', "not a JSON request"),
    (b"\xff\xfe{}", "not a JSON request"),
    (b"[" * 3000 + b"]" * 3000, "not a JSON request"),
    (b'{"a":' * 2000 + b"1" + b"}" * 2000, "not a JSON request"),
    (b'["cmd", "list"]', "a request must be a JSON object"),
    (b'"list"', "a request must be a JSON object"),
    (b"42", "a request must be a JSON object"),
    (b"null", "a request must be a JSON object"),
    (b"{}", f"unknown command None; expected one of {ALL}"),
    (b'{"cmd": "reboot"}', f"unknown command 'reboot'; expected one of {ALL}"),
    (b'{"cmd": ["list"]}', f"unknown command ['list']; expected one of {ALL}"),
    (b'{"cmd": "start"}', "start: missing 'service'"),
    (b'{"cmd": "stop"}', "stop: missing 'service'"),
    (b'{"cmd": "restart"}', "restart: missing 'service'"),
    (b'{"cmd": "signal", "service": "web"}', "signal: missing 'signal'"),
    (b'{"cmd": "signal", "signal": 1}', "signal: missing 'service'"),
    (b'{"cmd": "status", "service": 5}', "'service' must be a string"),
    (b'{"cmd": "start", "service": null}', "'service' must be a string"),
    (b'{"cmd": "stop", "service": ["web"]}', "'service' must be a string"),
    (b'{"cmd": "signal", "service": null, "signal": 1}', "'service' must be a string"),
    (b'{"cmd": "signal", "service": "web", "signal": "HUP"}', "'signal' must be a signal number 1-64"),
    (b'{"cmd": "signal", "service": "web", "signal": true}', "'signal' must be a signal number 1-64"),
    (b'{"cmd": "signal", "service": "web", "signal": 0}', "'signal' must be a signal number 1-64"),
    (b'{"cmd": "signal", "service": "web", "signal": 65}', "'signal' must be a signal number 1-64"),
    (b'{"cmd": "signal", "service": "web", "signal": 1.0}', "'signal' must be a signal number 1-64"),
    (b'{"cmd": "signal", "service": "web", "signal": NaN}', "'signal' must be a signal number 1-64"),
])
def test_bad_requests(frame, error):
    with pytest.raises(ProtocolError) as e:
        parse_request(frame)
    assert str(e.value) == error


def test_every_command_is_documented_with_its_fields():
    assert COMMANDS == {"list": (), "status": (), "ping": (), "start": ("service",), "stop": ("service",),
                        "restart": ("service",), "signal": ("service", "signal"), "ready": (),
                        "reload": (), "logs": ()}


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_garbage_never_escapes_as_anything_but_protocol_error(data):
    d = Decoder()
    try:
        frames = d.feed(data + b"\n")
    except ProtocolError:
        return
    for frame in frames:
        try:
            request = parse_request(frame)
        except ProtocolError:
            continue
        assert request["cmd"] in COMMANDS


@settings(max_examples=200)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                 max_size=3),
                    max_leaves=10),
       st.sampled_from(sorted(COMMANDS)))
def test_any_json_request_is_accepted_or_refused_cleanly(value, cmd):
    for obj in (value, {"cmd": cmd, "service": value, "signal": value}):
        try:
            request = parse_request(json.dumps(obj).encode())
        except ProtocolError:
            continue
        assert isinstance(request, dict) and request["cmd"] in COMMANDS
        for key in COMMANDS[request["cmd"]]:
            assert key in request
        if "service" in COMMANDS[request["cmd"]]:
            assert isinstance(request["service"], str)


# ---- replies -------------------------------------------------------------------------------

def test_replies():
    assert parse_reply(b'{"ok": true, "message": "done"}') == {"ok": True, "message": "done"}
    for frame, error in [(b"nope", "the daemon sent a reply that is not JSON"),
                         (b"[" * 3000, "the daemon sent a reply that is not JSON"),
                         (b"[1]", "the daemon sent a malformed reply"),
                         (b'{"message": "x"}', "the daemon sent a malformed reply")]:
        with pytest.raises(ProtocolError) as e:
            parse_reply(frame)
        assert str(e.value) == error


def test_valid_request_before_an_oversized_one_is_kept():
    from zei.core.protocol import Decoder, ProtocolError
    d = Decoder(limit=100)
    try:
        d.feed(b'{"cmd":"ping"}\n' + b"x" * 200 + b"\n")
    except ProtocolError as e:
        assert list(e.frames) == [b'{"cmd":"ping"}']
    else:
        raise AssertionError("the oversized frame was accepted")
