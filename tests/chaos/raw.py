"""Raw control-socket clients of the chaos harness: everything the CLI never sends.

Each driver is `fn(ctx, rng)`, run on a worker thread; ctx (chaos.Context) gives the socket,
the counters and ctx.violation(). Every socket operation has a timeout, and every complete,
well-formed request on a connection the client keeps open must be answered within
REPLY_TIMEOUT (a violation otherwise). Connections are taken from ctx.slots so the harness
never holds more than its share of zei's 64 client slots; an abandoned connection keeps its
slot for a while, since zei still holds it until the reply is due.

    malformed   a bad frame (not JSON, not an object, unknown cmd, missing/ill-typed field,
                deep nesting, bad UTF-8) then a ping: {"ok":false,"code":"bad-request"}, then
                {"ok":true}; an unknown service: code unknown-service
    truncated   half a request then: close | stall (no reply may come) | the rest later (a
                reply must come) | stall past the idle timeout (zei must drop it at ~10 s)
    oversized   > 4096 bytes (after a ping, with or without a newline): the ping's reply,
                "request too long", then the connection is closed
    pipelined   5-300 mixed requests in one write (or split in random pieces), then every
                reply, in order, each of the right kind
    flood       256 KB-1 MB of list requests for up to FLOOD_SECONDS (until zei pushes back
                for 1 s), never reading, then hang up (memory and loop-latency pressure)
    abandoned   stop/restart/start/list, then close before the reply; or half-close (SHUT_WR)
                and count whether the reply still comes (an observation, not an invariant)
    concurrent  4-20 connections at once, one request each, every reply
    keepalive   2-6 requests one after another on one connection
    stop_stubborn  `stop` of the TERM-ignoring service: resolved by the per-service SIGKILL
                within shutdown_timeout + STOP_SLACK (or failed as superseded by a later start)
"""
from __future__ import annotations

import json
import re
import socket
import threading
import time

REPLY_TIMEOUT = 10.0
IDLE_TIMEOUT = 10.0
STOP_SLACK = 1.5
FLOOD_SECONDS = 8.0
BAD_FRAMES = [b'{"cmd": ', b"garbage", b"\xff\xfe\x00\x01", b"[1,2,3]", b'"ping"', b"42", b"null",
              b'{"cmd":"frobnicate"}', b'{"cmd":"stop"}', b'{"cmd":"signal","service":"chatty"}',
              b'{"cmd":"signal","service":"chatty","signal":99}', b'{"cmd":"list"',
              b'{"cmd":"signal","service":"chatty","signal":true}', b'{"cmd":"status","service":5}',
              b"{}", b"[" * 4000, b'{"cmd":' + b"[" * 3000, b'{"cmd":["list"]}', b"\x00"]
flood_lock = threading.Lock()
idle_lock = threading.Lock()


class Conn:
    def __init__(self, ctx, timeout=REPLY_TIMEOUT):
        self.ctx, self.buf, self.held = ctx, b"", False
        if not ctx.slots.acquire(timeout=2.0):
            raise Skip("no free connection slot")
        self.held = True
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        try:
            self.s.connect(ctx.zei.sock)
        except OSError:
            self.close()
            raise

    def send(self, data):
        self.s.sendall(data)

    def replies(self, n, timeout=REPLY_TIMEOUT):
        """Up to n replies; stops early at EOF or the deadline. Returns (replies, eof)."""
        out, deadline = [], time.monotonic() + timeout
        while len(out) < n:
            while b"\n" in self.buf and len(out) < n:
                line, self.buf = self.buf.split(b"\n", 1)
                try:
                    out.append(json.loads(line))
                except ValueError:
                    out.append({"_unparsable": line[:200].decode(errors="replace")})
            if len(out) >= n:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                return out, False
            self.s.settimeout(left)
            try:
                chunk = self.s.recv(65536)
            except socket.timeout:
                return out, False
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return out, True
            self.buf += chunk
        return out, False

    def eof_within(self, timeout):
        """Seconds until the peer closed (data before it is kept), or None."""
        t0, deadline = time.monotonic(), time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = self.s.recv(65536)
            except socket.timeout:
                return None
            except ConnectionResetError:
                return time.monotonic() - t0
            if not chunk:
                return time.monotonic() - t0
            self.buf += chunk
        return None

    def close(self, hold=0.0):
        try:
            self.s.close()
        except (OSError, AttributeError):
            pass
        if self.held:
            self.held = False
            if hold > 0:
                threading.Timer(hold, self.ctx.slots.release).start()
            else:
                self.ctx.slots.release()


class Skip(Exception):
    pass


def req(cmd, **kw):
    return json.dumps({"cmd": cmd, **kw}).encode() + b"\n"


def answered(ctx, driver, what, replies, n, eof):
    if len(replies) < n:
        ctx.violation("unanswered", f"{driver}: {what}: {len(replies)} of {n} replies"
                      + (" (zei closed the connection)" if eof else f" within {REPLY_TIMEOUT:g}s"))
        return False
    return True


