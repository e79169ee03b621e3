"""Recent output kept in the daemon for `zei logs`: one ring buffer per source, and followers.

A source is a service (its stdout and stderr lines) or `zei` (zei's own events). Each Ring
keeps the newest lines of its source, at most MAX_LINES lines and at most its byte budget,
counting each chunk (the lines of one read of a pipe, at most 64 KiB, or one event) as its
bytes + ENTRY_OVERHEAD (the list, the bytes object's header, the numbers), so the budget
bounds the memory really held. The oldest lines go a whole chunk at a time (O(1), no copy,
no count: the hot path stays cheap), so a full ring holds between its bounds minus one
chunk and its bounds; a single chunk over the bounds keeps its newest lines that fit.
The budget is BYTES_PER_SOURCE (256 KiB), lowered so that all sources together hold at most
TOTAL_BYTES (16 MiB; MIN_BYTES per source beyond 1024 sources): with 200
services and zei's own ring each source gets 16 MiB / 201 = 81 KiB. seq (capture order
across sources) and the two clocks (monotonic for `since`, wall for display) are taken once
per chunk; each line's bytes are stored once, in its chunk; level is None for a plain
service line (shown as its stream, `web[out]`).

Followers (`zei logs -f`) get each new line as one JSON frame appended to their connection's
output buffer. Follower.offer() never lets that buffer pass `limit` bytes (the server's
OUT_HIGH): a line that does not fit is counted as missed; once the follower has read its
buffer down to half the limit, it gets one marker frame `missed N line(s)` and lines again.
"""
from __future__ import annotations

import collections
import heapq
import itertools
import time

from zei.core import jsontext

MAX_LINES = 10000              # lines kept per source
BYTES_PER_SOURCE = 256 * 1024  # bytes kept per source (line bytes + ENTRY_OVERHEAD a chunk)
TOTAL_BYTES = 16 * 1024 * 1024  # all sources together
ENTRY_OVERHEAD = 256           # a chunk's list, numbers and bytes header
MIN_BYTES = 16 * 1024          # a source's budget is never below this (one MAX_LINE line)
ZEI = "zei"


class Ring:
    """The newest lines of one source, as chunks [seq, mono, wall, stream, level, data, count]:
    `data` is `count` whole lines, each ending in a newline, captured together (one read of
    a pipe, one event). Adding a chunk costs a few C-level calls whatever its size; the
    oldest chunks are dropped whole to stay within both bounds."""
    __slots__ = ("entries", "size", "count", "max_lines", "max_bytes")

    def __init__(self, max_lines=MAX_LINES, max_bytes=BYTES_PER_SOURCE):
        self.entries = collections.deque()
        self.size = 0              # bytes of data + ENTRY_OVERHEAD per chunk
        self.count = 0             # lines
        self.max_lines, self.max_bytes = max_lines, max_bytes

    def extend(self, seq, mono, wall, stream, level, data, count):
        if count > self.max_lines or len(data) + ENTRY_OVERHEAD > self.max_bytes:
            data, count = self._fit(data, count)       # one chunk over the bounds: rare
        entries = self.entries
        entries.append([seq, mono, wall, stream, level, data, count])
        self.size += len(data) + ENTRY_OVERHEAD
        self.count += count
        while (self.count > self.max_lines or self.size > self.max_bytes) and len(entries) > 1:
            oldest = entries.popleft()                 # a whole chunk: O(1), no copy
            self.size -= len(oldest[5]) + ENTRY_OVERHEAD
            self.count -= oldest[6]

    def _fit(self, data, count):
        """The newest whole lines of one chunk that fit both bounds on their own."""
        room = self.max_bytes - ENTRY_OVERHEAD
        if len(data) > room:
            data = data[data.find(b"\n", len(data) - room - 1) + 1:]
            count = newlines(data)
        if count > self.max_lines:
            data = b"\n".join(data[:-1].split(b"\n")[-self.max_lines:]) + b"\n"
            count = self.max_lines
        return data, count

    def newest(self, name):
        """(chunk, name) for every chunk, newest first."""
        for chunk in reversed(self.entries):
            yield chunk, name


def newlines(data):
    """How many newlines data holds (bytes.count(b"\\n") is several times slower)."""
    return len(data) - len(data.replace(b"\n", b""))


def as_object(entry, source):
    seq, mono, wall, stream, level, msg = entry
    return {"time": iso(wall), "source": source, "stream": stream, "level": level or "info",
            "msg": msg.decode("utf-8", "replace")}


def iso(wall):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(wall)) + f".{int(wall % 1 * 1000):03d}Z"


class Follower:
    """One `logs -f` connection: which sources it wants and what it has missed."""
    __slots__ = ("sources", "limit", "missed", "dropping", "conn", "closed")

    def __init__(self, sources, limit):
        self.sources = None if sources is None else frozenset(sources)   # None: all
        self.limit = limit
        self.missed = 0
        self.dropping = False
        self.conn = None
        self.closed = False

    def wants(self, source):
        return self.sources is None or source in self.sources

    def offer(self, out, frame, count=1):
        """Append frame (`count` lines) to the bytearray `out` if it fits; else count them
        missed. Returns whether it was appended."""
        self.drained(out)
        if self.dropping or len(out) + len(frame) > self.limit:
            self.dropping = True
            self.missed += count
            return False
        out += frame
        return True

    def blocked(self, out):
        """Still dropping (nothing offered now could be taken): the caller need not even
        encode the lines, just count them with skip()."""
        self.drained(out)
        return self.dropping

    def skip(self, count):
        self.missed += count

    def drained(self, out):
        """After the reader took some: once down to half the limit, the marker, then lines."""
        if self.dropping and len(out) <= self.limit // 2:
            self.dropping = False
            if self.missed:
                out += marker(self.missed)
                self.missed = 0


