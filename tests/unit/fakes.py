"""Test doubles for the pure core: spec builders and a tiny fake shell with a fake clock.

FakeShell plays zei.shell.daemon's role without processes: it carries out the supervisor's
actions the way the daemon does (a Spawn is answered at once with spawned() carrying a
fresh pid, or spawn_failed() when the test says so), records kills, replies and the exit
code, and after every event "reaps" like the daemon: when no process is left it reports
no_children(). It checks the core's invariants after every batch of actions.
"""
from __future__ import annotations

import collections

from zei.core.actions import CancelCheck, Check, Exit, Kill, KillAll, Log, NotifyUp, Reply, Spawn
from zei.core.config import Config, ServiceSpec
from zei.core.supervisor import ALIVE, BACKOFF, SCHEDULED, STARTING, STOPPING, Supervisor


def spec(name, **kw):
    kw.setdefault("command", ("/bin/true",))
    return ServiceSpec(name=name, **kw)


def supervisor(*specs, shutdown_timeout=10.0):
    return Supervisor(Config(path="test.yaml", services=tuple(specs),
                             shutdown_timeout=shutdown_timeout))


def of(actions, kind):
    return [a for a in actions if isinstance(a, kind)]


def messages(actions):
    return [(a.level, a.source, a.message) for a in actions if isinstance(a, Log)]


class FakeShell:
    def __init__(self, sup, now=0.0, first_pid=100):
        self.sup = sup
        self.now = now
        self.next_pid = first_pid
        self.live = {}                 # pid -> service name (service processes)
        self.orphans = set()           # pids of processes no service owns
        self.kills = []                # Kill actions, in order
        self.killall = []              # signals sent with KillAll
        self.replies = {}              # token -> payload
        self.actions = []              # everything the supervisor asked for
        self.spawns = []               # names, in order
        self.exit_code = None
        self.fail_next_spawn = {}      # name -> error text for its next Spawn
        self.hold_exec = set()         # names whose next child stays between fork and exec
        self.held = {}                 # name -> pid of a child that has not exec'd yet
        self.checking = {}             # name -> seq of the health check in flight
        self.checks_run = []           # (name, seq) of every Check, in order
        self.cancelled = []            # names of CancelCheck actions
        self.up = []                   # NotifyUp messages

    # ---- carrying out actions, like zei.shell.daemon.Daemon.execute --------------------------
    def run(self, actions):
        done = []
        queue = collections.deque(actions)
        while queue:
            a = queue.popleft()
            done.append(a)
            if isinstance(a, Spawn):
                assert a.name not in self.live.values(), f"Spawn({a.name}) while its process is alive"
                if not self.sup.should_spawn(a.name):     # overtaken (a shutdown), as the daemon skips it
                    continue
                self.spawns.append(a.name)
                error = self.fail_next_spawn.pop(a.name, None)
                if error is not None:
                    queue.extend(self.sup.spawn_failed(a.name, error, self.now))
                else:
                    pid = self.next_pid
                    self.next_pid += 1
                    self.live[pid] = a.name
                    queue.extend(self.sup.forked(a.name, pid, self.now))   # as the daemon does
                    if a.name in self.hold_exec:
                        self.held[a.name] = pid
                    else:
                        queue.extend(self.sup.spawned(a.name, pid, self.now))
            elif isinstance(a, Kill):
                self.kills.append(a)
            elif isinstance(a, KillAll):
                self.killall.append(a.sig)
            elif isinstance(a, Check):
                assert a.name not in self.checking, f"second check of {a.name} in flight"
                self.checking[a.name] = a.seq
                self.checks_run.append((a.name, a.seq))
            elif isinstance(a, CancelCheck):
                self.cancelled.append(a.name)
                self.checking.pop(a.name, None)
            elif isinstance(a, NotifyUp):
                self.up.append(a.message)
            elif isinstance(a, Reply):
                assert a.token not in self.replies, f"second reply for {a.token!r}"
                self.replies[a.token] = a.payload
            elif isinstance(a, Exit):
                assert self.exit_code is None, "Exit issued twice"
                self.exit_code = a.code
        self.actions += done
        self.check()
        return done

    def reap(self):
        """After every wakeup the daemon reaps; with nothing left it says no_children()."""
        if not self.live and not self.orphans:
            return self.run(self.sup.no_children(self.now))
        return []

    # ---- events ----------------------------------------------------------------------
    def boot(self):
        out = self.run(self.sup.boot(self.now))
        return out + self.reap()

    def exec_done(self, name, error=None):
        """A held child exec'd (or failed to: `error`)."""
        self.hold_exec.discard(name)
        pid = self.held.pop(name)
        if error is None:
            return self.run(self.sup.spawned(name, pid, self.now)) + self.reap()
        del self.live[pid]
        self.orphans.add(pid)              # its exit is reaped later, as an unknown pid
        return self.run(self.sup.spawn_failed(name, error, self.now)) + self.reap()

    def pid_of(self, name):
        pids = [p for p, n in self.live.items() if n == name]
        assert len(pids) == 1, f"{name} has live pids {pids}"
        return pids[0]

    def exit(self, name, code=None, sig=None, at=None):
        if at is not None:
            self.now = at
        if code is None and sig is None:
            code = 0
        pid = self.pid_of(name)
        del self.live[pid]
        out = self.run(self.sup.exited(pid, code, sig, self.now))
        return out + self.reap()

    def orphan_exit(self, pid, at=None):
        if at is not None:
            self.now = at
        self.orphans.discard(pid)
        out = self.run(self.sup.exited(pid, 0, None, self.now))
        return out + self.reap()

    def advance(self, to):
        """Move the fake clock; if a deadline is due, tick like the daemon's loop does."""
        assert to >= self.now
        self.now = to
        deadline = self.sup.next_deadline()
        out = []
        if deadline is not None and self.now >= deadline:
            out = self.run(self.sup.tick(self.now))
            out += self.reap()
        return out

    def result(self, name, ok, at=None, **detail):
        """The health check in flight for `name` finished."""
        if at is not None:
            self.now = at
        seq = self.checking.pop(name)
        return self.run(self.sup.check_result(name, seq, ok, detail, self.now)) + self.reap()

    def signal(self, sig):
        return self.run(self.sup.signal(sig, self.now)) + self.reap()

    def reload(self, config, token="reload"):
        """`zei reload` with an already validated Config."""
        return self.run(self.sup.reload(config, token, self.now)) + self.reap()

    def control(self, verb, name, token, *extra):
        out = self.run(getattr(self.sup, verb)(name, *extra, token, self.now))
        return out + self.reap()

    # ---- invariants ------------------------------------------------------------------
    def check(self):
        per_service = collections.Counter(self.live.values())
        assert all(n <= 1 for n in per_service.values()), f"two live pids: {self.live}"
        for name, svc in self.sup.services.items():
            pids = [p for p, n in self.live.items() if n == name]
            if svc.state in ALIVE or (svc.state == STARTING and svc.pid is not None):
                assert pids == [svc.pid], (name, svc.state, svc.pid, pids)
                assert self.sup.by_pid.get(svc.pid) is svc
            else:
                assert svc.pid is None and not pids, (name, svc.state, svc.pid, pids)
            if svc.deadline is not None:
                assert svc.state in (BACKOFF, SCHEDULED, STOPPING), \
                    f"{name} keeps a deadline in state {svc.state}"
        assert set(self.sup.by_pid) == set(self.live), (self.sup.by_pid, self.live)
