"""The pure core: every decision zei makes about services, as (state, event, now) -> actions.

All state-machine rules live in this file. Nothing here performs I/O, reads a clock or
imports the shell: each event method takes `now` (monotonic seconds) and returns a list of
actions (zei.actions) for the shell to carry out; `next_deadline()` tells the shell how long
it may sleep. Tests drive it with replayed event histories and a fake clock.

Theory of operation
-------------------
Each service is a small state machine (states below, allowed moves in TRANSITIONS). A move
outside the table raises InvalidTransition naming the service, the state and the event, and
leaves the state unchanged.

    waiting ──deps up──► starting ──spawned──► running ──exit──► policy decides:
       │                    │ spawn failed ──────────────────────┘   backoff  (restart at deadline)
       └─dep failed─► blocked                                          scheduled (oneshot interval)
                                                                       exited   (done, exit 0)
                                                                       failed   (gave up)
    running ──stop/restart request──► stopping ──exit──► stopped | starting (restart)
                                         └─ grace over: SIGKILL to its group

Dependencies: a service starts once each dependency is up: running, or (a oneshot, or any
service) has exited 0 at least once. A dependency that is failed or blocked blocks its
dependents; they start if it later comes up (e.g. after `zei start`).

Shutdown: one budget (`shutdown_timeout`) for everything. Pending starts are cancelled;
services receive SIGTERM in reverse dependency order (a service is stopped once no running
service depends on it); when no service runs, the remaining processes (orphans) get SIGTERM;
at the deadline everything left gets SIGKILL. zei exits as soon as no child is left
(the shell reports that with no_children()). Exit code: 0 if nothing had to be killed, 1 if
SIGKILL was needed.

Invariants (tested with hypothesis): a service has at most one live pid; no Spawn is issued
for a service whose process is alive; shutdown always ends in Exit.
"""
from __future__ import annotations


from zei.actions import Exit, Kill, KillAll, Log, Reply, Spawn
from zei.model import dependency_order

SIGHUP, SIGINT, SIGQUIT, SIGKILL, SIGUSR1, SIGUSR2, SIGTERM = 1, 2, 3, 9, 10, 12, 15
SIGNAL_NAMES = {
    1: "HUP", 2: "INT", 3: "QUIT", 4: "ILL", 5: "TRAP", 6: "ABRT", 7: "BUS", 8: "FPE",
    9: "KILL", 10: "USR1", 11: "SEGV", 12: "USR2", 13: "PIPE", 14: "ALRM", 15: "TERM",
    16: "STKFLT", 17: "CHLD", 18: "CONT", 19: "STOP", 20: "TSTP", 21: "TTIN", 22: "TTOU",
    23: "URG", 24: "XCPU", 25: "XFSZ", 26: "VTALRM", 27: "PROF", 28: "WINCH", 29: "IO",
    30: "PWR", 31: "SYS",
}
FORWARDED = (SIGHUP, SIGUSR1, SIGUSR2)
SHUTDOWN_SIGNALS = (SIGTERM, SIGINT, SIGQUIT)
KILL_GRACE_AFTER_DEADLINE = 2.0   # how long to wait for SIGKILLed processes before exiting anyway

WAITING, BLOCKED, STARTING, RUNNING, STOPPING = "waiting", "blocked", "starting", "running", "stopping"
BACKOFF, SCHEDULED, EXITED, FAILED, STOPPED = "backoff", "scheduled", "exited", "failed", "stopped"

TRANSITIONS = {
    WAITING: {STARTING, BLOCKED, STOPPED},
    BLOCKED: {WAITING, STARTING, STOPPED},
    STARTING: {RUNNING, STOPPING, BACKOFF, SCHEDULED, FAILED, STOPPED},
    RUNNING: {STOPPING, BACKOFF, SCHEDULED, EXITED, FAILED, STOPPED},
    STOPPING: {STOPPED, STARTING, BACKOFF, SCHEDULED, EXITED, FAILED},
    BACKOFF: {STARTING, STOPPED},
    SCHEDULED: {STARTING, STOPPED},
    EXITED: {STARTING, STOPPED},
    FAILED: {STARTING, STOPPED},
    STOPPED: {STARTING, STOPPED},
}
ALIVE = (RUNNING, STOPPING)        # states whose process has exec'd (STARTING may hold a pid too)


