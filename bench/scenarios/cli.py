"""CLI scenarios: B8 (`zei list` vs `supervisorctl status`, K=6) and B9 (K=200: startup,
RSS, the CLI again) — the daemon's CLI from the host against its socket.

The CLI runs from the host, outside the namespace (the socket is a file both see); Launch.cli()
times one call from spawn to exit and checks that every service is listed. B8's floor, in
zei's trials call by call: the system Python starting and exiting (`python3 -I -S -c pass`).
"""
from __future__ import annotations

import shlex
import subprocess

from bench import FLOOR, PY, SUPERVISORS, BenchError
from bench.launch import sleeper
from bench.proc import now, settle, smaps_rollup


def phase_cli(b):
    """B8 CLI round trip"""
    per = b.p["cli_per_round"]

    def fn(lc, init):
        lc.start([sleeper(lc.events.path, f"s{i}") for i in range(6)])
        lc.wait_up()
        for _ in range(per):
            b.add("B8", init, lc.cli() * 1000)
            if init == "zei":                  # the floor, call by call in the same trial
                b.add("B8.floor", FLOOR, python_floor() * 1000)
    b.rounds(b.p["cli_rounds"], "B8", fn, among=SUPERVISORS)


def python_floor():
    """Wall seconds of `/usr/bin/python3 -I -S -c pass`, spawned like the CLI."""
    cmd = [PY, "-I", "-S", "-c", "pass"]
    t0 = now()
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    t = now() - t0
    if r.returncode != 0:
        raise BenchError(f"{shlex.join(cmd)} -> {r.returncode}: {r.stderr[:300]!r}")
    return t


def phase_scale(b):
    """B9 scale (K=200)"""
    k = b.p["scale_k"]

    def fn(lc, init):
        lc.start([sleeper(lc.events.path, f"s{i}") for i in range(k)])
        t_up = lc.wait_up(timeout=60)
        b.add("B9.start", init, (t_up - lc.t_exec) * 1000)
        settle(lc.pid1)
        b.add("B9.rss", init, smaps_rollup(lc.pid1)[0])
        if init in SUPERVISORS:
            for _ in range(b.p["scale_list"]):
                b.add("B9.list", init, lc.cli() * 1000)
    b.rounds(b.p["scale_rounds"], "B9", fn, show="B9.start")


PHASES = [({"B8"}, phase_cli), ({"B9"}, phase_scale)]
