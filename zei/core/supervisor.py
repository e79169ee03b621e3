"""The pure core: every decision zei makes about services, as (state, event, now) -> actions.

All state-machine rules live in this file; what a finished run means (success, restart
policy, backoff, exit codes) is zei.core.policy, the shutdown sequence is zei.core.shutdown,
and `zei reload` (a new config applied) is zei.core.reload. Nothing here performs I/O, reads
a clock or imports the shell: each event method takes `now` (monotonic seconds) and returns
a list of actions (zei.core.actions) for the shell to carry out; `next_deadline()` tells the shell how long it may sleep. Tests drive
it with replayed event histories and a fake clock.

Theory of operation
-------------------
Each service is a small state machine (states below, allowed moves in TRANSITIONS). A move
outside the table raises InvalidTransition naming the service, the state and the event, and
leaves the state unchanged.

    waiting ──deps up──► starting ──spawned──► running ──exit──► policy decides:
       │                    │ spawn failed ──────────────────────┘   backoff  (restart at deadline)
       └─dep failed─► blocked                                          scheduled (interval or cron)
                                                                       exited   (done, a success code)
                                                                       failed   (gave up)
    running ──stop/restart request──► stopping ──exit──► stopped | starting (restart)
                                         └─ stop_grace_period over: SIGKILL to its group

`starting` holds a pid from `forked` (the shell has forked, exec is not confirmed) until
`spawned` or `spawn_failed`; such a child is stopped like a running one.

Dependencies and essential services are decided in zei.core.policy: a service starts once
each dependency is up; an essential service that ends for good (exited or failed with no
restart to come, or blocked by a dependency that failed) shuts zei down with its exit code.
A stop on request is the operator's, not an end: it does not count.

Invariants (tested with hypothesis): a service has at most one live pid; no Spawn is issued
for a service whose process is alive; shutdown always ends in Exit.
"""
from __future__ import annotations


from zei.core import policy
from zei.core import health as H
from zei.core.actions import Kill, Log, NotifyUp, Spawn
from zei.core.model import MAIN, STARTED
from zei.core.readiness import Readiness
from zei.core.reload import Reloads
from zei.core.requests import Requests
from zei.core.schedule import Schedules
from zei.core.shutdown import KILL_GRACE_AFTER_DEADLINE, Shutdown  # noqa: F401  (re-exported)
from zei.core.service import (  # noqa: F401  (the states and words are the supervisor's too)
    SIGHUP, SIGINT, SIGQUIT, SIGKILL, SIGUSR1, SIGUSR2, SIGTERM, SIGNAL_NAMES, WAITING,
    BLOCKED, STARTING, RUNNING, STOPPING, BACKOFF, SCHEDULED, EXITED, FAILED, STOPPED,
    TRANSITIONS, ALIVE, InvalidTransition, Service, signal_name, span, describe_exit, describe,
)

FORWARDED = (SIGHUP, SIGUSR1, SIGUSR2)
SHUTDOWN_SIGNALS = (SIGTERM, SIGINT, SIGQUIT)
SIGCHLD = 17
ALL_INTENTS = ("start", "restart", "stop")