ALL_INTENTS = ("start", "restart", "stop")


class InvalidTransition(Exception):
    pass


def signal_name(sig):
    return "SIG" + SIGNAL_NAMES.get(sig, str(sig))


def span(seconds):
    """A duration as people write it in the config: 100ms, 1.5s, 2m, 720h."""
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    if 0 < seconds < 1:
        return f"{seconds * 1000:g}ms"
    return f"{seconds:g}s"


def describe_exit(code, sig):
    return f"killed by {signal_name(sig)}" if sig is not None else f"exit code {code}"


class Service:
    """One service's live state (the spec is immutable; everything else changes)."""
    __slots__ = ("spec", "state", "pid", "started_at", "changed_at", "restarts", "runs", "last_exit",
                 "deadline", "reason", "succeeded", "then_start", "waiters", "term_sent", "execd")

    def __init__(self, spec):
        self.spec = spec
        self.state = WAITING
        self.pid = None
        self.started_at = None       # when the current/last process started
        self.changed_at = 0.0        # when the state last changed
        self.restarts = 0            # automatic restarts since boot or the last manual start
        self.runs = 0
        self.last_exit = None        # {"code": n} | {"signal": n} | {"error": text}
        self.deadline = None         # backoff/scheduled restart, or SIGKILL time when stopping
        self.reason = ""             # why it is blocked / failed / stopped
        self.succeeded = False       # exited 0 at least once (satisfies dependents)
        self.then_start = False      # stopping for a restart
        self.waiters = []            # (token, intent) of requests awaiting a reply
        self.term_sent = False
        self.execd = False           # the live pid has exec'd (False between fork and exec)

    @property
    def name(self):
        return self.spec.name

    def __repr__(self):
        return f"Service({self.name!r}, state={self.state!r}, pid={self.pid!r})"