def malformed(ctx, rng):
    c = Conn(ctx)
    try:
        if rng.random() < 0.2:
            ctx.count("malformed", "unknown-service")
            c.send(req("status", service="no-such-svc") + req("ping"))
            want = "unknown-service"
        else:
            frame = rng.choice(BAD_FRAMES)
            ctx.count("malformed", "bad-frame")
            c.send(frame + b"\n" + req("ping"))
            want = "bad-request"
        got, eof = c.replies(2)
        if answered(ctx, "malformed", "bad frame + ping", got, 2, eof):
            if got[0].get("ok") is not False or got[0].get("code") != want:
                ctx.violation("reply", f"malformed: expected ok:false code {want}, got {got[0]}")
            if got[1].get("ok") is not True:
                ctx.violation("reply", f"malformed: the ping after it got {got[1]}")
    finally:
        c.close()


def truncated(ctx, rng):
    whole = rng.choice([req("list"), req("status", service="db"), req("ping")])
    half = whole[:rng.randint(1, len(whole) - 2)]
    variant = rng.choice(["close", "close", "stall", "stall", "complete", "complete", "idle"])
    if variant == "idle" and not idle_lock.acquire(blocking=False):
        variant = "stall"
    ctx.count("truncated", variant)
    c = Conn(ctx)
    try:
        c.send(half)
        if variant == "close":
            return
        if variant == "stall":
            got, _ = c.replies(1, rng.uniform(0.5, 3.0))
            if got:
                ctx.violation("reply", f"truncated: a reply to half a request: {got[0]}")
        elif variant == "complete":
            time.sleep(rng.uniform(0.05, 1.5))
            c.send(whole[len(half):])
            got, eof = c.replies(1)
            if answered(ctx, "truncated", "request completed late", got, 1, eof) and not got[0].get("ok"):
                ctx.violation("reply", f"truncated: completed request got {got[0]}")
        else:
            took = c.eof_within(IDLE_TIMEOUT + 3.0)
            if took is None or not IDLE_TIMEOUT - 1.0 <= took <= IDLE_TIMEOUT + 2.5:
                ctx.violation("idle", "truncated: a stalled half request was "
                              + ("not dropped within 13s" if took is None else f"dropped after {took:.1f}s")
                              + f" (idle timeout {IDLE_TIMEOUT:g}s)")
    finally:
        c.close()
        if variant == "idle":
            idle_lock.release()


def oversized(ctx, rng):
    size = rng.randint(4097, 40000)
    body = b'{"cmd":"list","pad":"' + b"x" * size + b'"}'
    ping_first = rng.random() < 0.5
    newline = rng.random() < 0.5
    ctx.count("oversized", ("ping+" if ping_first else "") + ("line" if newline else "no-newline"))
    c = Conn(ctx)
    try:
        try:
            c.send((req("ping") if ping_first else b"") + body + (b"\n" if newline else b""))
        except (BrokenPipeError, ConnectionResetError):
            pass                             # zei closed it mid-way: what it should do
        n = 2 if ping_first else 1
        got, eof = c.replies(n)
        if not answered(ctx, "oversized", "request too long", got, n, eof):
            return
        if ping_first and got[0].get("ok") is not True:
            ctx.violation("reply", f"oversized: the ping before it got {got[0]}")
        last = got[-1]
        if last.get("ok") is not False or "too long" not in str(last.get("error")):
            ctx.violation("reply", f"oversized: expected 'request too long', got {str(last)[:200]}")
        if not eof and c.eof_within(2.0) is None:
            ctx.violation("reply", "oversized: connection not closed within 2s after 'request too long'")
    finally:
        c.close()


def pipelined(ctx, rng):
    n = rng.choice([5, 20, 50, rng.randint(5, 300)])
    kinds, data = [], []
    for _ in range(n):
        r = rng.random()
        if r < 0.4:
            kinds.append("ping"); data.append(req("ping"))
        elif r < 0.6:
            kinds.append("services"); data.append(req("list"))
        elif r < 0.75:
            kinds.append("services"); data.append(req("status", service=rng.choice(ctx.services)))
        elif r < 0.85:
            kinds.append("unknown"); data.append(req("status", service="nope"))
        elif r < 0.97:
            kinds.append("bad"); data.append(rng.choice(BAD_FRAMES[:14]) + b"\n")
        else:
            kinds.append("signal"); data.append(req("signal", service="chatty", signal=10))
    blob = b"".join(data)
    split = rng.random() < 0.3
    ctx.count("pipelined", "split" if split else "one-write")
    c = Conn(ctx)
    try:
        if split:
            i = 0
            while i < len(blob):
                j = min(len(blob), i + rng.randint(1, 600))
                c.send(blob[i:j])
                i = j
                if rng.random() < 0.1:
                    time.sleep(0.01)
        else:
            c.send(blob)
        got, eof = c.replies(n, REPLY_TIMEOUT + n * 0.01)
        if not answered(ctx, "pipelined", f"{n} requests", got, n, eof):
            return
        for i, (kind, r) in enumerate(zip(kinds, got)):
            ok = {"ping": r.get("ok") is True and r.get("pid") == 1,
                  "services": r.get("ok") is True and "services" in r,
                  "unknown": r.get("ok") is False and r.get("code") == "unknown-service",
                  "bad": r.get("ok") is False and r.get("code") == "bad-request",
                  "signal": "ok" in r}[kind]
            if not ok:
                ctx.violation("reply", f"pipelined: reply {i + 1} of {n} to a {kind} request: {str(r)[:200]}")
                return
    finally:
        c.close()


