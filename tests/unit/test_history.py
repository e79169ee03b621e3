"""The `zei logs` buffers (zei.shell.history): ring bounds, merge, since, followers; the
request's validation; Output feeding it; the CLI (zei.cli, zei.render)."""
from __future__ import annotations

import io
import json
import os

import pytest

from zei import cli, render
from zei.core import protocol
from zei.shell import history as H
from zei.shell import logs


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def hist(sources=3):
    clock = Clock()
    return H.History(sources, clock=clock, wall=lambda: 1_700_000_000.0 + clock.t), clock


def msgs(entries):
    return [(source, e[5]) for e, source in entries]


# ---- the ring ----------------------------------------------------------------------------

def chunk(*lines):
    return b"".join(line + b"\n" for line in lines), len(lines)


def kept(ring):
    return [line for c in ring.entries for line in c[5][:-1].split(b"\n")]


def check_bounds(ring):
    assert ring.count == sum(c[6] for c in ring.entries) == sum(c[5].count(b"\n") for c in ring.entries)
    assert ring.size == sum(len(c[5]) + H.ENTRY_OVERHEAD for c in ring.entries)
    assert ring.count <= ring.max_lines and ring.size <= ring.max_bytes


def test_ring_keeps_the_newest_lines_within_the_line_bound():
    r = H.Ring(max_lines=10, max_bytes=1 << 20)
    for i in range(25):
        r.extend(i, float(i), 0.0, "stdout", None, *chunk(b"x%d" % i))
        check_bounds(r)
    assert kept(r) == [b"x%d" % i for i in range(15, 25)]
    r.extend(25, 25.0, 0.0, "stdout", None, *chunk(b"a", b"b", b"c"))
    assert kept(r) == [b"x%d" % i for i in range(18, 25)] + [b"a", b"b", b"c"]


def test_ring_keeps_the_newest_lines_within_the_byte_bound():
    r = H.Ring(max_lines=1000, max_bytes=3 * (700 + H.ENTRY_OVERHEAD))
    for i in range(10):
        r.extend(i, float(i), 0.0, "stdout", None, *chunk(*[b"%d" % i * 99] * 7))
        check_bounds(r)
    assert len(r.entries) == 3 and kept(r)[0] == b"7" * 99 and kept(r)[-1] == b"9" * 99


def test_one_chunk_over_the_bounds_keeps_its_newest_lines():
    r = H.Ring(max_lines=100, max_bytes=50_000)
    r.extend(0, 0.0, 0.0, "stdout", None, *chunk(*[b"%05d" % i * 10 for i in range(10_000)]))
    check_bounds(r)
    assert kept(r)[-1] == b"09999" * 10 and len(kept(r)) == 100
    r = H.Ring(max_lines=100_000, max_bytes=5_000)
    r.extend(0, 0.0, 0.0, "stdout", None, *chunk(*[b"%05d" % i * 10 for i in range(10_000)]))
    check_bounds(r)
    assert kept(r)[-1] == b"09999" * 10 and len(kept(r)) == (5_000 - H.ENTRY_OVERHEAD) // 51


def test_newlines_counts_like_count():
    for data in (b"", b"\n", b"a\nb\n\n", b"\n" * 1000 + b"x"):
        assert H.newlines(data) == data.count(b"\n")


def test_total_budget_is_shared_by_many_sources():
    h = H.History(201)
    assert h.max_bytes * 201 <= H.TOTAL_BYTES
    assert H.History(3).max_bytes == H.BYTES_PER_SOURCE
    line = b"y" * 200
    for i in range(200):
        for _ in range(20):
            h.add(f"svc{i}", "stdout", [line] * 100)
        h.add_block(f"svc{i}", "stderr", b"z\n" * 30_000)
        h.event("info", f"svc{i}: started")
    assert sum(r.size for r in h.rings.values()) <= H.TOTAL_BYTES
    for r in h.rings.values():
        check_bounds(r)


# ---- snapshots ---------------------------------------------------------------------------

def test_snapshot_merges_sources_in_capture_order():
    h, clock = hist()
    h.add("web", "stdout", [b"w1", b"w2"])
    clock.t += 1
    h.event("info", "web: started")
    clock.t += 1
    h.add("db", "stderr", [b"d1"])
    h.add("web", "stdout", [b"w3"])       # same clock: order of capture still holds
    assert msgs(h.snapshot()) == [("web", b"w1"), ("web", b"w2"), ("zei", b"web: started"),
                                  ("db", b"d1"), ("web", b"w3")]
    assert msgs(h.snapshot(["web"], 2)) == [("web", b"w2"), ("web", b"w3")]
    assert msgs(h.snapshot(["db", "zei"], 10)) == [("zei", b"web: started"), ("db", b"d1")]
    assert msgs(h.snapshot(None, 3)) == [("zei", b"web: started"), ("db", b"d1"), ("web", b"w3")]
    assert h.snapshot(None, 0) == [] and h.snapshot(["nothing-yet"]) == []


