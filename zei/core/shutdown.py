"""Shutdown: the order, the deadlines and the exit code. Pure: each method takes `now`.

One budget for everything: `shutdown_timeout` from the moment shutdown begins. Pending starts
are cancelled. Each service gets its own `stop_signal` once nothing that depends on it —
directly, or through services that are not running (app -> migrate (exited) -> db) — still
has a process, and SIGKILL when its own `stop_grace_period` is over; when no service has a
process left, the remaining processes (orphans) get SIGTERM; at the global deadline
everything left gets SIGKILL, and KILL_GRACE_AFTER_DEADLINE later zei exits whatever is left.
zei exits as soon as no child is left (the shell reports no_children()).

Exit code: when an essential service ended and caused the shutdown, its code
(zei.core.policy.exit_code); in command mode, `main`'s code once it has run (143 when the
SIGTERM zei passed on ended it, as tini gives); otherwise 0 if every process stopped on its
own signal and 1 if any needed SIGKILL.
"""
from __future__ import annotations

from zei.core import policy
from zei.core.actions import Exit, Kill, KillAll, Log
from zei.core.model import MAIN
from zei.core.service import SIGKILL, SIGTERM, span
KILL_GRACE_AFTER_DEADLINE = 2.0   # how long to wait for SIGKILLed processes before exiting anyway


class Shutdown:
    __slots__ = ("active", "reason", "code", "deadline", "hard_deadline", "orphans_termed",
                 "forced", "killed", "exit_code")

    def __init__(self):
        self.active = False
        self.reason = ""            # why zei is stopping, for the log and `zei status`
        self.code = None            # the exit code an essential service decided, if one did
        self.deadline = None        # shutdown_timeout after the start: SIGKILL to everything
        self.hard_deadline = None   # KILL_GRACE_AFTER_DEADLINE later: exit anyway
        self.orphans_termed = False
        self.forced = False         # the global deadline passed
        self.killed = False         # some process needed SIGKILL
        self.exit_code = None       # decided: Exit issued

    def begin(self, sup, now, why, code=None):
        self.active = True
        self.reason = why
        self.code = code
        timeout = sup.config.shutdown_timeout
        self.deadline = now + timeout
        return [Log("error" if code and not sup.config.command else "info", "zei",
                    f"{why}; stopping services (timeout {span(timeout)})")]

    def progress(self, sup, now):
        """Send each service its stop signal once no dependent has a process."""
        out = []
        alive = sup.alive()
        for svc in alive:
            if svc.term_sent:
                continue
            if any(sup.services[d].pid is not None for d in sup.downstream[svc.name]):
                continue         # a dependent still runs: stop it first
            out += sup.term(svc, now, "shutdown")
            svc.deadline = min(svc.deadline, self.deadline)
        if not alive and not self.orphans_termed and not self.forced:
            self.orphans_termed = True
            out.append(KillAll(SIGTERM))
        return out

    def tick(self, sup, now):
        out = []
        if self.hard_deadline is not None and now >= self.hard_deadline:
            if self.exit_code is None:
                self.exit_code = self._code(sup, killed=True)
                out.append(Log("error", "zei", "processes survived SIGKILL; exiting anyway"))
                out.append(Exit(self.exit_code))
            return out
        if now >= self.deadline and not self.forced:
            self.forced = self.killed = True
            self.hard_deadline = now + KILL_GRACE_AFTER_DEADLINE
            alive = sup.alive()
            names = ", ".join(s.name for s in alive) or "orphaned processes"
            out.append(Log("warn", "zei", f"shutdown timeout ({span(sup.config.shutdown_timeout)}) "
                                            f"reached; sending SIGKILL to {names}"))
            out += [Kill(s.name, s.pid, SIGKILL) for s in alive]
            out.append(KillAll(SIGKILL))
            return out
        for svc in sup.alive():          # a service's own stop_grace_period
            if svc.deadline is not None and now >= svc.deadline:
                out += sup.kill_late(svc)
        return out

    def no_children(self, sup, now):
        if self.exit_code is not None or sup.alive():
            return []
        if not self.orphans_termed and not self.forced:
            return []          # the orphan TERM is issued in progress(); wait for it
        self.exit_code = self._code(sup, self.killed)
        return [Log("info", "zei", "all processes stopped; exiting with code %d" % self.exit_code),
                Exit(self.exit_code)]

    def next_deadline(self, sup):
        if self.exit_code is not None:
            return None
        times = [self.hard_deadline] if self.forced else \
            [self.deadline] + [s.deadline for s in sup.alive() if s.deadline is not None]
        return min(t for t in times if t is not None)

    def _code(self, sup, killed):
        if self.code is not None:
            return self.code
        if sup.config.command and sup.services[MAIN].last_exit:
            return policy.exit_code(sup.services[MAIN])
        return 1 if killed else 0
