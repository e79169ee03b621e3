"""Log throughput (B10): one service writes 200,000 numbered 100-byte lines to its stdout;
the init's stdout is a pipe the harness drains into one preallocated buffer.

The service (LOG_SVC) builds its 20 MB first, announces itself and waits on a FIFO; the
harness's go starts the clock, the whole last line arriving stops it. check_lines() then
counts sequence numbers that never arrived (lost) and lines that are not exactly one
well-formed line after the init's prefix, or repeat a number (torn).
"""
from __future__ import annotations

import os
import re
import select

from bench import PY, BenchError
from bench.launch import Svc
from bench.proc import now

LOG_SVC = r'''
import os, sys
events, go, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
filler = b" " + b"x" * 90 + b"\n"
chunks = [b"".join(b"%08d" % j + filler for j in range(i, min(i + 100, n))) for i in range(0, n, 100)]
fd = os.open(events, os.O_WRONLY)
os.write(fd, b"up logger\n")
g = os.open(go, os.O_RDONLY)
os.read(g, 1)
for c in chunks:
    v = memoryview(c)
    while v:
        v = v[os.write(1, v):]
os.write(fd, b"done logger\n")
'''

LINE_RE = re.compile(rb"^(?:\S+\[out\] )?(\d{8}) x{90}$")



def phase_logs(b):
    """B10 log throughput"""
    n = b.p["log_lines"]
    # One buffer for every trial, its pages touched once here: no trial pays for fresh
    # memory (the first one would), and the reader copies nothing it does not have to.
    buf = bytearray(n * 100 * 5 // 4 + (1 << 20))
    view = memoryview(buf)
    mark = b"%08d %s\n" % (n - 1, b"x" * 90)            # the whole last line

    def fn(lc, init):
        go = lc.fifo("go")
        prog = lc.script("logger.py", LOG_SVC)
        lc.start([Svc("logger", [PY, "-S", prog, lc.events.path, go.path, str(n)])], capture=True)
        out_poll = select.poll()
        out_poll.register(lc.out_r, select.POLLIN)
        pos = 0

        def drain(timeout_ms):
            """Read what the init wrote into buf; True once the last line is in."""
            nonlocal pos
            if not out_poll.poll(timeout_ms):
                return False
            got = os.readv(lc.out_r, [view[pos:]])
            if not got:
                raise BenchError("the init's stdout closed before the last line"
                                 if pos < len(buf) else "output larger than expected")
            pos += got
            return buf.find(mark, max(0, pos - got - len(mark)), pos) >= 0
        deadline = now() + 30
        while not any(ln.startswith("up ") for ln, _ in lc.events.queue):
            drain(1)
            lc.events._fill(0.001)
            if now() > deadline:
                raise BenchError("the logger did not come up")
        t0 = now()
        go.write(b"g")
        deadline = t0 + 120
        while not drain(int(max(0, deadline - now()) * 1000) + 1):
            if now() > deadline:
                raise BenchError("the last line did not arrive within 120 s")
        t1 = now()
        lost, torn = check_lines(bytes(view[:pos]), n)
        b.add("B10.time", init, (t1 - t0) * 1000)
        b.add("B10.rate", init, n / (t1 - t0))
        b.add("B10.lost", init, lost)
        b.add("B10.torn", init, torn)
    try:
        b.rounds(b.p["log_rounds"], "B10", fn, show="B10.time")
    finally:
        view.release()


def check_lines(data, n):
    seen = bytearray(n)
    torn = 0
    for line in data.split(b"\n"):
        m = LINE_RE.match(line)
        if m:
            i = int(m.group(1))
            if i < n and not seen[i]:
                seen[i] = 1
                continue
            torn += 1
        elif b"xxxxxxxxxx" in line:
            torn += 1
    return n - sum(seen), torn


PHASES = [({"B10"}, phase_logs)]
