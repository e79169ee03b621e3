"""zei's log rings (`zei logs`): fill them from services, read them back, check they are full.

A writer service announces itself, `cat`s a file of 100-byte lines the harness wrote (a
6-digit number, a space, 92 `y`, newline), writes `END NAME`, reports `done NAME` on the event
FIFO and sleeps. With more lines than its ring's budget, the ring must end with the END line
and have dropped its first line. The budget of one source is the README's: 256 KiB, or
16 MiB / (services + 1) when that is less (every service and zei itself are sources).
"""
from __future__ import annotations

import json
import shlex

from bench import MiB, BenchError
from bench.launch import Svc

RING_BYTES = 256 * 1024
ALL_RINGS = 16 * MiB


def budget(k):
    """The byte budget of one source's ring with k services (README)."""
    return min(RING_BYTES, ALL_RINGS // (k + 1))


def fill_file(lc, name, nbytes):
    """A file of 100-byte lines in the trial's directory, >= nbytes; -> (path, lines)."""
    n = -(-nbytes // 100)
    path = lc.dir / name
    path.write_bytes(b"".join(b"%06d " % i + b"y" * 92 + b"\n" for i in range(n)))
    return str(path), n


def writer(fifo, name, fill):
    q = shlex.quote
    return Svc(name, ["/bin/sh", "-c", f"echo up {name} >{q(fifo)}; cat {q(fill)}; echo END {name}; "
                      f"echo done {name} >{q(fifo)}; exec sleep infinity"])


def overfull_writers(lc, names):
    """Writers that each write 1.25x their ring's budget plus 16 KiB."""
    fill, _ = fill_file(lc, "fill", int(budget(len(names)) * 1.25) + 16 * 1024)
    return [writer(lc.events.path, nm, fill) for nm in names]


def ring(lc, name, n=10000):
    """The lines of `zei logs NAME -n N --json`, as dicts."""
    t, rc, out, err = lc.zei("logs", name, "-n", str(n), "--json")
    if rc != 0:
        raise BenchError(f"zei logs {name} -n {n} --json -> {rc}: {err[:300]!r}")
    try:
        return [json.loads(ln) for ln in out.splitlines() if ln.strip()]
    except ValueError as e:
        raise BenchError(f"zei logs --json printed something not JSON: {e}") from None


def check_full(lc, name, k):
    """Read NAME's ring in full: it must end with its END line, have dropped its first line
    and hold no more line bytes than its budget. -> the line bytes held."""
    rows = ring(lc, name)
    if not rows or rows[-1].get("msg") != f"END {name}":
        raise BenchError(f"{name}'s ring does not end with its END line: {(rows or [{}])[-1]!r:.200}")
    if rows[0].get("msg", "").startswith("000000 "):
        raise BenchError(f"{name}'s ring still holds its first line: not full ({len(rows)} lines)")
    held = sum(len(r.get("msg", "").encode()) + 1 for r in rows)
    if held > budget(k):
        raise BenchError(f"{name}'s ring holds {held} bytes of lines, past its budget {budget(k)}")
    return held
