"""Health checks and readiness, decided purely: when a check is due, what a result means,
whether a service is ready and whether a dependency's condition is met.

Health follows docker-compose's rules (research-lifecycle.md, section 1). Each run of a
service starts `starting`; its first check comes one `start_interval` after the start while
in `start_period`, else one `interval` after; each next check one (start_)interval after the
previous one ended, and at most one is in flight. A pass makes the service `healthy` and
ends the start period; `retries` failures in a row make it `unhealthy`; failures inside
the start period do not count. The checks themselves (a process, a connection) are the
shell's (zei.shell.probes): here they are a Check action out and a result in.

Readiness: a service with a healthcheck is ready while healthy; else one with `ready:` once
that happened in the current run (READY=1 on its notify socket, or a matching output line);
else once it runs. A oneshot is ready once it has exited with a success code.

Dependency conditions (compose's names): service_started is the short list's meaning (a
long-running dependency runs, a oneshot has succeeded once); service_healthy is ready;
service_completed_successfully is a success exit. A dependency that cannot meet its
condition any more (failed or blocked for good; for service_healthy also exited) blocks its
dependents — unless `required: false`, which lets them start anyway.
Pure: no system calls, no clock (`now` is handed in).
"""
from __future__ import annotations

from zei.core.model import COMPLETED, HEALTHY as COND_HEALTHY, span
from zei.core.service import BACKOFF, BLOCKED, EXITED, FAILED, RUNNING, SCHEDULED, STARTING

H_STARTING, H_HEALTHY, H_UNHEALTHY = "starting", "healthy", "unhealthy"
OUTPUT_KEPT = 4096


class Health:
    """One service's health: the status of its current run and the last check's result."""
    __slots__ = ("check", "status", "streak", "started", "in_start", "seq", "in_flight",
                 "check_at", "next_at", "last", "checks", "healthy_since", "last_pass")

    def __init__(self, check):
        self.check = check
        self.seq = 0                 # numbers the checks; a result for an older one is stale
        self.checks = 0              # checks finished since zei started
        self.last = None             # the last finished check, as `zei status` shows it
        self.reset(None)

    def reset(self, now):
        """A new run began at `now` (None: no process)."""
        self.status = H_STARTING
        self.streak = 0              # failures in a row that counted
        self.started = now
        self.in_start = self.check.start_period > 0
        self.in_flight = False
        self.check_at = None
        self.healthy_since = None
        self.last_pass = None
        self.next_at = None if now is None else now + self.interval(now)

    def interval(self, now):
        c = self.check
        if self.in_start and now - self.started < c.start_period:
            return c.start_interval
        return c.interval

    def due(self, now):
        return not self.in_flight and self.next_at is not None and now >= self.next_at

    def begin(self, now):
        """A check starts now; returns its number."""
        self.seq += 1
        self.in_flight = True
        self.check_at = now
        return self.seq

    def stop(self):
        """The run ended: no more checks, none in flight. True if one was in flight."""
        flying = self.in_flight
        self.in_flight = False
        self.next_at = None
        return flying

    def result(self, ok, detail, now):
        """A check finished. Returns (old status, new status, counted) — counted is False for
        a failure inside the start period."""
        self.in_flight = False
        self.checks += 1
        began = self.check_at if self.check_at is not None else now
        output = str(detail.get("output") or "")[:OUTPUT_KEPT]
        self.last = {"ok": bool(ok), "at": detail.get("at"), "mono": now,
                     "duration": round(detail.get("duration", now - began), 6),
                     "exit_code": detail.get("exit_code"), "error": detail.get("error"),
                     "output": output}
        old, counted = self.status, True
        if ok:
            self.streak = 0
            self.in_start = False
            self.last_pass = now
            if old != H_HEALTHY:
                self.healthy_since = now
                self.status = H_HEALTHY
        elif self.in_start and began - self.started < self.check.start_period:
            counted = False
        else:
            self.in_start = False
            self.streak += 1
            if self.streak >= self.check.retries:
                self.status = H_UNHEALTHY
        self.next_at = now + self.interval(now)
        return old, self.status, counted

    def good_for(self):
        """How long the run was healthy before its last healthy stretch ended."""
        if self.healthy_since is None or self.last_pass is None:
            return 0.0
        return self.last_pass - self.healthy_since

    def describe(self, now):
        last = None
        if self.last is not None:
            last = dict(self.last, ago=round(now - self.last["mono"], 3))
            del last["mono"]
        c = self.check
        target = (" ".join(c.command) if c.kind == "exec" else
                  f"http://{_host(c.host)}:{c.port}{c.path}" if c.kind == "http" else
                  f"{_host(c.host)}:{c.port}")
        return {"status": self.status, "failing_streak": self.streak, "checks": self.checks,
                "kind": c.kind, "target": target, "interval": c.interval, "timeout": c.timeout,
                "retries": c.retries, "start_period": c.start_period,
                "start_interval": c.start_interval, "on_unhealthy": c.on_unhealthy,
                "in_start_period": self.in_start and self.started is not None
                and now - self.started < c.start_period,
                "next_in": round(self.next_at - now, 3) if self.next_at is not None
                and not self.in_flight else None,
                "last": last}