def marker(n):
    return encode_frame({"time": iso(time.time()), "source": ZEI, "stream": None, "level": "warn",
                         "msg": f"missed {n} line(s)", "missed": n})


def encode_frame(obj):
    return jsontext.dumps(obj, compact=True).encode() + b"\n"


class History:
    def __init__(self, sources=1, clock=time.monotonic, wall=time.time):
        per = max(MIN_BYTES, min(BYTES_PER_SOURCE, TOTAL_BYTES // max(1, sources)))
        self.max_bytes = per
        self.rings = {}            # source -> Ring
        self.seq = itertools.count()
        self.clock, self.wall = clock, wall
        self.followers = set()
        self.push = None           # callable(follower, encoded, count): the server's push()

    def ring(self, source):
        ring = self.rings.get(source)
        if ring is None:
            ring = self.rings[source] = Ring(MAX_LINES, self.max_bytes)
        return ring

    def add(self, source, stream, lines, level=None):
        """A batch of lines (bytes, without newlines) captured now."""
        if lines:
            self._add(source, stream, level, b"\n".join(lines) + b"\n", len(lines), lines)

    def add_block(self, source, stream, block, count=None):
        """A block of `count` whole lines, each ending in a newline (LineSplitter.feed_block):
        kept as it is, split into lines only for followers and when asked for."""
        if block:
            count = newlines(block) if count is None else count
            self._add(source, stream, None, block, count, None)

    def _add(self, source, stream, level, data, count, lines):
        entry = (next(self.seq), self.clock(), self.wall(), stream, level)
        self.ring(source).extend(*entry, data, count)
        if self.followers:
            self._fan_out(source, entry, data[:-1].split(b"\n") if lines is None else lines)

    def add_levels(self, source, stream, lines, levels):
        """Lines of a json_logs service, each with its own level."""
        pairs = list(zip(levels, lines))
        for level, group in itertools.groupby(pairs, key=lambda pair: pair[0]):
            self.add(source, stream, [line for _, line in group], level)

    def event(self, level, text):
        self.add(ZEI, None, [text.replace("\n", "\\n").encode("utf-8", "replace")], level)

    def snapshot(self, sources=None, n=100, since=None):
        """The newest n lines of the sources (None: all), merged in capture order, as
        [(entry, source)] with entry (seq, mono, wall, stream, level, line). since: seconds
        back from now (None: no limit). Chunks are merged newest first and split only
        until n lines are found: the work is bounded by n, not by what the rings hold."""
        after = None if since is None else self.clock() - since
        names = self.rings if sources is None else [s for s in sources if s in self.rings]
        chunks = heapq.merge(*(self.rings[name].newest(name) for name in names),
                             key=lambda pair: pair[0][0], reverse=True)
        out = []
        for chunk, name in chunks:
            if len(out) >= n or (after is not None and chunk[1] < after):
                break                          # seq order is capture order: the rest is older
            head = tuple(chunk[:5])
            lines = chunk[5][:-1].split(b"\n")[-(n - len(out)):]
            out.extend(((*head, line), name) for line in reversed(lines))
        out.reverse()
        return out

    # ---- followers --------------------------------------------------------------------
    def follow(self, follower):
        self.followers = {f for f in self.followers if not f.closed}
        self.followers.add(follower)

    def _fan_out(self, source, entry, lines):
        targets = [f for f in self.followers if not f.closed and f.wants(source)]
        if not targets or self.push is None:
            return
        frames = []                # encoded once, and only if some follower takes them

        def encoded():
            if not frames:
                frames.append(b"".join(encode_frame(as_object((*entry, line), source)) for line in lines))
            return frames[0]
        for f in targets:
            self.push(f, encoded, len(lines))


def handle(history, server, request, token, known, limit=None, out_high=None):
    """The reply to a `logs` request (zei.core.protocol validated it); with `follow`, the
    connection of `token` becomes a follower first (bounded by `out_high` bytes)."""
    from zei.core.protocol import MAX_REPLY
    from zei.shell.server import OUT_HIGH
    limit, out_high = limit or MAX_REPLY, out_high or OUT_HIGH
    names = request.get("services") or None
    unknown = [name for name in names or () if name not in known and name != ZEI]
    if unknown:
        return {"ok": False, "code": "unknown-service",
                "error": f"unknown service {unknown[0]!r}; known: {', '.join(known)}"}
    n = request.get("lines", 100)
    payload = reply(history.snapshot(names, n, request.get("since")), limit)
    if request.get("follow") and server is not None:
        follower = Follower(names, out_high)
        server.follow(token, follower)
        history.push = server.push
        history.follow(follower)
        payload["follow"] = True
    return payload


def reply(entries, limit):
    """The `logs` reply for a snapshot: the newest lines that fit in `limit` bytes, with
    `dropped` saying how many older ones did not fit."""
    objs, size = [], 200
    for entry, source in reversed(entries):
        obj = as_object(entry, source)
        size += len(jsontext.dumps(obj)) + 1
        if size > limit:
            break
        objs.append(obj)
    objs.reverse()
    return {"ok": True, "lines": objs, "dropped": len(entries) - len(objs)}
