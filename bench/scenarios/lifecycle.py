"""Lifecycle scenarios, every init: B1 idle (B1.full: zei with its log rings full), B2/B3/B7 with K=6 (B3.floor: no init), B7 with a TERM-ignoring
service, B4 reap storm, B5 signal forwarding, B6 restart (zei, supervisord).

Each phase is a function of the Bench (bench.runner) that runs its trials through
b.rounds() (every init once per round, the order rotating) or, for B1, starts every init
side by side and counts their context switches over one shared window. The services are
B3's sleepers (`echo up NAME >FIFO; exec sleep infinity`) unless a scenario needs its own
program (STORM_SVC, SIG_SVC: Python with -S, written into the trial's directory).
"""
from __future__ import annotations

import os
import shlex
import signal
import time

from bench import FLOOR, INITS, PY, SUPERVISORS, BenchError, rings
from bench.launch import Launch, Svc, sleeper
from bench.proc import children, ctxt_switches, exit_status, now, poll_until, settle, smaps_rollup

STORM_DEADLINE = 120.0      # supervisord reaps 100 orphans per 1-second loop: ~50 s for 5,000

SIG_SVC = r'''
import os, select, signal, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY)
def on_hup(signum, frame):
    os.write(fd, b"hup %d\n" % time.monotonic_ns())
# Wait on a wakeup fd, not signal.pause(): a signal landing between the handler's return
# and the next pause() would only be handled at the one after it (a lost wakeup).
r, w = os.pipe()
os.set_blocking(w, False)
signal.set_wakeup_fd(w, warn_on_full_buffer=False)
signal.signal(signal.SIGHUP, on_hup)
os.write(fd, b"up sig\n")
while True:
    select.select([r], [], [])
    os.read(r, 512)
'''

STORM_SVC = r'''
import os, sys
events, go, release, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
fd = os.open(events, os.O_WRONLY)
os.write(fd, b"up storm\n")
g = os.open(go, os.O_RDONLY)           # the harness holds it open: never blocks
os.read(g, 1)                          # blocks until the harness says go
r = os.open(release, os.O_RDONLY | os.O_NONBLOCK)
os.set_blocking(r, True)
null = os.open("/dev/null", os.O_WRONLY)
acts = [(os.POSIX_SPAWN_DUP2, r, 0), (os.POSIX_SPAWN_DUP2, null, 1), (os.POSIX_SPAWN_DUP2, null, 2)]
for _ in range(n):
    os.posix_spawn("/bin/cat", ["cat"], {}, file_actions=acts)
os.write(fd, b"spawned storm\n")
os._exit(0)                            # the cats become orphans of PID 1
'''


def idle_full(b, lc):
    """B1.full's zei: six services fill their log rings, then sleep; its stdout is drained."""
    names = [f"s{i}" for i in range(6)]
    lc.start(rings.overfull_writers(lc, names), drain=True)
    lc.events.take("done ", len(names), timeout=60)      # take() drops the `up` lines before
    if not settle(lc.pid1, timeout=30):
        raise BenchError("PID 1 never went quiet for 100 ms after every service's output")
    for nm in names:
        rings.check_full(lc, nm, len(names))
    settle(lc.pid1)


def phase_idle(b):
    """B1 idle wakeups (all inits side by side, one window per round; zei with full rings too)"""
    for rnd in range(b.p["idle_rounds"]):
        launches = []                                     # [(metric, launch)]
        try:
            todo = [("B1", init) for init in b.order(rnd)]
            if "zei" in b.inits:
                todo.append(("B1.full", "zei"))
            for key, init in todo:
                launch = Launch(b, init)
                try:
                    if key == "B1.full":
                        idle_full(b, launch)
                    else:
                        launch.start([sleeper(launch.events.path, f"s{i}") for i in range(6)])
                        launch.wait_up()
                        settle(launch.pid1)
                    launches.append((key, launch))
                except (BenchError, OSError) as e:
                    b.fail("B1", init, ("rings full: " if key == "B1.full" else "") + str(e))
                    launch.stop()
            before = [ctxt_switches(lc.pid1) for _, lc in launches]
            t0 = now()
            time.sleep(b.p["idle_window"])          # the one fixed sleep: the defined window
            window = now() - t0
            for (key, lc), n0 in zip(launches, before):
                if not lc.alive():
                    b.fail("B1", lc.init, f"PID 1 exited during the idle window ({key})")
                    continue
                b.add(key, lc.init, ctxt_switches(lc.pid1) - n0)
            b.say(f"   round {rnd + 1}: window {window:.2f}s: " + ", ".join(
                f"{i} {v[-1]}" for i, v in b.samples["B1"].items() if v)
                + "".join(f"; zei, rings full {v[-1]}" for v in b.samples["B1.full"].values() if v))
        finally:
            for _, lc in launches:
                lc.stop()