def flood(ctx, rng):
    if not flood_lock.acquire(blocking=False):
        raise Skip("a flood is already running")
    c = None
    try:
        c = Conn(ctx, timeout=0.5)
        budget, sent = rng.randint(256, 1024) * 1024, 0
        data = req("list") * 2000
        t_end, stuck = time.monotonic() + FLOOD_SECONDS, 0
        while sent < budget and time.monotonic() < t_end and stuck < 2:
            ctx.effect("flood", 1.0)
            try:
                sent += c.s.send(data[sent % len(req("list")):])
                stuck = 0
            except socket.timeout:
                stuck += 1                            # 1 s without progress: zei pushes back
            except (BrokenPipeError, ConnectionResetError):
                ctx.count("flood", "cut off by zei")
                break
        ctx.count("flood", f"{sent // 1024} KB sent" + (", backpressure" if sent < budget else ""))
        ctx.note("flood requests sent", sent // len(req("list")))
        hold = rng.uniform(0.0, 2.0)
        ctx.effect("flood", hold + 1.0)
        time.sleep(hold)
    finally:
        if c is not None:
            c.close(hold=2.0)
        flood_lock.release()


def abandoned(ctx, rng):
    svc = "stubborn" if rng.random() < 0.3 else rng.choice(ctx.services)
    cmd = rng.choice(["stop", "restart", "start", "list"])
    data = req(cmd, service=svc) if cmd != "list" else req("list")
    half = rng.random() < 0.25
    ctx.count("abandoned", "half-close" if half else cmd)
    c = Conn(ctx, timeout=REPLY_TIMEOUT)
    try:
        c.send(data)
        if not half:
            if cmd in ("stop", "restart"):       # zei keeps the hung-up connection until done
                ctx.effect(f"abandoned {cmd}", ctx.shutdown_timeout + 0.5 if svc == "stubborn" else 1.0)
            return
        c.s.shutdown(socket.SHUT_WR)
        got, _ = c.replies(1, ctx.shutdown_timeout + REPLY_TIMEOUT)
        ctx.note("halfclose_answered" if got else "halfclose_unanswered", 1)
    finally:
        c.close(hold=0.0 if half else ctx.shutdown_timeout + 1.0)


def concurrent(ctx, rng):
    conns = []
    try:
        for _ in range(rng.randint(4, 20)):
            try:
                conns.append(Conn(ctx))
            except Skip:
                break
        ctx.count("concurrent", f"{len(conns)} at once")
        for c in conns:
            c.send(rng.choice([req("ping"), req("list"), req("status", service=rng.choice(ctx.services))]))
        for c in conns:
            got, eof = c.replies(1)
            if answered(ctx, "concurrent", f"one of {len(conns)} connections", got, 1, eof) \
                    and got[0].get("ok") is not True:
                ctx.violation("reply", f"concurrent: {str(got[0])[:200]}")
    finally:
        for c in conns:
            c.close()


def keepalive(ctx, rng):
    c = Conn(ctx)
    ctx.count("keepalive", "")
    try:
        for i in range(rng.randint(2, 6)):
            c.send(rng.choice([req("ping"), req("list"), req("status", service=rng.choice(ctx.services)),
                               req("signal", service=rng.choice(ctx.services), signal=1)]))
            got, eof = c.replies(1)
            if not answered(ctx, "keepalive", f"request {i + 1}", got, 1, eof):
                return
            time.sleep(rng.uniform(0, 0.3))
    finally:
        c.close()


def stop_stubborn(ctx, rng):
    c = Conn(ctx, timeout=REPLY_TIMEOUT)
    try:
        t0 = time.monotonic()
        c.send(req("stop", service="stubborn"))
        limit = ctx.shutdown_timeout + STOP_SLACK
        got, eof = c.replies(1, limit + REPLY_TIMEOUT)
        took = time.monotonic() - t0
        if not answered(ctx, "stop_stubborn", "stop of the TERM-ignorer", got, 1, eof):
            return
        msg = str(got[0].get("message") or got[0].get("error") or got[0])
        superseded = got[0].get("ok") is False and "superseded" in msg
        ctx.count("stop_stubborn", "killed" if "SIGKILL" in msg else "was not running"
                  if "not running" in msg else "superseded" if superseded
                  else re.sub(r"\d+", "N", msg)[:60])
        if not (got[0].get("ok") or superseded) or took > limit:
            ctx.violation("stop", f"stop of the TERM-ignoring service: {msg!r} after {took:.2f}s "
                          f"(limit shutdown_timeout + {STOP_SLACK:g}s = {limit:g}s)")
        if rng.random() < 0.6:
            c.send(req("start", service="stubborn"))
            got, eof = c.replies(1)
            answered(ctx, "stop_stubborn", "start after the stop", got, 1, eof)
    finally:
        c.close()
