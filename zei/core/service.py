"""One service's live state, the states and their allowed moves, and the words for them.

The record and the table the supervisor (zei.core.supervisor) works on; `describe` is the
plain data `zei list` and `zei status` show. Pure: no system calls, no clock.
"""
from __future__ import annotations

from zei.core.model import SIGNAL_NAMES, span  # noqa: F401  (the words are the service's too)

SIGHUP, SIGINT, SIGQUIT, SIGKILL, SIGUSR1, SIGUSR2, SIGTERM = 1, 2, 3, 9, 10, 12, 15

WAITING, BLOCKED, STARTING, RUNNING, STOPPING = "waiting", "blocked", "starting", "running", "stopping"
BACKOFF, SCHEDULED, EXITED, FAILED, STOPPED = "backoff", "scheduled", "exited", "failed", "stopped"

TRANSITIONS = {
    WAITING: {STARTING, BLOCKED, STOPPED, SCHEDULED},        # SCHEDULED: a cron oneshot's first wait
    BLOCKED: {WAITING, STARTING, STOPPED, SCHEDULED},
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


class InvalidTransition(Exception):
    pass


def signal_name(sig):
    return "SIG" + SIGNAL_NAMES.get(sig, str(sig))


def describe_exit(code, sig):
    return f"killed by {signal_name(sig)}" if sig is not None else f"exit code {code}"


class Service:
    """One service's live state (the spec is immutable; everything else changes)."""
    __slots__ = ("spec", "state", "pid", "started_at", "changed_at", "restarts", "runs", "last_exit",
                 "deadline", "reason", "succeeded", "then_start", "waiters", "term_sent", "execd",
                 "failures", "delay", "health", "ready_seen", "ready_deadline", "notify_status",
                 "stop_for", "stop_with")

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
        self.failures = 0            # consecutive short runs (backoff doubles per failure)
        self.delay = None            # the current restart delay while in backoff
        self.health = None           # a zei.core.health.Health when the spec has a healthcheck
        self.ready_seen = False      # this run said it is ready (READY=1, its log line)
        self.ready_deadline = None   # ready.timeout: not ready by then is a failed start
        self.notify_status = None    # the last STATUS= it sent on its notify socket
        self.stop_for = None         # stopping because it is "unhealthy" or "not-ready"
        self.stop_with = None        # a signal that replaces stop_signal (command mode's main)

    @property
    def name(self):
        return self.spec.name

    def __repr__(self):
        return f"Service({self.name!r}, state={self.state!r}, pid={self.pid!r})"


def describe(svc, now, grace):
    """One service as plain data for `zei list` / `zei status`."""
    spec = svc.spec
    alive = svc.pid is not None and svc.execd
    return {
        "name": svc.name,
        "state": svc.state,
        "pid": svc.pid,
        "uptime": round(now - svc.started_at, 3) if alive and svc.started_at is not None else None,
        "since": round(now - svc.changed_at, 3),
        "restarts": svc.restarts,
        "failures": svc.failures,
        "delay": svc.delay if svc.state == BACKOFF else None,
        "runs": svc.runs,
        "last_exit": svc.last_exit,
        "reason": svc.reason,
        "next_in": round(svc.deadline - now, 3) if svc.deadline is not None
        and svc.state in (BACKOFF, SCHEDULED) else None,
        "command": list(spec.command),
        "user": spec.user,
        "group": spec.group,
        "restart": spec.restart,
        "max_restarts": spec.max_restarts,
        "restart_delay": spec.restart_delay,
        "restart_delay_max": spec.restart_delay_max,
        "oneshot": spec.oneshot,
        "interval": spec.interval,
        "depends_on": list(spec.depends_on),
        "essential": spec.essential,
        "success_exit_codes": list(spec.success_exit_codes),
        "stop_signal": spec.stop_signal,
        "stop_grace_period": grace,
        "env_files": env_files(spec),       # the names only: never the values
    }


def env_files(spec):
    """env_file's files and the names each defines, as `zei status` shows them (no values)."""
    return [{"path": path, "names": list(names)} for path, names in spec.env_files]
