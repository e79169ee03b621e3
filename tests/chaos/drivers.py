"""Process-level drivers of the chaos harness, and the table the scheduler draws from.

Each driver is `fn(ctx, rng)` run on a worker thread (see raw.py for the socket ones):

    cli            the real CLI (`<zei> --socket SOCK -c CONFIG ...`): list [--json], status
                   [SVC] [--json], start/stop/restart SVC, signal SVC:SIG, unknown service, bad
                   usage, check. Each must finish within CLI_TIMEOUT (+ shutdown_timeout for
                   start/stop/restart) with an exit code from its expected set (start/stop/
                   restart may fail only as "superseded" by a later opposite request), and
                   list/status must have reached the daemon (no "daemon not running" fallback).
    kill_service   SIGKILL / SIGTERM / SIGINT to a child of PID 1 (a service, sometimes an orphan)
    signal_service HUP/USR1/USR2 to a service, or SIGSTOP and SIGCONT 0.1-1 s later
    signal_pid1    HUP/USR1/USR2 to PID 1 (forwarded), bursts of them, or signals PID 1 ignores
                   (WINCH, CONT, ALRM, PIPE, and a spurious CHLD)
    orphan_storm   `nsenter` into the namespace: a shell backgrounds 50-300 short sleeps and
                   exits at once, so PID 1 inherits them all (docker exec style)
The stalled stdout reader is driven by the scheduler itself (chaos.py).
DRIVERS maps name -> (function, weight, long-running?); long ones are not started in the
last seconds of a run.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time

import raw
import zeiproc

CLI_TIMEOUT = 15.0
SERVICE_MODES = {b"chatty", b"crasher", b"flaky", b"db", b"app", b"migrate", b"stubborn"}


def cli_case(ctx, rng):
    """(label, argv, allowed exit codes, reaches the daemon?)"""
    svc = rng.choice(ctx.services + ["stubborn"])
    sig = rng.choice(["HUP", "SIGUSR1", "usr2", "10", "WINCH"])
    cases = [
        ("list", ["list"], {0}, True),
        ("list --json", ["list", "--json"], {0}, True),
        ("status", ["status"], {0, 3}, True),
        ("status SVC", ["status", svc], {0, 3}, True),
        ("status SVC --json", ["status", svc, "--json"], {0, 3}, True),
        ("status unknown", ["status", "no-such-svc"], {4}, True),
        ("start", ["start", svc], {0}, True),
        ("stop", ["stop", svc], {0}, True),
        ("restart", ["restart", svc], {0}, True),
        ("signal", ["signal", f"{svc}:{sig}"], {0, 1}, True),
        ("signal unknown", ["signal", "no-such-svc:HUP"], {4}, True),
        ("bad usage", rng.choice([["signal", svc], ["frobnicate"], ["signal", f"{svc}:NOPE"],
                                  ["status", "a", "b"], ["stop"], ["list", "--bogus"]]), {2}, False),
        ("check", ["check"], {0}, False),
    ]
    weights = [3, 1, 2, 3, 1, 1, 2, 2, 2, 2, 1, 1, 0.3]
    return rng.choices(cases, weights)[0]


def cli(ctx, rng):
    label, argv, allowed, daemon = cli_case(ctx, rng)
    if argv[:2] == ["stop", "stubborn"] and rng.random() < 0.7:
        argv = ["status", "stubborn"]        # stops of the TERM-ignorer take shutdown_timeout;
        label, allowed = "status SVC", {0, 3}  # keep them to a fraction of the stop calls
    ctx.count("cli", label)
    timeout = CLI_TIMEOUT + (ctx.shutdown_timeout if argv[0] in ("start", "stop", "restart") else 0)
    t0 = time.monotonic()
    try:
        r = subprocess.run(ctx.zei.cli_command(*argv), capture_output=True, text=True,
                           timeout=timeout, env=zeiproc.zei_env(), stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        ctx.violation("cli", f"`zei {' '.join(argv)}` did not return within {timeout:g}s")
        return
    took = time.monotonic() - t0
    ctx.cli_done(r.returncode, took)
    err = r.stderr.strip().replace("\n", " | ")[:300]
    if r.returncode not in allowed:
        if argv[0] == "signal" and r.returncode == 1 and "not running" in r.stderr:
            return
        if argv[0] in ("start", "stop", "restart") and r.returncode == 1 and "superseded" in r.stderr:
            return                           # a later start/stop overtook this request
        ctx.violation("cli", f"`zei {' '.join(argv)}` exited {r.returncode} (expected "
                      f"{sorted(allowed)}) after {took:.2f}s: {err}")
    elif r.returncode == 1 and argv[0] == "signal" and "not running" not in r.stderr:
        ctx.violation("cli", f"`zei {' '.join(argv)}` failed: {err}")
    elif daemon and ("daemon not running" in r.stderr or "cannot reach the daemon" in r.stderr
                     or '"daemon": false' in r.stdout):
        ctx.violation("cli", f"`zei {' '.join(argv)}` did not reach the daemon: {err}")


def service_pids(ctx, orphans_too=False):
    """[(host pid, mode)] of the children of PID 1 that are our services (and orphans)."""
    out = []
    for pid in zeiproc.children(ctx.zei.pid):
        argv = zeiproc.cmdline(pid)
        mode = argv[3] if len(argv) > 3 and argv[2].endswith(b"svc.py") else None
        if mode in SERVICE_MODES:
            out.append((pid, mode.decode()))
        elif orphans_too and argv and argv[0].endswith(b"sleep"):
            out.append((pid, "orphan"))
    return out


def send(pid, sig):
    try:
        os.kill(pid, sig)
        return True
    except ProcessLookupError:
        return False


def kill_service(ctx, rng):
    targets = service_pids(ctx, orphans_too=rng.random() < 0.2)
    if not targets:
        raise raw.Skip("no service running")
    pid, mode = rng.choice(targets)
    sig = rng.choices([signal.SIGKILL, signal.SIGTERM, signal.SIGINT], [5, 3, 1])[0]
    if send(pid, sig):
        ctx.count("kill_service", f"{signal.Signals(sig).name} {mode}")


def signal_service(ctx, rng):
    targets = service_pids(ctx)
    if not targets:
        raise raw.Skip("no service running")
    pid, mode = rng.choice(targets)
    if rng.random() < 0.2:
        if send(pid, signal.SIGSTOP):
            ctx.count("signal_service", f"STOP+CONT {mode}")
            try:
                time.sleep(rng.uniform(0.1, 1.0))
            finally:
                send(pid, signal.SIGCONT)
        return
    sig = rng.choice([signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2])
    if send(pid, sig):
        ctx.count("signal_service", f"{sig.name} {mode}")


def signal_pid1(ctx, rng):
    r = rng.random()
    if r < 0.6:
        sig = rng.choice([signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2])
        ctx.count("signal_pid1", sig.name)
        send(ctx.zei.pid, sig)
    elif r < 0.8:
        n = rng.randint(5, 40)
        ctx.count("signal_pid1", "burst")
        for _ in range(n):
            send(ctx.zei.pid, rng.choice([signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGCHLD]))
    else:
        sig = rng.choice([signal.SIGWINCH, signal.SIGCONT, signal.SIGALRM, signal.SIGPIPE, signal.SIGCHLD])
        ctx.count("signal_pid1", f"{sig.name} (ignored)")
        send(ctx.zei.pid, sig)


def orphan_storm(ctx, rng):
    n = rng.randint(50, 300)
    pause = rng.choice(["0.01", "0.05", "0.1", "0.2"])
    script = f'i=0; while [ $i -lt {n} ]; do sleep {pause} & i=$((i+1)); done; exit 0'
    ctx.count("orphan_storm", "")
    try:
        r = subprocess.run(ctx.zei.inside("sh", "-c", script), capture_output=True, timeout=30,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        ctx.harness_error("orphan_storm: nsenter did not return within 30s")
        return
    ctx.effect("orphan storm", 1.5)
    if r.returncode == 0:
        ctx.note("orphans made by storms", n)
    elif ctx.zei.alive():
        ctx.harness_error(f"orphan_storm: nsenter exited {r.returncode}: {r.stderr[:200]!r}")


DRIVERS = {
    "cli": (cli, 6, False),
    "kill_service": (kill_service, 2.5, False),
    "signal_service": (signal_service, 1.5, False),
    "signal_pid1": (signal_pid1, 2, False),
    "orphan_storm": (orphan_storm, 0.7, False),
    "malformed": (raw.malformed, 2.5, False),
    "truncated": (raw.truncated, 2, True),
    "oversized": (raw.oversized, 1.5, False),
    "pipelined": (raw.pipelined, 2, False),
    "flood": (raw.flood, 0.2, False),
    "abandoned": (raw.abandoned, 2, False),
    "concurrent": (raw.concurrent, 1.2, False),
    "keepalive": (raw.keepalive, 1, False),
    "stop_stubborn": (raw.stop_stubborn, 0.4, True),
}