def test_snapshot_since_counts_back_from_now():
    h, clock = hist()
    h.add("web", "stdout", [b"old"])
    clock.t += 10
    h.add("web", "stdout", [b"new"])
    clock.t += 1
    assert msgs(h.snapshot(since=5)) == [("web", b"new")]
    assert msgs(h.snapshot(since=20)) == [("web", b"old"), ("web", b"new")]
    assert h.snapshot(since=0.5) == []


def test_reply_objects_and_the_size_limit_drops_the_oldest():
    h, clock = hist()
    h.add("web", "stderr", [b"x" * 1000 for _ in range(50)])
    h.add_levels("api", "stdout", [b'{"level":"warn"}', b"plain"], ["warn", None])
    entries = h.snapshot(None, 100)
    full = H.reply(entries, protocol.MAX_REPLY)
    assert full["dropped"] == 0 and len(full["lines"]) == 52
    assert full["lines"][-1] == {"time": full["lines"][-1]["time"], "source": "api", "stream": "stdout",
                                 "level": "info", "msg": "plain"}
    assert full["lines"][-2]["level"] == "warn" and full["lines"][0]["stream"] == "stderr"
    assert full["lines"][0]["time"].endswith("Z") and "T" in full["lines"][0]["time"]
    cut = H.reply(entries, 10_000)
    assert cut["dropped"] > 0 and len(cut["lines"]) + cut["dropped"] == 52
    assert cut["lines"][-1]["msg"] == "plain" and len(protocol.encode(cut)) <= 10_000


def test_handle_validates_names_and_follows():
    h, _ = hist()
    h.add("web", "stdout", [b"a"])
    r = H.handle(h, None, {"cmd": "logs", "services": ["nope"]}, 1, ["web"])
    assert r["ok"] is False and r["code"] == "unknown-service"
    r = H.handle(h, None, {"cmd": "logs", "services": ["web", "zei"], "lines": 5}, 1, ["web"])
    assert r["ok"] and [x["msg"] for x in r["lines"]] == ["a"]

    class Server:
        def follow(self, token, follower):
            self.token, self.follower = token, follower

        def push(self, follower, encoded, count):
            self.pushed = (encoded(), count)
    s = Server()
    r = H.handle(h, s, {"cmd": "logs", "follow": True, "services": ["web"]}, 7, ["web"])
    assert r["follow"] is True and s.token == 7 and s.follower in h.followers
    h.add("db", "stdout", [b"not followed"])
    assert not hasattr(s, "pushed")
    h.add("web", "stdout", [b"b", b"c"])
    frames, count = s.pushed
    assert count == 2 and [json.loads(f)["msg"] for f in frames.splitlines()] == ["b", "c"]


# ---- followers ---------------------------------------------------------------------------

def test_follower_drops_when_full_and_says_how_many_once_drained():
    f = H.Follower(None, 100)
    out = bytearray()
    frame = b"x" * 29 + b"\n"
    assert f.offer(out, frame) and f.offer(out, frame) and f.offer(out, frame)
    assert not f.offer(out, frame) and f.missed == 1          # 120 > 100
    del out[:30]                                              # the reader took one: 60 left
    assert not f.offer(out, frame, 3) and f.missed == 4       # still above half: keeps dropping
    del out[:]
    f.drained(out)
    m = json.loads(out)
    assert m["missed"] == 4 and m["msg"] == "missed 4 line(s)" and m["source"] == "zei"
    out.clear()
    assert f.missed == 0 and f.offer(out, frame) and out == frame
    assert render.render_line(m) == "zei: missed 4 line(s)\n"


def test_follower_never_holds_more_than_its_limit():
    f = H.Follower(None, 1000)
    out = bytearray()
    for i in range(10_000):
        f.offer(out, b"line %d\n" % i)
        assert len(out) <= 1000 + 200                      # + one marker at most
        if i % 97 == 0:
            del out[:300]
            f.drained(out)
    assert f.missed > 0 or b"missed" in out


def test_a_blocked_follower_skips_without_encoding():
    f = H.Follower(None, 100)
    out = bytearray(b"x" * 90)
    assert not f.offer(out, b"y" * 20) and f.blocked(out)
    f.skip(5)
    assert f.missed == 6
    del out[:60]
    assert not f.blocked(out) and json.loads(out[30:])["missed"] == 6


