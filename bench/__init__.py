"""zei benchmarks: zei against tini, dumb-init, catatonit and supervisord, side by side.

    scripts/bench                 full run (≲ 15 min): bench/results/latest.json + docs/benchmarks.md
    scripts/bench --smoke         tiny run, correctness only (no timing assertions); exit 1 on a defect
    scripts/bench --report        regenerate docs/benchmarks.md from bench/results/latest.json
    scripts/bench --only B11      one group at full size, merged into the existing results
    options: --only B4,B10  --inits zei,tini  --rounds N  --out FILE  --doc FILE  --no-merge

A full run restricted with --only or --inits merges into the results file it writes: it
replaces the samples (and failures) of the metric groups and inits it ran and keeps every
other one from the previous file, with where each came from (`provenance`, shown in the doc),
so `--only B11` does not wipe B1-B10 from docs/benchmarks.md. --no-merge writes this run alone.

The zei under test is $ZEI_BIN (a path or a command line) if set, else dist/zei if it exists,
else the source tree (`.venv/bin/python -m zei` with PYTHONPATH=<repo>); the output says which.

How a trial runs. Every init runs as PID 1 of a fresh PID + mount namespace:
    unshare --pid --mount --fork --mount-proc --kill-child /bin/sh -c 'echo exec >FIFO; exec INIT...'
The stamp shell writes `exec` to the trial's event FIFO immediately before it execs the init.
Services announce themselves on the same FIFO (`up NAME`) as their first command. The harness
holds the FIFO open read-write, timestamps each line with CLOCK_MONOTONIC the moment it reads
it, and waits with poll() and a deadline: there are no fixed sleeps except the measurement
windows (B1's idle window, B11's health-check windows).
The init's host pid is the only child of the unshare process (/proc/<pid>/task/*/children).
Single-child inits (tini -g, dumb-init, catatonit -g: all forward signals to the child's
process group) get a /bin/sh child that starts the K services in the background and waits
(with K = 1 it execs the service). supervisord runs with a generated config, nodaemon=true.
Inits alternate trial by trial (the order rotates each round). B11 (health-check cost) is zei
only: no peer has health checks. B12 (operating it: `zei logs`, buffered output's memory,
`zei reload`) is zei only too. B13 (command mode: `INIT -- true`) has no supervisord.

Floors (the pseudo-init "floor", measured only when zei is among the inits, in the same
rotation): the same work with no init at all, what zei's figure is read against. B3.floor:
the stamp shell execs the /bin/sh that starts the six services and waits; B8.floor:
`/usr/bin/python3 -I -S -c pass` spawned alternately with `zei list` in zei's trials;
B13.floor: the stamp shell execs the command itself.

The package: proc (system helpers, the FIFO), launch (one init as PID 1), rings (zei's log
rings), metrics (definitions and sizes), runner (trials, rounds, phases), scenarios/* (one
module per family of scenarios), summary (statistics, targets, smoke checks), report (the
document, the plot, merging runs), cli (the command line). Metric definitions: bench/metrics.py
and docs/benchmarks.md (generated from them).
"""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "latest.json"
DOC = ROOT / "docs" / "benchmarks.md"
NOTES = ROOT / "bench" / "notes.md"
SMOKE_DIR = ROOT / ".cache" / "bench"
INITS = ("zei", "tini", "dumb-init", "catatonit", "supervisord")
PEERS = INITS[1:]
SINGLE = ("tini", "dumb-init", "catatonit")
SUPERVISORS = ("zei", "supervisord")
FLOOR = "floor"                 # pseudo-init: the same work with no init (measured with zei)
PY = "/usr/bin/python3"
MiB = 1024 * 1024


class BenchError(Exception):
    pass
