"""Health-check cost (B11, zei only: no peer has health checks): PID 1's own CPU per
finished check, for exec, tcp and http checks, and 50 services checked every second.

CPU comes from /proc/<pid>/task/*/schedstat of PID 1; check counts from `zei status --json`
run from the host. Every reading is one status request, so each interval between readings
costs s + n·c (one request, n checks): the long window and a burst of readings right after
it give both unknowns (the definition of B11.exec in bench/metrics.py). tcp/http checks talk
to LISTEN_SVC, an accept loop on the host whose CPU is not PID 1's.
"""
from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import time

from bench import PY, BenchError
from bench.launch import sleeper
from bench.proc import CLK_TCK, children, cpu_times, now, poll_until, proc_state

HEALTH_KINDS = ("exec", "tcp", "http")

# B11's listener: an accept loop on a socket the harness bound (no port race), run on the
# host (same network namespace as PID 1's, its CPU not PID 1's). tcp: accept and close;
# http: read the request head, answer 200, close. SIGUSR1: write "count N" to the FIFO.
LISTEN_SVC = r'''
import os, signal, socket, sys
fd, mode, events = int(sys.argv[1]), sys.argv[2], sys.argv[3]
srv = socket.socket(fileno=fd)
ev = os.open(events, os.O_WRONLY)
reply = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nok"
n = 0
signal.signal(signal.SIGUSR1, lambda *a: os.write(ev, b"count %d\n" % n))
os.write(ev, b"listening\n")
while True:
    c, _ = srv.accept()
    n += 1
    if mode == "http":
        c.settimeout(2.0)
        head = b""
        try:
            while b"\r\n\r\n" not in head and len(head) < 65536:
                data = c.recv(4096)
                if not data:
                    break
                head += data
            if head.startswith(b"GET "):
                c.sendall(reply)
        except OSError:
            pass
    c.close()
'''