def test_closed_followers_are_forgotten():
    h, _ = hist()
    a, b = H.Follower(None, 100), H.Follower(None, 100)
    h.follow(a)
    a.closed = True
    h.follow(b)
    assert h.followers == {b}


# ---- Output feeds the history ------------------------------------------------------------

def test_output_keeps_every_kind_of_line_once():
    r, w = os.pipe()
    try:
        out = logs.Output(w)
        h, _ = hist()
        out.history = h
        splitter = logs.LineSplitter()
        out.block("web", "stdout", splitter.feed_block(b"one\ntwo\nthr"))
        out.block("web", "stdout", splitter.feed_block(b"ee\n"))
        out.lines("web", "stderr", [b"tail"])
        out.lines("api", "stdout", [b'{"level":"error","msg":"boom"}', b"plain"], json_logs=True)
        out.event("warn", "web", "exited", (("code", 3),))
        out.event("debug", "zei", "not shown, not kept")
        got = [(s, e[3], e[4], e[5]) for e, s in h.snapshot()]
        assert got == [("web", "stdout", None, b"one"), ("web", "stdout", None, b"two"),
                       ("web", "stdout", None, b"three"), ("web", "stderr", None, b"tail"),
                       ("api", "stdout", "error", b'{"level":"error","msg":"boom"}'),
                       ("api", "stdout", None, b"plain"), ("zei", None, "warn", b"web: exited code=3")]
        assert b"web[out] one\nweb[out] two\n" in os.read(r, 65536)
    finally:
        os.close(r)
        os.close(w)


# ---- the protocol ------------------------------------------------------------------------

@pytest.mark.parametrize("req", [
    {"cmd": "logs"},
    {"cmd": "logs", "services": ["web", "zei"], "lines": 0, "since": 1.5, "follow": True},
    {"cmd": "logs", "lines": protocol.MAX_LOG_LINES, "since": None, "follow": False},
])
def test_logs_requests_accepted(req):
    assert protocol.parse_request(json.dumps(req).encode()) == req


@pytest.mark.parametrize("req", [
    {"cmd": "logs", "lines": -1}, {"cmd": "logs", "lines": protocol.MAX_LOG_LINES + 1},
    {"cmd": "logs", "lines": 1.5}, {"cmd": "logs", "lines": True}, {"cmd": "logs", "lines": "5"},
    {"cmd": "logs", "since": -1}, {"cmd": "logs", "since": "5s"}, {"cmd": "logs", "since": True},
    {"cmd": "logs", "follow": 1}, {"cmd": "logs", "services": "web"},
    {"cmd": "logs", "services": [1]}, {"cmd": "logs", "services": ["a"] * (protocol.MAX_NAMES + 1)},
])
def test_bad_logs_requests_refused(req):
    with pytest.raises(protocol.ProtocolError):
        protocol.parse_request(json.dumps(req).encode())


# ---- the CLI -----------------------------------------------------------------------------

def cli_args(**kw):
    return {"NAME": [], "--lines": "100", "--since": None, "--follow": False, "--json": False,
            "--time": False} | kw


def test_cli_request_and_usage_errors():
    assert cli.logs_request(cli_args(NAME=["web"], **{"--lines": "5", "--since": "1m30s"})) == {
        "cmd": "logs", "services": ["web"], "lines": 5, "since": 90.0, "follow": False}
    for bad in ({"--lines": "x"}, {"--lines": "-3"}, {"--lines": "10001"}, {"--since": "soon"}):
        with pytest.raises(ValueError):
            cli.logs_request(cli_args(**bad))
    err = io.StringIO()
    assert cli.cmd_logs("/nonexistent/sock", cli_args(**{"--lines": "x"}), io.StringIO(), err) == 2


def test_cli_render():
    line = {"time": "T", "source": "web", "stream": "stderr", "level": "info", "msg": "a\rb"}
    assert render.render_line(line) == "web[err] a\\rb\n"
    assert render.render_line(line, with_time=True) == "T web[err] a\\rb\n"
    assert render.render_line(dict(line, level="warn")) == "web[warn] a\rb\n".replace("\r", "\\r")
    assert render.render_line({"source": "zei", "stream": None, "level": "info", "msg": "hi"}) == "zei[info] hi\n"


def test_cli_without_daemon_fails():
    err = io.StringIO()
    assert cli.cmd_logs("/nonexistent/sock", cli_args(), io.StringIO(), err) == 1
    assert "needs the running daemon" in err.getvalue()