def phase_k6(b):
    """B2 memory, B3 startup, B7 cooperative shutdown (K=6); B3's floor: no init"""
    def fn(lc, init):
        lc.start([sleeper(lc.events.path, f"s{i}") for i in range(6)])
        t_up = lc.wait_up()
        if init == FLOOR:                      # a shell as PID 1 ignores SIGTERM: B3 only
            b.add("B3.floor", FLOOR, (t_up - lc.t_exec) * 1000)
            return
        b.add("B3", init, (t_up - lc.t_exec) * 1000)
        settle(lc.pid1)
        rss, pss = smaps_rollup(lc.pid1)
        b.add("B2.rss", init, rss)
        b.add("B2.pss", init, pss)
        if init in SUPERVISORS:
            for _ in range(3):
                lc.cli()
            settle(lc.pid1)
            rss, pss = smaps_rollup(lc.pid1)
            b.add("B2.rss_used", init, rss)
            b.add("B2.pss_used", init, pss)
        t0 = now()
        os.kill(lc.pid1, signal.SIGTERM)
        t1 = lc.wait_exit(15)
        b.add("B7.coop", init, (t1 - t0) * 1000)
        b.add("B7.coop_exit", init, exit_status(lc.proc.returncode))
    b.rounds(b.p["k6_rounds"], "B2/B3/B7", fn, among=(*INITS, FLOOR), show="B3")


def phase_ignore(b):
    """B7 shutdown with one TERM-ignoring service"""
    deadline = b.p["ignore_deadline"]

    def fn(lc, init):
        svcs = [sleeper(lc.events.path, f"s{i}", ignore_term=(i == 0)) for i in range(6)]
        lc.start(svcs, shutdown_timeout=deadline)
        lc.wait_up()
        settle(lc.pid1)
        t0 = now()
        os.kill(lc.pid1, signal.SIGTERM)
        t1 = lc.wait_exit(deadline + 15)
        b.add("B7.ignore", init, (t1 - t0) * 1000)
        b.add("B7.ignore_exit", init, exit_status(lc.proc.returncode))
    b.rounds(b.p["ignore_rounds"], "B7.ignore", fn, show="B7.ignore")


def phase_storm(b):
    """B4 reap storm"""
    n = b.p["storm_n"]

    def fn(lc, init):
        go, release = lc.fifo("go"), lc.fifo("release")
        prog = lc.script("storm.py", STORM_SVC)
        storm = Svc("storm", [PY, "-S", prog, lc.events.path, go.path, release.path, str(n)])
        lc.start([storm, sleeper(lc.events.path, "keeper")])
        lc.wait_up()
        base = children(lc.pid1)
        go.write(b"g")
        lc.events.take("spawned", timeout=120)
        poll_until(lambda: len(children(lc.pid1) - base) >= n, 60,
                   f"{n} orphans to be reparented to PID 1", interval=0.005)
        t0 = now()
        lc.fifos.remove(release)
        release.close()                       # every orphan reads EOF now
        left = n
        while now() - t0 < STORM_DEADLINE:
            left = len(children(lc.pid1) - base)
            if left == 0:
                break
            time.sleep(0.001)
        t1 = now()
        if not lc.alive():
            raise BenchError("PID 1 exited during the reap storm")
        b.add("B4.left", init, left)
        if left:
            raise BenchError(f"{left} of {n} orphans still there after {STORM_DEADLINE:g} s")
        b.add("B4", init, (t1 - t0) * 1000)
    b.rounds(b.p["storm_rounds"], "B4", fn, show="B4")


def phase_signal(b):
    """B5 signal forwarding"""
    per = b.p["sig_per_round"]

    def fn(lc, init):
        prog = lc.script("sig.py", SIG_SVC)
        lc.start([Svc("sig", [PY, "-S", prog, lc.events.path])])
        lc.wait_up()
        settle(lc.pid1)
        for _ in range(per):
            t0 = time.monotonic_ns()
            os.kill(lc.pid1, signal.SIGHUP)
            line, _ = lc.events.take("hup ", timeout=5)[0]
            b.add("B5", init, (int(line.split()[1]) - t0) / 1e6)
    b.rounds(b.p["sig_rounds"], "B5", fn, among=INITS[:4])


def phase_restart(b):
    """B6 restart latency"""
    per = b.p["restarts_per_round"]

    def fn(lc, init):
        ex = lc.fifo("exit")
        cmd = f"echo up r >{shlex.quote(lc.events.path)}; read x <{shlex.quote(ex.path)}; exit 0"
        lc.start([Svc("r", ["/bin/sh", "-c", cmd], restart="always")])
        lc.wait_up()
        for _ in range(per):
            t0 = now()
            ex.write(b"x\n")
            t1 = lc.events.take("up ", timeout=10)[0][1]
            b.add("B6", init, (t1 - t0) * 1000)
    b.rounds(b.p["restart_rounds"], "B6", fn, among=SUPERVISORS)


PHASES = [({"B1"}, phase_idle), ({"B2", "B3", "B7"}, phase_k6), ({"B7"}, phase_ignore),
          ({"B4"}, phase_storm), ({"B5"}, phase_signal), ({"B6"}, phase_restart)]