class Supervisor(Requests, Readiness, Schedules, Reloads):
    def __init__(self, config):
        self.config = config
        self.services = {s.name: Service(spec=s) for s in config.services}
        self.by_pid = {}
        self.stopping = Shutdown()
        self._derive()                   # dependents, downstream (zei.core.reload: again after a reload)
        for svc in self.services.values():
            if svc.spec.healthcheck is not None:
                svc.health = H.Health(svc.spec.healthcheck)
        self.announced = False           # READY=1 sent upward (every long-running service ready)
        self.slots = {}                  # scheduled oneshots: name -> next due time (zei.core.schedule)

    @property
    def shutting_down(self):
        return self.stopping.active

    @property
    def shutdown_deadline(self):
        return self.stopping.deadline

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
        return out + self._essentials(now)

    def should_spawn(self, name):
        """A Spawn still wanted when the shell gets to it (a shutdown may have come first)."""
        svc = self.services[name]
        return svc.state == STARTING and svc.pid is None

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
        if svc.health is not None:
            svc.health.reset(now)
        ready = svc.spec.ready
        if ready is not None and ready.timeout is not None and not svc.ready_seen:
            svc.ready_deadline = now + ready.timeout
        out += self._answer(svc, ("start", "restart"), True, lambda intent: f"{name} {intent}ed (pid {pid})")
        out += self._advance(now)
        return out + self._essentials(now) + self._announce()

    def spawn_failed(self, name, error, now):
        svc = self.services[name]
        if not self._before_exec(svc):     # the table alone would let a running service "fail to start"
            raise InvalidTransition(f"service {name}: cannot handle spawn failed in state {svc.state}")
        if svc.pid is not None:
            self.by_pid.pop(svc.pid, None)
            svc.pid = None
        svc.last_exit = {"error": error}
        svc.started_at = None
        out = self._run_over(svc)
        out.append(Log("error", name, f"could not start: {error}"))
        if svc.state == STOPPING:
            return out + self._stopped(svc, f"could not start: {error}", now)
        out += self._answer(svc, ("start", "restart"), False, lambda intent: f"{name} could not {intent}: {error}")
        if self.shutting_down:
            self._move(svc, STOPPED, "spawn failed", now)
            return out + self.stopping.progress(self, now)
        out += self._after_run(svc, False, 0.0, now)
        return out + self._advance(now) + self._essentials(now)

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
        out += self._run_over(svc)
        svc.deadline = None            # a stop's SIGKILL deadline ends with the process
        svc.last_exit = {"signal": sig} if sig is not None else {"code": code}
        ok = policy.succeeded(svc.spec, code, sig)
        if ok:
            svc.succeeded = True
        ran = now - svc.started_at if svc.started_at is not None else 0.0
        how = describe_exit(code, sig)
        if self.shutting_down or svc.state == STOPPING:
            out.append(Log("info", svc.name, f"stopped ({how})"))
            if svc.stop_for is not None and not self.shutting_down:
                return out + self._stopped_for_health(svc, now)
            return out + self._stopped(svc, how, now)
        quiet = ok or svc.spec.foreground       # command mode: main's end is no incident
        out.append(Log("info" if quiet else "warn", svc.name, f"exited ({how}) after {ran:.3f}s"))
        out += self._after_run(svc, ok, ran, now)
        return out + self._advance(now) + self._essentials(now)

    def _stopped(self, svc, how, now):
        """A process that was asked to stop is gone: stopped, or started again for a restart."""
        svc.deadline = None
        if self.shutting_down:
            self._move(svc, STOPPED, "exit", now)
            svc.reason = "zei shut down"
            out = self._answer(svc, ALL_INTENTS, False, lambda intent: f"{svc.name}: zei is shutting down")
            return out + self.stopping.progress(self, now)
        if svc.then_start:
            svc.then_start = False
            svc.restarts = svc.failures = 0
            return self._start(svc, now, "restart")
        self._move(svc, STOPPED, "exit", now)
        svc.reason = "stopped on request"
        return self._answer(svc, ("stop",), True, lambda intent: f"{svc.name} stopped ({how})") \
            + self._advance(now) + self._essentials(now)

    def signal(self, sig, now):
        """A signal reached PID 1."""
        if sig in SHUTDOWN_SIGNALS:
            if self.shutting_down:
                return [Log("warn", "zei", f"received {signal_name(sig)} again; shutdown already in progress")]
            if self.config.command:          # as tini: main gets the very signal zei got
                self.services[MAIN].stop_with = sig
            return self.shutdown(now, f"received {signal_name(sig)}")
        if self.config.command and sig != SIGCHLD:   # command mode: every other signal is main's
            main = self.services[MAIN]
            if main.pid is None or not main.execd:
                return [Log("info", "zei", f"received {signal_name(sig)}; main is not running ({main.state})")]
            return [Log("debug", "zei", f"received {signal_name(sig)}; forwarding to main"),
                    Kill(MAIN, main.pid, sig)]
        if sig in FORWARDED:             # to programs, not to children that have not exec'd
            alive = [s for s in self.alive() if s.execd]
            out = [Log("info", "zei", f"received {signal_name(sig)}; forwarding to "
                       + (", ".join(s.name for s in alive) if alive else "no running service"))]
            out += [Kill(s.name, s.pid, sig) for s in alive]
            return out
        return []

    def tick(self, now):
        """Deadlines that are due."""
        if self.shutting_down:
            return self.stopping.tick(self, now)
        out = self._schedule_tick(now)
        for name in self.order:
            svc = self.services[name]
            if svc.state == RUNNING:
                out += self._due_checks(svc, now)
            if svc.deadline is None or now < svc.deadline:
                continue
            if svc.state == STOPPING:
                out += self.kill_late(svc)
            elif svc.state in (BACKOFF, SCHEDULED):
                out += self._start(svc, now, "timer")
        return out

    def no_children(self, now):
        """The reaper found no child left at all."""
        if not self.shutting_down:
            return []
        return self.stopping.no_children(self, now)

    # ---- shutdown (the sequence itself is zei.core.shutdown) --------------------------
    def shutdown(self, now, why, code=None):
        out = [NotifyUp("STOPPING=1")] + self._reload_cancel() + self.stopping.begin(self, now, why, code)
        for svc in self.services.values():     # pending starts are cancelled; ends stay as they are
            if svc.pid is None and svc.state not in (STOPPED, EXITED, FAILED, BLOCKED):
                svc.deadline = None
                self._move(svc, STOPPED, "shutdown", now)
                svc.reason = "zei shut down"
            if svc.state == STOPPING:
                svc.then_start = False
                if svc.deadline is not None:       # its own grace, within the shutdown budget
                    svc.deadline = min(svc.deadline, self.stopping.deadline)
            out += self._answer(svc, ALL_INTENTS, False, lambda intent: "zei is shutting down")
        return out + self.stopping.progress(self, now)

    def _essentials(self, now):
        """An essential service that ended for good ends the container, with its code."""
        for name in () if self.shutting_down else self.order:
            end = policy.essential_end(self.services[name])
            if end is not None:
                code, what = end
                return self.shutdown(now, f"essential service {name} {what}; zei exits with {code}", code)
        return []

    def alive(self):
        """Services with a live process (forked, running or stopping), in file order."""
        return [s for s in self.services.values() if s.pid is not None]

    def term(self, svc, now, event):
        """Send the service its stop_signal; SIGKILL follows after its stop_grace_period."""
        if svc.state != STOPPING:
            self._move(svc, STOPPING, event, now)
        grace = svc.spec.stop_grace_period
        svc.deadline = now + (grace if grace is not None else self.config.shutdown_timeout)
        svc.term_sent = True
        sig = svc.stop_with or svc.spec.stop_signal
        return [Log("info", svc.name, f"sending {signal_name(sig)} (pid {svc.pid})"),
                Kill(svc.name, svc.pid, sig)]

    def kill_late(self, svc):
        svc.deadline = None
        self.stopping.killed = self.stopping.killed or self.shutting_down
        return [Log("warn", svc.name, f"did not stop within {span(self._grace(svc))}; sending SIGKILL"),
                Kill(svc.name, svc.pid, SIGKILL)]

    def _grace(self, svc):
        grace = svc.spec.stop_grace_period
        return grace if grace is not None else self.config.shutdown_timeout

    # ---- helpers ----------------------------------------------------------------------
    def _start(self, svc, now, event):
        self._move(svc, STARTING, event, now)
        svc.deadline = None
        svc.delay = None
        svc.reason = ""
        svc.ready_seen = False              # each run says again that it is ready
        svc.notify_status = None
        svc.stop_for = None
        return [Spawn(svc.name)]

    def _before_exec(self, svc):
        """Starting, or stopped before its forked process got to exec."""
        return svc.state == STARTING or (svc.state == STOPPING and svc.pid is not None and not svc.execd)

    def _after_run(self, svc, ok, ran, now):
        """What follows a finished (or failed-to-start) run: zei.core.policy decides."""
        step = policy.after_run(svc, ok, ran, span)
        self._move(svc, step.state, "exit", now)
        svc.deadline = now + step.delay if step.delay is not None else None
        svc.reason = step.reason
        return self._said(svc, step, now)

    def _advance(self, now):
        """Start waiting services whose dependencies are up; block those with a failed one."""
        out = self._reload_step(now) if self.reload_job is not None else []   # (zei.core.reload)
        for name in () if self.shutting_down else self.order:
            svc = self.services[name]
            if svc.state not in (WAITING, BLOCKED):
                continue
            verdict, why = policy.dependencies(svc, [(self.services[d], cond, required)
                                                     for d, cond, required in _conditions(svc.spec)])
            if verdict == BLOCKED:
                if svc.state != BLOCKED:
                    self._move(svc, BLOCKED, "dependency failed", now)
                    svc.reason = why
                    out.append(Log("error", name, f"not starting: {why}"))
                continue
            if svc.state == BLOCKED:
                self._move(svc, WAITING, "dependency recovering", now)
            svc.reason = why
            if verdict == STARTING:
                out += self._launch(svc, now)
        return out

    # ---- queries ----------------------------------------------------------------------
    def next_deadline(self):
        if self.shutting_down:
            return self.stopping.next_deadline(self)
        times = [s.deadline for s in self.services.values() if s.deadline is not None] + self._slot_deadlines()
        for s in self.services.values():
            if s.state == RUNNING:
                if s.health is not None and not s.health.in_flight and s.health.next_at is not None:
                    times.append(s.health.next_at)
                if s.ready_deadline is not None:
                    times.append(s.ready_deadline)
        return min(times) if times else None

    def status(self, now, name=None):
        """Plain data for `zei list` / `zei status`."""
        names = [name] if name else [s.name for s in self.config.services]
        out = []
        for n in names:
            svc = self.services[n]
            d = describe(svc, now, self._grace(svc))
            ready = H.is_ready(svc)
            d.update(ready=ready, not_ready=None if ready else H.why_not_ready(svc, now),
                     health=svc.health.describe(now) if svc.health is not None else None,
                     readiness=_readiness_kind(svc.spec), notify_status=svc.notify_status,
                     conditions=[list(c) for c in _conditions(svc.spec)], **self._schedule_row(svc, now))
            out.append(d)
        return out

def _conditions(spec):
    """((dependency, condition, required), ...): the long form's, or the short list's."""
    if spec.conditions or not spec.depends_on:
        return spec.conditions
    return tuple((d, STARTED, True) for d in spec.depends_on)


def _readiness_kind(spec):
    if spec.oneshot:
        return "completed"
    if spec.healthcheck is not None:
        return "healthy"
    if spec.ready is not None:
        return "notify" if spec.ready.notify else "log_line"
    return "running"

