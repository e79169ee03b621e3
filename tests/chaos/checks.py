"""Invariant checkers of the chaos harness: threads that watch zei all the time.

    Violations  the one list of violations (time since start, kind, message), printed as
                they happen and again in the summary.
    Pinger      a fresh connection and {"cmd":"ping"} every PING_EVERY s: the reply must be
                {"ok":true,"pid":1,...} within PING_LIMIT s (it waits up to PING_GIVE_UP s
                to say how long it really took).
    Monitor     every SCAN_EVERY s, from the host's /proc: PID 1 still alive; zombies among
                its children (a zombie seen for more than ZOMBIE_LIMIT s is a violation);
                its VmRSS against the bound; and over each BUSY_WINDOW s whether it burned
                CPU without ever sleeping (a busy loop: CPU share >= BUSY_CPU with fewer
                than BUSY_SWITCHES voluntary context switches; a loop that waits in poll()
                switches on every wakeup).
A condition that lasts (a zombie pile-up, RSS over the bound, a busy loop) is one violation
per episode, reported when it ends with its duration and worst value. Each violation says
what was going on around it ([during: stall, flood, ...], from Violations.context) so it
can be tied to a driver.
"""
from __future__ import annotations

import threading
import time

import zeiproc

PING_EVERY, PING_LIMIT, PING_GIVE_UP = 0.2, 1.0, 10.0
SCAN_EVERY, ZOMBIE_LIMIT = 0.1, 1.0
BUSY_WINDOW, BUSY_CPU, BUSY_SWITCHES = 2.0, 0.4, 10


class Violations:
    def __init__(self, t0, log):
        self.t0, self.log = t0, log
        self.items = []
        self.lock = threading.Lock()
        self.context = lambda: set()    # what was going on (set by the harness: stall, flood, ...)

    def add(self, kind, message, when=None, during=None):
        t = (when if when is not None else time.monotonic()) - self.t0
        during = self.context() if during is None else during
        if during:
            message += f" [during: {', '.join(sorted(during))}]"
        with self.lock:
            self.items.append((t, kind, message))
        self.log(f"VIOLATION t={t:7.2f}s {kind}: {message}")


class Episode:
    """A condition that may last: one violation from its start to its end, worst value kept."""

    def __init__(self, violations, kind, describe, quiet=1.0):
        self.v, self.kind, self.describe, self.quiet = violations, kind, describe, quiet
        self.start = self.quiet_since = None
        self.worst = None
        self.during = set()
        self.count = 0

    def update(self, active, now, value=None, detail=""):
        """An episode ends once the condition has been off for `quiet` seconds (no flapping)."""
        if active:
            self.quiet_since = None
            if self.start is None:
                self.start, self.worst, self.detail, self.during = now, value, detail, set()
            elif value is not None and (self.worst is None or value > self.worst):
                self.worst, self.detail = value, detail
            self.during |= self.v.context()
        elif self.start is not None:
            self.quiet_since = self.quiet_since or now
            if now - self.quiet_since >= self.quiet:
                self.close(self.quiet_since)

    def close(self, now):
        if self.start is None:
            return
        self.count += 1
        end = self.quiet_since or now
        self.v.add(self.kind, self.describe(self.worst, end - self.start, self.detail), self.start,
                   self.during)
        self.start = self.quiet_since = None


class Pinger(threading.Thread):
    def __init__(self, zei, violations, stop):
        super().__init__(daemon=True, name="pinger")
        self.zei, self.v, self.stop_event = zei, violations, stop
        self.count = 0
        self.slow = 0
        self.max = 0.0
        self.latencies = []

    def run(self):
        while not self.stop_event.wait(PING_EVERY):
            t0 = time.monotonic()
            during = self.v.context()
            try:
                reply = zeiproc.request(self.zei.sock, {"cmd": "ping"}, PING_GIVE_UP)
                err = None if reply.get("ok") and reply.get("pid") == 1 else f"bad reply {reply}"
            except (OSError, ValueError) as e:
                err = f"{type(e).__name__}: {e}"
            took = time.monotonic() - t0
            if self.stop_event.is_set():
                return                  # the final shutdown began while this ping waited
            self.count += 1
            self.latencies.append(took)
            self.max = max(self.max, took)
            during |= self.v.context()
            if err:
                self.v.add("ping", f"ping failed after {took:.3f}s: {err}", t0, during)
            elif took > PING_LIMIT:
                self.slow += 1
                self.v.add("ping", f"ping answered in {took:.3f}s (limit {PING_LIMIT:g}s)", t0, during)

    def p99(self):
        if not self.latencies:
            return 0.0
        xs = sorted(self.latencies)
        return xs[min(len(xs) - 1, int(len(xs) * 0.99))]


