"""Output: line assembly, JSON log parsing and the text/json formats (no processes, no clock)."""
from __future__ import annotations

import json
import os
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zei.shell import logs
from zei.shell.logs import MAX_LINE, LineSplitter, Output, normalize_level, parse_json_line


# ---- LineSplitter --------------------------------------------------------------------------

def test_partial_lines_wait_for_the_rest():
    s = LineSplitter()
    assert s.feed(b"hel") == []
    assert s.feed(b"lo\nwor") == [b"hello"]
    assert s.feed(b"ld\n\nlast") == [b"world", b""]
    assert s.finish() == [b"last"]
    assert s.finish() == []


def test_finish_with_nothing_pending():
    s = LineSplitter()
    assert s.feed(b"a\n") == [b"a"]
    assert s.finish() == []


def test_very_long_lines_are_split_not_dropped():
    s = LineSplitter()
    line = b"0123456789abcdef" * (3 * MAX_LINE // 16) + b"tail"       # 3 pieces and a bit
    out = s.feed(line[:MAX_LINE + 10]) + s.feed(line[MAX_LINE + 10:] + b"\nnext\n")
    assert out[:-1] == [line[i:i + MAX_LINE] for i in range(0, len(line), MAX_LINE)]
    assert out[-1] == b"next"
    assert all(len(piece) <= MAX_LINE for piece in out)


def test_a_long_unterminated_line_is_not_held_without_bound():
    s = LineSplitter()
    out = s.feed(b"x" * (5 * MAX_LINE + 1))
    assert b"".join(out) + s.partial == b"x" * (5 * MAX_LINE + 1)
    assert len(s.partial) <= MAX_LINE


@pytest.mark.parametrize("k", [1, 2, 3])
def test_a_line_of_exactly_k_pieces_gives_no_extra_empty_line(k):
    s = LineSplitter()
    out = s.feed(b"x" * (k * MAX_LINE)) + s.feed(b"\n") + s.finish()
    assert out == [b"x" * MAX_LINE] * k


def reference_lines(data, limit):
    lines = data.split(b"\n")
    last = lines.pop()
    chunks = lambda l: [l] if len(l) <= limit else [l[i:i + limit] for i in range(0, len(l), limit)]
    return [p for l in lines for p in chunks(l)] + (chunks(last) if last else [])


@settings(max_examples=500)
@given(st.lists(st.sampled_from([b"a", b"bc", b"\n", b"defgh", b"ijklmnopq", b"\n\n"]), max_size=30),
       st.lists(st.integers(0, 1000), max_size=10))
def test_any_split_gives_the_same_lines(parts, cuts):
    data = b"".join(parts)
    with mock.patch.object(logs, "MAX_LINE", 4):
        points = sorted({c % (len(data) + 1) for c in cuts})
        s = LineSplitter()
        out = []
        for a, b in zip([0] + points, points + [len(data)]):
            out += s.feed(data[a:b])
        out += s.finish()
        assert out == reference_lines(data, 4)


# ---- JSON log lines ------------------------------------------------------------------------

@pytest.mark.parametrize("key", ["level", "severity", "lvl"])
@pytest.mark.parametrize("value,level", [
    ("warn", "warn"), ("WARNING", "warn"), ("Error", "error"), ("err", "error"), ("crit", "error"),
    ("fatal", "fatal"), ("panic", "fatal"), ("trace", "debug"), ("debug", "debug"), ("notice", "info"),
    ("info", "info"), (" info ", "info"), ("verbose", "info"),
    (10, "debug"), (20, "debug"), (30, "info"), (35, "info"), (40, "warn"), (50, "error"), (60, "fatal"),
    (70, "fatal"), (True, "info"), (None, "info"), ([1], "info"),
])
def test_levels(key, value, level):
    line = json.dumps({key: value, "msg": "hi"})
    assert parse_json_line(line) == (level, "hi", [])


def test_level_key_precedence_leaves_the_others_as_fields():
    assert parse_json_line('{"severity": "ERROR", "level": "warn", "msg": "x"}') == \
        ("warn", "x", [("severity", "ERROR")])


def test_normalize_level_directly():
    assert normalize_level(45.5) == "warn"
    assert normalize_level(0) == "debug"
    assert normalize_level({}) is None


def test_message_keys_and_fields():
    assert parse_json_line('{"msg": "a", "message": "b", "user": "u1", "n": 3}') == \
        ("info", "a", [("message", "b"), ("user", "u1"), ("n", 3)])
    assert parse_json_line('{"message": "only message"}') == ("info", "only message", [])
    assert parse_json_line('{"msg": {"nested": true}}') == ("info", '{"nested": true}', [])
    assert parse_json_line('{"level": 30}') == ("info", "", [])


def test_timestamps_are_dropped():
    line = '{"time": 1700000000, "ts": "x", "timestamp": "y", "msg": "m", "pid": 7}'
    assert parse_json_line(line) == ("info", "m", [("pid", 7)])


NOT_LOGS = {
    "plain": "plain text", "empty": "", "braces": "{not json}", "array": "[1, 2]", "string": '"{}"',
    "open": "{", "close": "}", "trailing": '{"a": 1} trailing',
    "deep objects": '{"a":' * 3000 + "1" + "}" * 3000,     # nested past the recursion limit
    "deep arrays": '{"a":' + "[" * 5000 + "]" * 5000 + "}",
}


@pytest.mark.parametrize("line", NOT_LOGS.values(), ids=NOT_LOGS.keys())
def test_non_object_lines_are_not_json_logs(line):
    assert parse_json_line(line) is None


def test_surrounding_whitespace_is_fine():
    assert parse_json_line('  {"msg": "x"}  ') == ("info", "x", [])


# ---- Output --------------------------------------------------------------------------------

class Capture:
    def __init__(self, fmt="text", level="info"):
        self.out = Output(fd=-1, fmt=fmt, level=level)
        self.writes = []
        self.out.write_bytes = lambda data, event=False: self.writes.append(data)

    @property
    def text(self):
        return b"".join(self.writes).decode()

    def json(self):
        return [json.loads(line) for line in self.text.splitlines()]


@pytest.fixture(autouse=True)
def fixed_time(monkeypatch):
    monkeypatch.setattr(logs, "_now", lambda: "2024-01-01T00:00:00.000Z")


def test_text_service_lines_in_one_write():
    c = Capture()
    c.out.lines("web", "stdout", [b"GET / 200", b"", b"\xff raw bytes"])
    c.out.lines("web", "stderr", [b"oops"])
    c.out.lines("web", "stdout", [])
    assert c.writes == [b"web[out] GET / 200\nweb[out] \nweb[out] \xff raw bytes\n", b"web[err] oops\n"]


def test_text_events():
    c = Capture()
    c.out.event("info", "web", "started (pid 12)")
    c.out.event("warn", "zei", "received SIGTERM", (("code", 0), ("who", "the admin"), ("path", "/x"),
                                                    ("empty", ""), ("list", [1, 2])))
    assert c.text == ('zei[info] web: started (pid 12)\n'
                      'zei[warn] received SIGTERM code=0 who="the admin" path=/x empty="" list=[1,2]\n')


def test_text_event_fields_never_break_the_line():
    c = Capture()
    c.out.event("info", "zei", "m", (("a", "x\ny"), ("b", "tab\there"), ("c", 'q"uote')))
    assert c.text == 'zei[info] m a="x\\ny" b="tab\\there" c="q\\"uote"\n'
    assert c.text.count("\n") == 1


def test_level_filter():
    c = Capture(level="warn")
    c.out.event("debug", "zei", "d")
    c.out.event("info", "zei", "i")
    c.out.event("warn", "zei", "w")
    c.out.event("error", "zei", "e")
    assert c.text == "zei[warn] w\nzei[error] e\n"


def test_text_json_logs():
    c = Capture()
    c.out.lines("api", "stdout", [b'{"level":"warn","msg":"cache miss","key":"k1","n":2}',
                                  b"not json", b'{"level":50,"message":"boom","err":{"code":"E1"}}'],
                json_logs=True)
    assert c.text == ("api[warn] cache miss key=k1 n=2\n"
                      "api[out] not json\n"
                      'api[error] boom err={"code":"E1"}\n')
    assert len(c.writes) == 1


def test_json_format_service_lines():
    c = Capture("json")
    c.out.lines("web", "stderr", [b"hello", b"\xffbad"])
    assert c.json() == [
        {"time": "2024-01-01T00:00:00.000Z", "level": "info", "source": "web", "stream": "stderr", "msg": "hello"},
        {"time": "2024-01-01T00:00:00.000Z", "level": "info", "source": "web", "stream": "stderr",
         "msg": "\ufffdbad"},
    ]


def test_json_format_events():
    c = Capture("json")
    c.out.event("info", "web", "started (pid 3)", (("pid", 3),))
    c.out.event("error", "zei", "bye")
    assert c.json() == [
        {"time": "2024-01-01T00:00:00.000Z", "level": "info", "source": "zei", "service": "web",
         "msg": "started (pid 3)", "pid": 3},
        {"time": "2024-01-01T00:00:00.000Z", "level": "error", "source": "zei", "msg": "bye"},
    ]


def test_json_format_json_logs_keep_their_fields_but_not_over_ours():
    c = Capture("json")
    c.out.lines("api", "stdout", [b'{"lvl":"error","msg":"db down","source":"pool","retry":3}',
                                  b"plain"], json_logs=True)
    assert c.json() == [
        {"time": "2024-01-01T00:00:00.000Z", "level": "error", "source": "api", "stream": "stdout",
         "msg": "db down", "retry": 3},
        {"time": "2024-01-01T00:00:00.000Z", "level": "info", "source": "api", "stream": "stdout",
         "msg": "plain"},
    ]


def test_write_bytes_to_a_pipe():
    r, w = os.pipe()
    try:
        out = Output(fd=w)
        out.lines("web", "stdout", [b"one", b"two"])
        out.event("info", "zei", "done")
        out.close()
        os.close(w)
        w = None
        data = b""
        while chunk := os.read(r, 4096):
            data += chunk
        assert data == b"web[out] one\nweb[out] two\nzei[info] done\n"
    finally:
        os.close(r)
        if w is not None:
            os.close(w)


def test_writing_to_a_closed_descriptor_is_not_fatal():
    r, w = os.pipe()
    os.close(r)
    os.close(w)
    Output(fd=w).event("info", "zei", "nobody listens")      # EBADF: dropped, no exception


def test_json_log_message_with_newline_stays_one_text_line():
    import os
    from zei.shell.logs import Output
    r, w = os.pipe()
    out = Output(w, "text")
    out.lines("app", "stdout", [b'{"level":"warn","msg":"two\\nlines"}'], json_logs=True)
    out.close()
    os.close(w)
    assert os.read(r, 4096) == b"app[warn] two\\nlines\n"


# ---- no byte a service writes reads as another source's line (issue: hardening) -------------

def test_json_log_field_keys_cannot_forge_a_zei_line():
    c = Capture()
    line = json.dumps({"msg": "ok", "x\nzei[error] web: exited (killed by SIGKILL)": 1}).encode()
    c.out.lines("app", "stdout", [line], json_logs=True)
    assert c.text.count("\n") == 1 and c.text.startswith("app[info] ok ")
    assert '"x\\nzei[error] web: exited (killed by SIGKILL)"=1' in c.text


@pytest.mark.parametrize("sep", ["\r", "\x0b", "\x0c", "\x1c", "\x85", "\u2028", "\u2029", "\x1b[2K\r"])
def test_json_log_messages_escape_every_line_break(sep):
    c = Capture()
    c.out.lines("app", "stdout", [json.dumps({"msg": f"a{sep}zei[error] forged"}).encode()], json_logs=True)
    assert len(c.text.splitlines()) == 1 and c.text.startswith("app[info] a\\")


def test_a_carriage_return_cannot_overwrite_the_tag_but_crlf_is_a_line_end():
    for path in ("lines", "block"):
        c = Capture()
        if path == "lines":
            c.out.lines("web", "stdout", [b"dos line\r", b"progress\rzei[error] forged"])
        else:
            c.out.block("web", "stdout", b"dos line\r\nprogress\rzei[error] forged\n")
        assert c.text == "web[out] dos line\nweb[out] progress\\rzei[error] forged\n", path