def listener_for(lc, mode):
    """Start B11's listener for trial lc on 127.0.0.1 (a port the kernel picks); -> (port, Popen)."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        srv.bind(("127.0.0.1", 0))
        srv.listen(128)
        prog = lc.script("listen.py", LISTEN_SVC)
        proc = subprocess.Popen([PY, "-S", prog, str(srv.fileno()), mode, lc.events.path],
                                pass_fds=[srv.fileno()], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=open(lc.dir / "listener.err", "wb"))
        lc.helpers.append(proc)
        port = srv.getsockname()[1]
    finally:
        srv.close()
    lc.events.take("listening", timeout=10)
    return port, proc


def phase_health(b):
    """B11 health check cost (zei only)"""
    if "zei" not in b.inits:
        b.say("   zei is not among --inits: nothing to measure")
        return
    last = b.last
    b.warm_up("B11", "zei", lambda lc, init: health_trial(b, lc, "exec"))
    for rnd in range(b.p["health_rounds"]):
        k = rnd % len(HEALTH_KINDS)
        for kind in HEALTH_KINDS[k:] + HEALTH_KINDS[:k]:
            b.trial("B11", "zei", lambda lc, init, kind=kind: health_trial(b, lc, kind))
        b.say(f"   round {rnd + 1}: PID 1 ms CPU per check: " + ", ".join(
            f"{kind} {last('B11.' + kind)}" for kind in HEALTH_KINDS)
            + f"; exec child {last('B11.exec_child')}; status request {last('B11.status')}")
    for rnd in range(b.p["health50_rounds"]):
        b.trial("B11", "zei", lambda lc, init: health50_trial(b, lc, init))
        b.say(f"   {b.p['health50_k']} services, exec check every 1 s, round {rnd + 1}: "
              f"PID 1 {last('B11.cpu50')} % of one core, {last('B11.rate50')} checks/s")


def health_services(b, lc, kind, k, interval):
    """k sleepers with the same check; for tcp/http the listener is started first."""
    check, listener = {"interval": f"{interval * 1000:g}ms", "timeout": "1s"}, None
    if kind == "exec":
        check["test"] = ["CMD", "/bin/true"]
    else:
        port, listener = listener_for(lc, kind)
        check[kind] = f"http://127.0.0.1:{port}/health" if kind == "http" else f"127.0.0.1:{port}"
    return [sleeper(lc.events.path, f"h{i}", health=check) for i in range(k)], listener


def health_problems(rows, k):
    """What is wrong with the status rows, if anything: every one of the k services must
    run its first instance (no restart for being unhealthy), healthy, its last check passed."""
    bad = [] if len(rows) == k else [f"{len(rows)} rows for {k} services"]
    for r in rows:
        h = r.get("health") or {}
        last = h.get("last") or {}
        if r.get("state") != "running" or r.get("runs") != 1 or h.get("status") != "healthy" \
                or h.get("failing_streak") or not last.get("ok"):
            bad.append(f"{r.get('name')}: {r.get('state')}, runs {r.get('runs')}, "
                       f"health {h.get('status')}, failing streak {h.get('failing_streak')}, "
                       f"last check {last.get('error') or last.get('ok')}")
    return bad


def health_start(b, lc, kind, k, interval):
    svcs, listener = health_services(b, lc, kind, k, interval)
    lc.start(svcs)
    want, deadline = k, now() + 60
    while want:                                    # a config zei refuses: fail at once
        if not lc.alive():
            raise BenchError("PID 1 exited before its services came up")
        try:
            lc.events.take("up ", 1, timeout=0.2)
            want -= 1
        except BenchError:
            if now() > deadline:
                raise

    def healthy():
        rows = lc.status()
        lost = [r["name"] for r in rows if r.get("runs") != 1 or r.get("state") != "running"
                or (r.get("health") or {}).get("status") == "unhealthy"]
        if lost:                                   # fail now, not at the deadline
            raise BenchError("before the window: " + "; ".join(health_problems(rows, k)[:3]))
        return not health_problems(rows, k)
    poll_until(healthy, 60, f"all {k} services healthy", interval=0.05)
    return listener


def health_reading(b, lc, k):
    """(checks finished so far, PID 1 run ns, reaped children's ticks, time): the CPU read
    right after the status request returned, so the request falls before the reading."""
    rows = lc.status()
    run, kids = cpu_times(lc.pid1)
    t = now()
    bad = health_problems(rows, k)
    if bad:
        raise BenchError("a health check failed or a service was restarted: " + "; ".join(bad[:3]))
    return sum(r["health"]["checks"] for r in rows), run, kids, t


def health_leftovers(b, lc, k):
    """No check process may stay a zombie, nor check processes pile up."""
    kids = children(lc.pid1)
    if len(kids) > 2 * k:
        raise BenchError(f"PID 1 has {len(kids)} children for {k} services (each with at "
                         "most one check in flight)")
    zombies = {c for c in kids if proc_state(c) == "Z"}
    if zombies:
        try:
            poll_until(lambda: not {c for c in zombies if proc_state(c) == "Z"}, 2.0, "")
        except BenchError:
            left = sorted(c for c in zombies if proc_state(c) == "Z")
            raise BenchError(f"zombie(s) among PID 1's children for over 2 s: host pids {left}") from None


def health_trial(b, lc, kind):
    k, p = b.p["health_k"], b.p
    listener = health_start(b, lc, kind, k, p["health_interval"])
    first = health_reading(b, lc, k)
    time.sleep(p["health_window"])                 # the measurement window
    reads = [first, health_reading(b, lc, k)]
    for _ in range(p["health_bursts"]):            # status requests back to back
        reads.append(health_reading(b, lc, k))
    health_leftovers(b, lc, k)
    steps = [(y[0] - x[0], y[1] - x[1]) for x, y in zip(reads, reads[1:])]
    (n_w, cpu_w), burst = steps[0], steps[1:]
    if n_w <= 0:
        raise BenchError(f"no health check finished during the {p['health_window']:g} s window")
    n_b = statistics.mean(n for n, _ in burst)
    cpu_b = statistics.mean(c for _, c in burst)
    # each step costs s + n*c (one status request, n checks): two equations, c and s
    c = (cpu_w - cpu_b) / (n_w - n_b) if n_w - n_b >= n_w / 2 else cpu_w / n_w
    s = cpu_b - c * n_b
    b.add(f"B11.{kind}", "zei", c / 1e6)
    b.add("B11.status", "zei", s / 1e6)
    total = reads[-1][0] - first[0]
    if kind == "exec":
        b.add("B11.exec_child", "zei", (reads[-1][2] - first[2]) * 1000 / CLK_TCK / total)
    if listener is not None:
        os.kill(listener.pid, signal.SIGUSR1)
        seen = int(lc.events.take("count ", timeout=5)[0][0].split()[1])
        if seen < reads[-1][0]:
            raise BenchError(f"the listener accepted {seen} connections, zei counted "
                             f"{reads[-1][0]} {kind} checks")


def health50_trial(b, lc, init):
    k, window = b.p["health50_k"], b.p["health50_window"]
    health_start(b, lc, "exec", k, 1.0)
    first = health_reading(b, lc, k)
    run0, t0 = cpu_times(lc.pid1)[0], now()
    time.sleep(window)                             # the measurement window: no request in it
    run1, t1 = cpu_times(lc.pid1)[0], now()
    after = health_reading(b, lc, k)
    health_leftovers(b, lc, k)
    if after[0] <= first[0]:
        raise BenchError(f"no health check finished during the {window:g} s window")
    b.add("B11.cpu50", "zei", (run1 - run0) / 1e9 / (t1 - t0) * 100)
    b.add("B11.rate50", "zei", (after[0] - first[0]) / (after[3] - first[3]))


PHASES = [({"B11"}, phase_health)]