def _host(host):
    return f"[{host}]" if host and ":" in host else host


def failure_text(detail):
    """What a failed check said, in one line."""
    if detail.get("error"):
        return str(detail["error"])
    if detail.get("exit_code") is not None:
        out = " ".join(str(detail.get("output") or "").split())
        return f"exit code {detail['exit_code']}" + (f": {out[:200]}" if out else "")
    return "failed"


# ---- readiness ---------------------------------------------------------------------------
def is_ready(svc):
    spec = svc.spec
    if spec.oneshot:
        return svc.succeeded
    if svc.state != RUNNING or not svc.execd:
        return False
    if svc.health is not None:
        return svc.health.status == H_HEALTHY
    if spec.ready is not None:
        return svc.ready_seen
    return True


def why_not_ready(svc, now):
    """One line: why `svc` is not ready (is_ready(svc) is False)."""
    spec, name = svc.spec, svc.name
    if spec.oneshot:
        if svc.state in (STARTING, RUNNING):
            return f"{name} is running (a oneshot is ready once it has exited successfully)"
        last = svc.last_exit
        return f"{name} has not completed successfully ({svc.state}" + \
            (f", {svc.reason}" if svc.reason else "") + (f", last: {_last(last)}" if last else "") + ")"
    if svc.state != RUNNING or not svc.execd:
        extra = f" ({svc.reason})" if svc.reason else ""
        if svc.state in (BACKOFF, SCHEDULED) and svc.deadline is not None:
            extra = f": next start in {span(max(0.0, round(svc.deadline - now, 3)))}"
        return f"{name} {_STATE_WORDS.get(svc.state, 'is ' + svc.state)}{extra}"
    h = svc.health
    if h is not None:
        if h.status == H_UNHEALTHY:
            return f"{name} is unhealthy: {h.streak} check(s) failed in a row; last: " \
                   + failure_text(h.last or {})
        if h.last is None or h.last["mono"] < (h.started or 0.0):
            return f"{name} is starting: no health check has finished yet"
        return f"{name} is starting: last health check failed: " + failure_text(h.last)
    ready = spec.ready
    waited = span(round(max(0.0, now - (svc.started_at or now)), 1))
    if ready.notify:
        return f"{name} has not sent READY=1 yet (running for {waited})"
    return f"{name} has not logged a line matching {ready.log_line!r} yet (running for {waited})"


_STATE_WORDS = {BACKOFF: "is waiting to restart", FAILED: "has failed", EXITED: "has exited",
                BLOCKED: "is blocked", SCHEDULED: "is waiting for its next run"}


def _last(last):
    if "error" in last:
        return "could not start"
    if "signal" in last:
        return f"signal {last['signal']}"
    return f"exit code {last.get('code')}"


# ---- dependency conditions ---------------------------------------------------------------
def met(dep, condition):
    if condition == COND_HEALTHY:
        return is_ready(dep)
    if condition == COMPLETED:
        return dep.succeeded
    return dep.succeeded or (dep.state == RUNNING and not dep.spec.oneshot)


def impossible(dep, condition):
    """The dependency cannot meet `condition` any more (short of a manual start)."""
    if met(dep, condition):
        return False
    if dep.state in (FAILED, BLOCKED):
        return True
    return condition == COND_HEALTHY and dep.state == EXITED and not dep.spec.oneshot