class Supervisor:
    def __init__(self, config):
        self.config = config
        self.order = dependency_order(config.services)
        self.services = {s.name: Service(spec=s) for s in config.services}
        self.by_pid = {}
        self.shutting_down = False
        self.shutdown_deadline = None
        self.hard_deadline = None
        self.orphans_termed = False
        self.forced = False
        self.exit_code = None
        self.dependents = {n: [] for n in self.services}
        for s in config.services:
            for d in s.depends_on:
                self.dependents[d].append(s.name)
        self.downstream = _closure(self.dependents, self.order)

    # ---- state moves ------------------------------------------------------------------
    def _move(self, svc, new, event, now):
        if new not in TRANSITIONS[svc.state]:
            raise InvalidTransition(f"service {svc.name}: cannot go from {svc.state} to {new} on {event}")
        svc.state = new
        svc.changed_at = now

    # ---- events -----------------------------------------------------------------------
    def boot(self, now):
        out = [Log("info", "zei", f"starting {len(self.services)} service(s)")]
        for svc in self.services.values():
            svc.changed_at = now
        out += self._advance(now)
        return out

    def forked(self, name, pid, now):
        """The shell forked the process of a Spawn; it has not exec'd yet (spawned() says so)."""
        svc = self.services[name]
        if svc.state != STARTING or svc.pid is not None:
            raise InvalidTransition(f"service {name}: cannot handle forked in state {svc.state}")
        svc.pid = pid
        svc.execd = False
        self.by_pid[pid] = svc
        return []

    def spawned(self, name, pid, now):
        """The process exec'd the service's program."""
        svc = self.services[name]
        if not self._before_exec(svc) or svc.pid not in (None, pid):
            raise InvalidTransition(f"service {name}: cannot handle spawned in state {svc.state}")
        svc.pid = pid
        svc.execd = True
        svc.started_at = now
        svc.runs += 1
        self.by_pid[pid] = svc
        out = [Log("info", name, f"started (pid {pid})")]
        if svc.state == STOPPING:          # stopped (or shut down) before it got to exec
            return out
        self._move(svc, RUNNING, "spawned", now)
        svc.term_sent = False
        out += self._answer(svc, ("start", "restart"), True, lambda intent: f"{name} {intent}ed (pid {pid})")
        out += self._advance(now)
        return out

    def spawn_failed(self, name, error, now):
        svc = self.services[name]
        if not self._before_exec(svc):     # the table alone would let a running service "fail to start"
            raise InvalidTransition(f"service {name}: cannot handle spawn failed in state {svc.state}")
        if svc.pid is not None:
            self.by_pid.pop(svc.pid, None)
            svc.pid = None
        svc.last_exit = {"error": error}
        svc.started_at = None
        out = [Log("error", name, f"could not start: {error}")]
        if svc.state == STOPPING:
            return out + self._stopped(svc, f"could not start: {error}", now)
        out += self._answer(svc, ("start", "restart"), False, lambda intent: f"{name} could not {intent}: {error}")
        if self.shutting_down:
            self._move(svc, STOPPED, "spawn failed", now)
            return out + self._shutdown_progress(now)
        out += self._after_run(svc, ok=False, now=now)
        return out + self._advance(now)

    def exited(self, pid, code, sig, now):
        """A child was reaped: `code` for a normal exit, `sig` for a signal death."""
        svc = self.by_pid.pop(pid, None)
        if svc is None or svc.pid != pid:
            return [Log("debug", "zei", f"reaped orphan pid {pid} ({describe_exit(code, sig)})")]
        out = []
        if svc.state == STARTING:          # the shell reports exec before exit; be safe anyway
            out += self.spawned(svc.name, pid, now)
            self.by_pid.pop(pid, None)
        svc.pid = None
        svc.deadline = None            # a stop's SIGKILL deadline ends with the process
        svc.last_exit = {"signal": sig} if sig is not None else {"code": code}
        ok = sig is None and code == 0
        if ok:
            svc.succeeded = True
        ran = now - svc.started_at if svc.started_at is not None else 0.0
        how = describe_exit(code, sig)
        if self.shutting_down or svc.state == STOPPING:
            out.append(Log("info", svc.name, f"stopped ({how})"))
            return out + self._stopped(svc, how, now)
        level = "info" if ok else "warn"
        out.append(Log(level, svc.name, f"exited ({how}) after {ran:.3f}s"))
        out += self._after_run(svc, ok, now)
        return out + self._advance(now)

    def _stopped(self, svc, how, now):
        """A process that was asked to stop is gone: stopped, or started again for a restart."""
        svc.deadline = None
        if self.shutting_down:
            self._move(svc, STOPPED, "exit", now)
            svc.reason = "zei shut down"
            out = self._answer(svc, ALL_INTENTS, False, lambda intent: f"{svc.name}: zei is shutting down")
            return out + self._shutdown_progress(now)
        if svc.then_start:
            svc.then_start = False
            svc.restarts = 0
            return self._start(svc, now, "restart")
        self._move(svc, STOPPED, "exit", now)
        svc.reason = "stopped on request"
        return self._answer(svc, ("stop",), True, lambda intent: f"{svc.name} stopped ({how})") \
            + self._advance(now)

    def signal(self, sig, now):
        """A signal reached PID 1."""
        if sig in SHUTDOWN_SIGNALS:
            if self.shutting_down:
                return [Log("warn", "zei", f"received {signal_name(sig)} again; shutdown already in progress")]
            return self.shutdown(now, f"received {signal_name(sig)}")
        if sig in FORWARDED:             # to programs, not to children that have not exec'd
            alive = [s for s in self._alive() if s.execd]
            out = [Log("info", "zei", f"received {signal_name(sig)}; forwarding to "
                       + (", ".join(s.name for s in alive) if alive else "no running service"))]
            out += [Kill(s.name, s.pid, sig) for s in alive]
            return out
        return []

    def tick(self, now):
        """Deadlines that are due."""
        out = []
        if self.shutting_down:
            if self.hard_deadline is not None and now >= self.hard_deadline:
                if self.exit_code is None:
                    self.exit_code = 1
                    out.append(Log("error", "zei", "processes survived SIGKILL; exiting anyway"))
                    out.append(Exit(1))
                return out
            if self.shutdown_deadline is not None and now >= self.shutdown_deadline and not self.forced:
                self.forced = True
                self.hard_deadline = now + KILL_GRACE_AFTER_DEADLINE
                alive = self._alive()
                names = ", ".join(s.name for s in alive) or "orphaned processes"
                out.append(Log("warn", "zei", f"shutdown timeout ({span(self.config.shutdown_timeout)}) "
                                                f"reached; sending SIGKILL to {names}"))
                out += [Kill(s.name, s.pid, SIGKILL) for s in alive]
                out.append(KillAll(SIGKILL))
            return out
        for name in self.order:
            svc = self.services[name]
            if svc.deadline is None or now < svc.deadline:
                continue
            if svc.state == STOPPING:
                svc.deadline = None
                out.append(Log("warn", name, f"did not stop within {span(self.config.shutdown_timeout)}; "
                                             "sending SIGKILL"))
                out.append(Kill(name, svc.pid, SIGKILL))
            elif svc.state in (BACKOFF, SCHEDULED):
                out += self._start(svc, now, "timer")
        return out

    def no_children(self, now):
        """The reaper found no child left at all."""
        if not self.shutting_down or self.exit_code is not None:
            return []
        if self._alive():
            return []
        if not self.orphans_termed and not self.forced:
            return []          # the orphan TERM is issued in _shutdown_progress; wait for it
        self.exit_code = 1 if self.forced else 0
        return [Log("info", "zei", "all processes stopped; exiting with code %d" % self.exit_code),
                Exit(self.exit_code)]

    # ---- control requests -------------------------------------------------------------
    # Each request waits as (token, intent) and is answered with what became of *it*: a
    # restart that a stop overtakes fails ("superseded by a stop request"), and so on.
    def start(self, name, token, now):
        svc = self.services[name]
        if self.shutting_down:
            return [Reply(token, {"ok": False, "error": "zei is shutting down"})]
        if svc.state == RUNNING:
            return [Reply(token, {"ok": True, "message": f"{name} is already running (pid {svc.pid})"})]
        out = self._supersede(svc, ("stop",), "start")
        svc.waiters.append((token, "start"))
        if svc.state == STARTING:
            return out
        if svc.state == STOPPING:
            svc.then_start = True
            return out + [Log("info", name, "start requested; starting once it has stopped")]
        svc.restarts = 0
        return out + [Log("info", name, "start requested")] + self._start(svc, now, "start request") \
            + self._advance(now)

    def stop(self, name, token, now):
        svc = self.services[name]
        if self.shutting_down:
            return [Reply(token, {"ok": False, "error": "zei is shutting down"})]
        out = self._supersede(svc, ("start", "restart"), "stop")
        svc.then_start = False
        if svc.state in (RUNNING, STARTING) and svc.pid is not None:
            svc.waiters.append((token, "stop"))
            return out + [Log("info", name, "stop requested")] + self._term(svc, now)
        if svc.state == STOPPING:
            svc.waiters.append((token, "stop"))
            return out
        was = svc.state
        svc.deadline = None
        svc.reason = "stopped on request"
        self._move(svc, STOPPED, "stop request", now)
        return out + [Reply(token, {"ok": True, "message": f"{name} was not running ({was}); now stopped"})]

    def restart(self, name, token, now):
        svc = self.services[name]
        if self.shutting_down:
            return [Reply(token, {"ok": False, "error": "zei is shutting down"})]
        out = self._supersede(svc, ("stop",), "restart")
        svc.waiters.append((token, "restart"))
        if svc.state in (RUNNING, STARTING) and svc.pid is not None:
            svc.then_start = True
            return out + [Log("info", name, "restart requested")] + self._term(svc, now)
        if svc.state == STOPPING:
            svc.then_start = True
            return out
        if svc.state == STARTING:
            return out
        svc.restarts = 0
        return out + [Log("info", name, "restart requested")] + self._start(svc, now, "restart request") \
            + self._advance(now)

    def send(self, name, sig, token, now):
        svc = self.services[name]
        if svc.pid is None or not svc.execd:
            return [Reply(token, {"ok": False, "error": f"{name} is not running ({svc.state})"})]
        return [Log("info", name, f"sending {signal_name(sig)} (requested)"),
                Kill(name, svc.pid, sig),
                Reply(token, {"ok": True, "message": f"sent {signal_name(sig)} to {name} (pid {svc.pid})"})]

    # ---- shutdown ---------------------------------------------------------------------
    def shutdown(self, now, why):
        self.shutting_down = True
        self.shutdown_deadline = now + self.config.shutdown_timeout
        out = [Log("info", "zei", f"{why}; stopping services (timeout {span(self.config.shutdown_timeout)})")]
        for svc in self.services.values():
            if svc.pid is None and svc.state != STOPPED:
                svc.deadline = None
                self._move(svc, STOPPED, "shutdown", now)
                svc.reason = "zei shut down"
            if svc.state == STOPPING:
                svc.then_start = False
                svc.deadline = None
            out += self._answer(svc, ALL_INTENTS, False, lambda intent: "zei is shutting down")
        return out + self._shutdown_progress(now)

    def _shutdown_progress(self, now):
        """TERM each service once nothing that depends on it, directly or through services
        that are not running (app -> migrate (exited) -> db), still has a process."""
        out = []
        alive = self._alive()
        for svc in alive:
            if svc.term_sent:
                continue
            if any(self.services[d].pid is not None for d in self.downstream[svc.name]):
                continue         # a dependent still runs: stop it first
            if svc.state != STOPPING:
                self._move(svc, STOPPING, "shutdown", now)
            svc.term_sent = True
            out.append(Log("info", svc.name, f"sending SIGTERM (pid {svc.pid})"))
            out.append(Kill(svc.name, svc.pid, SIGTERM))
        if not alive and not self.orphans_termed and not self.forced:
            self.orphans_termed = True
            out.append(KillAll(SIGTERM))
        return out

    # ---- helpers ----------------------------------------------------------------------
    def _term(self, svc, now):
        self._move(svc, STOPPING, "stop", now)
        svc.deadline = now + self.config.shutdown_timeout
        svc.term_sent = True
        return [Kill(svc.name, svc.pid, SIGTERM)]

    def _start(self, svc, now, event):
        self._move(svc, STARTING, event, now)
        svc.deadline = None
        svc.reason = ""
        return [Spawn(svc.name)]

    def _before_exec(self, svc):
        """Starting, or stopped before its forked process got to exec."""
        return svc.state == STARTING or (svc.state == STOPPING and svc.pid is not None and not svc.execd)

    def _alive(self):
        """Services with a live process (forked, running or stopping), in file order."""
        return [s for s in self.services.values() if s.pid is not None]

    def _answer(self, svc, intents, ok, message):
        """Reply to the waiting requests whose intent is in `intents`; message(intent) -> text."""
        out, keep = [], []
        for token, intent in svc.waiters:
            if intent in intents:
                out.append(Reply(token, {"ok": ok, ("message" if ok else "error"): message(intent)}))
            else:
                keep.append((token, intent))
        svc.waiters[:] = keep
        return out

    def _supersede(self, svc, intents, by):
        return self._answer(svc, intents, False,
                            lambda intent: f"{intent} of {svc.name} superseded by a {by} request")

    def _after_run(self, svc, ok, now):
        """The restart policy: what follows a finished (or failed-to-start) run."""
        spec = svc.spec
        if spec.oneshot and ok:
            svc.restarts = 0
            if spec.interval is not None:
                return self._schedule(svc, SCHEDULED, now + spec.interval, now,
                                      f"next run in {span(spec.interval)}")
            self._move(svc, EXITED, "exit", now)
            svc.reason = "completed"
            return []
        wants = spec.restart == "always" or (spec.restart == "on-failure" and not ok)
        if wants:
            if spec.max_restarts and svc.restarts >= spec.max_restarts:
                msg = f"gave up after {svc.restarts} restart(s) (max_restarts {spec.max_restarts})"
                if spec.interval is not None:
                    svc.restarts = 0
                    return self._schedule(svc, SCHEDULED, now + spec.interval, now,
                                          msg + f"; next run in {span(spec.interval)}")
                self._move(svc, FAILED, "exit", now)
                svc.reason = msg
                return [Log("error", svc.name, msg)]
            svc.restarts += 1
            return self._schedule(svc, BACKOFF, now + spec.restart_delay, now,
                                  f"restarting in {span(spec.restart_delay)} (restart {svc.restarts}"
                                  + (f" of {spec.max_restarts})" if spec.max_restarts else ")"))
        if spec.interval is not None:
            return self._schedule(svc, SCHEDULED, now + spec.interval, now,
                                  f"next run in {span(spec.interval)}")
        if ok:
            self._move(svc, EXITED, "exit", now)
            svc.reason = "exited cleanly; restart policy " + spec.restart
            return []
        self._move(svc, FAILED, "exit", now)
        svc.reason = "failed; restart policy " + spec.restart
        return []

    def _schedule(self, svc, state, when, now, message):
        self._move(svc, state, "exit", now)
        svc.deadline = when
        return [Log("info", svc.name, message)]

    def _dep_up(self, dep):
        """A dependency is up once it runs (a long-running service) or has exited 0."""
        return dep.succeeded or (dep.state == RUNNING and not dep.spec.oneshot)

    def _advance(self, now):
        """Start waiting services whose dependencies are up; block those with a failed one."""
        if self.shutting_down:
            return []
        out = []
        for name in self.order:
            svc = self.services[name]
            if svc.state not in (WAITING, BLOCKED):
                continue
            deps = [self.services[d] for d in svc.spec.depends_on]
            dead = [d.name for d in deps if d.state in (FAILED, BLOCKED) and not d.succeeded]
            if dead:
                if svc.state != BLOCKED:
                    self._move(svc, BLOCKED, "dependency failed", now)
                    svc.reason = "dependency failed: " + ", ".join(dead)
                    out.append(Log("error", name, f"not starting: {svc.reason}"))
                continue
            if all(self._dep_up(d) for d in deps):
                if svc.state == BLOCKED:
                    self._move(svc, WAITING, "dependency up", now)
                out += self._start(svc, now, "dependencies up")
            elif svc.state == BLOCKED:
                self._move(svc, WAITING, "dependency recovering", now)
                svc.reason = "waiting for " + ", ".join(d.name for d in deps if not self._dep_up(d))
            else:
                svc.reason = "waiting for " + ", ".join(d.name for d in deps if not self._dep_up(d))
        return out

    # ---- queries ----------------------------------------------------------------------
    def next_deadline(self):
        if self.exit_code is not None:
            return None
        if self.shutting_down:
            times = [t for t in (self.shutdown_deadline if not self.forced else None,
                                 self.hard_deadline) if t is not None]
            return min(times) if times else None
        times = [s.deadline for s in self.services.values() if s.deadline is not None]
        return min(times) if times else None

    def status(self, now, name=None):
        """Plain data for `zei list` / `zei status`."""
        names = [name] if name else [s.name for s in self.config.services]
        return [self._describe(self.services[n], now) for n in names]

    def _describe(self, svc, now):
        spec = svc.spec
        alive = svc.pid is not None and svc.started_at is not None
        return {
            "name": svc.name,
            "state": svc.state,
            "pid": svc.pid,
            "uptime": round(now - svc.started_at, 3) if alive and svc.started_at is not None else None,
            "since": round(now - svc.changed_at, 3),
            "restarts": svc.restarts,
            "runs": svc.runs,
            "last_exit": svc.last_exit,
            "reason": svc.reason,
            "next_in": round(svc.deadline - now, 3) if svc.deadline is not None and not alive else None,
            "command": list(spec.command),
            "user": spec.user,
            "group": spec.group,
            "restart": spec.restart,
            "max_restarts": spec.max_restarts,
            "oneshot": spec.oneshot,
            "interval": spec.interval,
            "depends_on": list(spec.depends_on),
        }


def _closure(edges, order):
    """{node: every node reachable from it through `edges`}, without recursion."""
    out = {}
    for start in order:
        seen, todo = set(), list(edges[start])
        while todo:
            n = todo.pop()
            if n not in seen:
                seen.add(n)
                todo.extend(edges[n])
        out[start] = seen
    return out