class Monitor(threading.Thread):
    def __init__(self, zei, violations, rss_limit_kb, stop):
        super().__init__(daemon=True, name="monitor")
        self.zei, self.v, self.rss_limit, self.stop_event = zei, violations, rss_limit_kb, stop
        self.shutting_down = False      # set by the harness before the final SIGTERM
        self.died = threading.Event()
        self.rss_peak = 0
        self.rss_first = None
        self.zombies_seen = 0
        self.zombie_max_age = 0.0
        self.children_max = 0
        self.cpu_peak = 0.0
        self.first_seen = {}
        self.zombie_ep = Episode(violations, "zombie", lambda worst, dur, d:
                                 f"zombie child of PID 1 unreaped for {worst:.2f}s (limit "
                                 f"{ZOMBIE_LIMIT:g}s); zombies over the limit for {dur:.2f}s{d}")
        self.rss_ep = Episode(violations, "rss", lambda worst, dur, d:
                              f"PID 1 RSS {worst / 1024:.1f} MiB over the bound "
                              f"{self.rss_limit / 1024:.0f} MiB for {dur:.2f}s")
        self.busy_ep = Episode(violations, "busy-loop", lambda worst, dur, d:
                               f"PID 1 busy-looping (up to {worst:.0%} of a core with "
                               f"almost no sleeps{d}) for {dur:.1f}s", quiet=0.0)

    def run(self):
        window = None
        while not self.stop_event.wait(SCAN_EVERY):
            now = time.monotonic()
            if not self.zei.alive():
                if not self.shutting_down:
                    code = self.zei.proc.poll()
                    self.v.add("pid1", f"PID 1 died during the run (unshare exit {code})")
                self.died.set()
                break
            self.scan_zombies(now)
            rss = zeiproc.status_fields(self.zei.pid, "VmRSS").get("VmRSS")
            if rss:
                self.rss_first = self.rss_first or rss
                self.rss_peak = max(self.rss_peak, rss)
                self.rss_ep.update(rss > self.rss_limit, now, rss)
            cpu = zeiproc.cpu_seconds(self.zei.pid)
            vol = zeiproc.status_fields(self.zei.pid, "voluntary_ctxt_switches").get(
                "voluntary_ctxt_switches")
            if cpu is None or vol is None:
                continue
            if window is None:
                window = (now, cpu, vol)
            elif now - window[0] >= BUSY_WINDOW:
                frac = (cpu - window[1]) / (now - window[0])
                switches = vol - window[2]
                self.cpu_peak = max(self.cpu_peak, frac)
                busy = frac >= BUSY_CPU and switches < BUSY_SWITCHES
                self.busy_ep.update(busy, window[0], frac,
                                    f": {switches} voluntary switches in {now - window[0]:.1f}s")
                window = (now, cpu, vol)
        self.close(time.monotonic())

    def scan_zombies(self, now):
        kids = zeiproc.children(self.zei.pid)
        self.children_max = max(self.children_max, len(kids))
        present = set()
        for pid in kids:
            st = zeiproc.stat(pid)
            if st is None or st[0] != "Z":
                continue
            key = (pid, st[1])
            present.add(key)
            if key not in self.first_seen:
                self.first_seen[key] = now
                self.zombies_seen += 1
        for key in list(self.first_seen):
            if key not in present:
                del self.first_seen[key]
        oldest = max((now - t for t in self.first_seen.values()), default=0.0)
        self.zombie_max_age = max(self.zombie_max_age, oldest)
        over = sum(1 for t in self.first_seen.values() if now - t > ZOMBIE_LIMIT)
        self.zombie_ep.update(over > 0, now, oldest, f" (at worst {len(self.first_seen)} zombies)"
                              if over else "")

    def close(self, now):
        for ep in (self.zombie_ep, self.rss_ep, self.busy_ep):
            ep.close(now)
