"""Health checks and readiness as supervisor events: check results, notify datagrams, a
ready log line, the ready timeout, `zei ready`, and READY=1 upward.

A mixin of zei.core.supervisor.Supervisor (it uses its moves and helpers); the rules
themselves are zei.core.health and zei.core.policy. An unhealthy service (on_unhealthy:
restart) or one not ready within ready.timeout is stopped with its stop settings and
`stop_for` says why; when it has stopped, _stopped_for_health applies the consequence (an
automatic restart counted for backoff and max_restarts, or a failed start). Results are
numbered: one for a check of an earlier run, or after the run ended, is ignored.
Pure: no system calls.
"""
from __future__ import annotations

from zei.core import health as H
from zei.core import policy
from zei.core.actions import Check, CancelCheck, Log, NotifyUp
from zei.core.service import FAILED, RUNNING, STARTING, span


class Readiness:
    def check_result(self, name, seq, ok, detail, now):
        """Health check number `seq` of `name` finished (detail: output, exit_code, error)."""
        svc = self.services[name]
        h = svc.health
        if h is None or seq != h.seq or not h.in_flight:
            return []                      # stale: its run is over, or a newer check runs
        if svc.state != RUNNING or self.shutting_down:
            h.in_flight = False
            return []
        good_for = h.good_for()
        old, new, counted = h.result(ok, detail, now)
        if new == old:
            if not ok and counted and new != H.H_UNHEALTHY:
                return [Log("info", name, f"health check failed ({h.streak} of {h.check.retries}): "
                            + H.failure_text(detail))]
            return []
        if new == H.H_HEALTHY:
            out = [Log("info", name, "healthy" + ("" if old == H.H_STARTING else " again"))]
            return out + self._advance(now) + self._announce()
        why = f"unhealthy: {h.streak} check(s) failed in a row; last: {H.failure_text(detail)}"
        if h.check.on_unhealthy != "restart":
            return [Log("warn", name, why + " (on_unhealthy: none)")]
        svc.stop_for = ("unhealthy", max(good_for, h.good_for()))
        return [Log("warn", name, why + "; restarting it")] + self.term(svc, now, "unhealthy")

    def notified(self, name, fields, now):
        """A datagram from the service's own notify socket (zei.shell.notify checked the sender)."""
        svc = self.services[name]
        if svc.state not in (STARTING, RUNNING):
            return []
        out = []
        if "STATUS" in fields:
            svc.notify_status = fields["STATUS"][:200]
        if fields.get("STOPPING") == "1":
            out.append(Log("info", name, "says it is stopping (STOPPING=1)"))
        if fields.get("READY") == "1" and svc.spec.ready is not None and svc.spec.ready.notify:
            out += self.ready_seen(name, "READY=1", now)
        return out

    def wants_line(self, name):
        """Whether the shell should still look for the service's ready log_line."""
        svc = self.services[name]
        ready = svc.spec.ready
        return ready is not None and ready.log_line is not None and not svc.ready_seen \
            and svc.state in (STARTING, RUNNING)

    def ready_seen(self, name, how, now):
        """The service said it is ready in this run (READY=1 or its log line)."""
        svc = self.services[name]
        if svc.ready_seen or svc.state not in (STARTING, RUNNING):
            return []
        svc.ready_seen = True
        svc.ready_deadline = None
        if svc.state == STARTING:          # seen before the exec was confirmed: counts on spawned()
            return []
        ready = " (the healthcheck decides readiness)" if svc.health is not None else ""
        return [Log("info", name, f"ready ({how}){ready}")] + self._advance(now) + self._announce()

    def readiness(self, names, now):
        """`zei ready`: are these (default: every long-running service) ready? The first
        that is not, and why."""
        names = names or [s.name for s in self.config.services if not s.oneshot]
        if self.shutting_down:
            return {"ready": False, "service": None, "why": "zei is shutting down"
                    + (f" ({self.stopping.reason})" if self.stopping.reason else "")}
        for n in names:
            svc = self.services[n]
            if not H.is_ready(svc):
                return {"ready": False, "service": n, "why": H.why_not_ready(svc, now)}
        return {"ready": True, "service": None, "why": f"{len(names)} service(s) ready"}

    def _due_checks(self, svc, now):
        out = []
        if svc.health is not None and svc.health.due(now):
            out.append(Check(svc.name, svc.health.begin(now)))
        if svc.ready_deadline is not None and now >= svc.ready_deadline:
            svc.ready_deadline = None
            svc.stop_for = ("not-ready", 0.0)
            out.append(Log("error", svc.name, f"not ready within {span(svc.spec.ready.timeout)}; "
                           "stopping it (a failed start)"))
            out += self.term(svc, now, "not ready")
        return out

    def _run_over(self, svc):
        """The service's process is gone: no more checks, no ready deadline."""
        svc.ready_deadline = None
        if svc.health is not None and svc.health.stop():
            return [CancelCheck(svc.name)]
        return []

    def _stopped_for_health(self, svc, now):
        """Stopped because it was unhealthy (restart it, counted) or not ready in time (a
        failed start: the restart policy decides)."""
        why, good_for = svc.stop_for
        svc.stop_for = None
        svc.deadline = None
        if why == "unhealthy":
            step = policy.after_unhealthy(svc, good_for, span)
            self._move(svc, step.state, "unhealthy", now)
            svc.deadline = now + step.delay if step.delay is not None else None
            svc.reason = step.reason
            out = [Log(step.level, svc.name, step.message)]
        else:
            out = self._after_run(svc, False, 0.0, now)
            if svc.state == FAILED:
                svc.reason = f"not ready within {span(svc.spec.ready.timeout)}; " + svc.reason
        return out + self._advance(now) + self._essentials(now)

    def _announce(self):
        """READY=1 upward, once: when every long-running service is ready."""
        if self.announced or self.shutting_down:
            return []
        long_running = [s for s in self.services.values() if not s.spec.oneshot]
        if not all(H.is_ready(s) for s in long_running):
            return []
        self.announced = True
        return [Log("info", "zei", f"ready: {len(long_running)} long-running service(s) ready"),
                NotifyUp(f"READY=1\nSTATUS={len(long_running)} service(s) ready")]

