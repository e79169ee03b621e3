"""Control requests to supervisor calls: pure, so the daemon and the tests share it.

The server hands over a parsed request (zei.core.protocol) and an opaque token; answers come
back as Reply actions, either at once (list, status, signal) or when the supervisor is done
(start, stop, restart reply once the process has started or stopped).
"""
from __future__ import annotations

from zei.core.actions import Reply


def dispatch(sup, request, token, now, version="", pid=1, own_user=None):
    """The actions answering one request. `own_user`: who a service without `user` runs as
    (zei's own user), shown in list/status rows as their `user` with `own_user: true`."""
    cmd = request["cmd"]
    if cmd == "ping":
        return [Reply(token, {"ok": True, "pid": pid, "version": version})]
    name = request.get("service")
    if name is not None and name not in sup.services:
        return [Reply(token, {"ok": False, "code": "unknown-service",
                              "error": f"unknown service {name!r}; known: {', '.join(sup.services)}"})]
    if cmd in ("list", "status"):
        rows = sup.status(now, name)
        if own_user is not None:
            rows = [dict(r, user=own_user, own_user=True) if r.get("user") is None else r for r in rows]
        return [Reply(token, {"ok": True, "services": rows,
                              "shutting_down": sup.shutting_down,
                              "shutdown_reason": sup.stopping.reason})]
    if cmd == "ready":
        names = request.get("services") or []
        unknown = [n for n in names if n not in sup.services]
        if unknown:
            return [Reply(token, {"ok": False, "code": "unknown-service",
                                  "error": f"unknown service {unknown[0]!r}; known: {', '.join(sup.services)}"})]
        return [Reply(token, dict(sup.readiness(names, now), ok=True))]
    if cmd == "start":
        return sup.start(name, token, now)
    if cmd == "stop":
        return sup.stop(name, token, now)
    if cmd == "restart":
        return sup.restart(name, token, now)
    if cmd == "reload":              # the daemon reads the config first (zei.shell.reloader)
        return [Reply(token, {"ok": False, "error": "reload needs the daemon's config reader"})]
    if cmd == "signal":
        return sup.send(name, request["signal"], token, now)
    return [Reply(token, {"ok": False, "error": f"unknown command {cmd!r}"})]
