"""Control requests as supervisor events: start, stop, restart and signal one service.

A mixin of zei.core.supervisor.Supervisor (it uses its moves and helpers). Each request
waits as (token, intent) on the service and is answered with what became of *it*: a restart
that a stop overtakes fails ("superseded by a stop request"), a start during a stop starts
the service again once it has stopped, and so on. Pure: no system calls.
"""
from __future__ import annotations

from zei.core.actions import Kill, Log, Reply
from zei.core.service import RUNNING, STARTING, STOPPED, STOPPING, signal_name


class Requests:
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
        svc.restarts = svc.failures = 0
        return out + [Log("info", name, "start requested")] + self._start(svc, now, "start request") \
            + self._advance(now)

    def stop(self, name, token, now):
        svc = self.services[name]
        if self.shutting_down:
            return [Reply(token, {"ok": False, "error": "zei is shutting down"})]
        out = self._supersede(svc, ("start", "restart"), "stop")
        svc.then_start = False
        svc.stop_for = None                  # an operator's stop, not a health restart
        if svc.state in (RUNNING, STARTING) and svc.pid is not None:
            svc.waiters.append((token, "stop"))
            return out + [Log("info", name, "stop requested")] + self.term(svc, now, "stop")
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
            return out + [Log("info", name, "restart requested")] + self.term(svc, now, "stop")
        if svc.state == STOPPING:
            svc.then_start = True
            svc.stop_for = None
            return out
        if svc.state == STARTING:
            return out
        svc.restarts = svc.failures = 0
        return out + [Log("info", name, "restart requested")] + self._start(svc, now, "restart request") \
            + self._advance(now)

    def send(self, name, sig, token, now):
        svc = self.services[name]
        if svc.pid is None or not svc.execd:
            return [Reply(token, {"ok": False, "error": f"{name} is not running ({svc.state})"})]
        return [Log("info", name, f"sending {signal_name(sig)} (requested)"),
                Kill(name, svc.pid, sig),
                Reply(token, {"ok": True, "message": f"sent {signal_name(sig)} to {name} (pid {svc.pid})"})]

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

