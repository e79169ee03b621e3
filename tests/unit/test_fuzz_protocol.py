"""Fuzzing the control protocol: arbitrary bytes, split arbitrarily, into Decoder.feed().

Only protocol.ProtocolError may escape feed(), parse_request() and parse_reply(); no frame is
longer than the limit or holds a newline; after every feed the buffer is within the limit
(an over-limit line is refused by the very feed that makes it too long); and whatever the
split, the frames and the refusal are those of a plain reading of the whole byte string.
"""
from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zei.core.protocol import COMMANDS, MAX_REQUEST, Decoder, ProtocolError, encode, parse_reply, parse_request

FUZZ = settings(max_examples=int(os.environ.get("ZEI_FUZZ_EXAMPLES", 300)), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])

# Bytes that look like requests and bytes that do not, with runs long enough to pass a limit.
PIECES = st.sampled_from([
    b"\n", b"\r\n", b" ", b"\t", b"{", b"}", b"[", b"]", b'"', b":", b",", b"\\", b"\x00", b"\xff", b"\xc3",
    b"\xed\xa0\x80", b'{"cmd":"list"}', b'{"cmd":"ping"}\n', b'{"cmd":"status","service":"web"}',
    b'{"cmd":"signal","service":"web","signal":1}', b'{"cmd":"signal","service":"w","signal":1e400}',
    b'"\\ud800"', b"NaN", b"-Infinity", b"1" * 5000, b"[" * 2000, b'{"a":' * 700, b"x" * 4096, b"x" * 63,
    b"x" * 64, b"x" * 65, b"\n" * 3,
])
data = st.binary(max_size=300) | st.lists(PIECES | st.binary(max_size=8), max_size=20).map(b"".join)
limits = st.sampled_from([MAX_REQUEST, 1, 16, 64]) | st.integers(0, 200)
cuts = st.lists(st.integers(0, 20_000), max_size=16)


def pieces_of(blob, points):
    points = sorted({c % (len(blob) + 1) for c in points})
    return [blob[a:b] for a, b in zip([0] + points, points + [len(blob)])]


def reference(blob, limit):
    """(frames, refused) of a plain reading of the whole stream."""
    *lines, tail = blob.split(b"\n")
    frames = []
    for line in lines:
        if len(line) > limit:
            return frames, True
        if line.strip():
            frames.append(line)
    return frames, len(tail) > limit


def only_protocol_errors(frame):
    for parse in (parse_request, parse_reply):
        try:
            obj = parse(frame)
        except ProtocolError as e:
            assert str(e) and "\n" not in str(e)
            continue
        assert isinstance(obj, dict)
        if parse is parse_request:
            assert obj["cmd"] in COMMANDS
            for key in COMMANDS[obj["cmd"]]:
                assert key in obj
        else:
            assert "ok" in obj


def near(limit):
    """Lines a byte either side of the limit, where off-by-ones live."""
    return st.tuples(st.integers(-2, 2), st.sampled_from([b"x", b" ", b"\xff"]), st.booleans()).map(
        lambda t: t[1] * max(0, limit + t[0]) + (b"\n" if t[2] else b""))


@st.composite
def streams(draw):
    limit = draw(limits)
    parts = draw(st.lists(data | near(limit), max_size=6))
    return b"".join(parts), limit


@FUZZ
@given(streams(), cuts)
def test_any_bytes_split_any_way(stream, points):
    blob, limit = stream
    decoder = Decoder(limit=limit)
    got, refused = [], False
    for piece in pieces_of(blob, points):
        before = len(decoder.buf)
        assert before <= limit
        try:
            frames = decoder.feed(piece)
        except ProtocolError as e:
            assert str(e) == f"request too long (limit {limit} bytes)"
            frames, refused = list(e.frames), True
        for frame in frames:
            assert isinstance(frame, bytes) and b"\n" not in frame
            assert len(frame) <= limit
            assert frame.strip()
        got += frames
        if refused:
            break                                # the server closes the connection here
        assert len(decoder.buf) <= limit
        assert b"\n" not in decoder.buf
    assert (got, refused) == reference(blob, limit)
    for frame in got:
        only_protocol_errors(frame)


@FUZZ
@given(st.binary(max_size=2000) | st.lists(PIECES, max_size=10).map(b"".join))
def test_any_frame_parses_or_is_refused_cleanly(frame):
    only_protocol_errors(frame)
    only_protocol_errors(frame.replace(b"\n", b""))


def _containers(inner):
    keys = st.sampled_from(["cmd", "service", "signal", "ok"]) | st.text(max_size=4)
    return st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=4)


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
                           | st.sampled_from(sorted(COMMANDS)), _containers, max_leaves=12)


@FUZZ
@given(json_values, cuts)
def test_encoded_values_come_back_whole(value, points):
    blob = encode(value) + encode({"cmd": "ping"})
    decoder = Decoder(limit=len(blob))
    frames = []
    for piece in pieces_of(blob, points):
        frames += decoder.feed(piece)
    assert len(frames) == 2 and decoder.buf == b""
    back = json.loads(frames[0])
    assert json.dumps(back, sort_keys=True) == json.dumps(value, sort_keys=True)  # NaN != NaN, so compare text
    assert parse_request(frames[1]) == {"cmd": "ping"}
    only_protocol_errors(frames[0])


@FUZZ
@given(streams(), cuts, st.lists(st.booleans(), max_size=16))
def test_pulling_frames_one_at_a_time(stream, points, pull_after):
    """push()/next_frame() (back-pressure: bytes may wait in the buffer) frame the same way."""
    blob, limit = stream
    decoder = Decoder(limit=limit)
    got, refused = [], False

    def pull():
        while True:
            frame = decoder.next_frame()
            if frame is None:
                assert len(decoder.buf) <= limit and b"\n" not in decoder.buf
                return
            assert b"\n" not in frame and len(frame) <= limit and frame.strip()
            got.append(frame)

    try:
        for i, piece in enumerate(pieces_of(blob, points)):
            decoder.push(piece)
            if i < len(pull_after) and pull_after[i]:
                pull()
        pull()
    except ProtocolError as e:
        assert str(e) == f"request too long (limit {limit} bytes)"
        refused = True
    assert (got, refused) == reference(blob, limit)
