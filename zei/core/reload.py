"""`zei reload`: what changed between two configs, and how the supervisor applies it. Pure.

diff(old, new) compares the services by name, their specs field by field (`line` is where
a service sits in the file, not what it is, so it does not count), and the top-level
settings. The Reloads mixin of zei.core.supervisor.Supervisor applies a diff in two phases:

1. Stop: every changed or removed service with a process gets its OLD stop settings
   (stop_signal, stop_grace_period; SIGKILL after the grace), in reverse dependency order:
   a service is stopped once no changed or removed service that depends on it still has a
   process. One without a process is simply stopped (a pending restart or run is cancelled).
2. Apply, once none of them has a process left: the new config replaces the old one, the
   derived structures (order, dependents, downstream, health records, cron slots) are
   rebuilt, changed and added services start afresh (new records, counters at zero) in
   dependency order, removed ones are gone. Unchanged services keep their record: same
   pid, same counters. The reply (and the log) then lists what changed, per service.

Command mode's `main` is never restarted by a reload: its COMMAND is the same, and only its
dependencies (every other service) follow the config. One reload at a time: another while
one is underway is refused, and so is a reload during shutdown (which cancels one underway).
"""
from __future__ import annotations

from zei.core import health as H
from zei.core.actions import Log, Reconfigure, Reply
from zei.core.model import MAIN, ServiceSpec, dependency_order
from zei.core.records import record
from zei.core.service import STOPPED, STOPPING, Service

SETTINGS = ("shutdown_timeout", "version")
FIELDS = tuple(f for f in ServiceSpec._fields if f not in ("name", "line"))

Diff = record("Diff", "changed added removed unchanged settings",
              doc="changed: ((name, (field, ...)), ...) in the new file's order; added, removed, "
                  "unchanged: names; settings: the top-level settings that changed.")


def diff(old, new):
    """What a reload from Config `old` to Config `new` changes."""
    before = {s.name: s for s in old.services}
    after = {s.name: s for s in new.services}
    changed, added, unchanged = [], [], []
    for spec in new.services:
        was = before.get(spec.name)
        if was is None:
            added.append(spec.name)
            continue
        fields = tuple(f for f in FIELDS if getattr(was, f) != getattr(spec, f))
        if fields and not (spec.name == MAIN and new.command):
            changed.append((spec.name, fields))
        else:
            unchanged.append(spec.name)
    removed = tuple(s.name for s in old.services if s.name not in after)
    settings = tuple(k for k in SETTINGS if getattr(old, k) != getattr(new, k))
    return Diff(tuple(changed), tuple(added), removed, tuple(unchanged), settings)


def summary(d):
    """One line per change: 'web: restarted (changed: command, environment)', 'cache: added'."""
    lines = [f"{name}: restarted (changed: {', '.join(fields)})" for name, fields in d.changed]
    lines += [f"{name}: added" for name in d.added] + [f"{name}: removed" for name in d.removed]
    lines += [f"{key}: changed" for key in d.settings]
    return lines


class Job:
    """A reload underway: the request, the new config, its diff, the services to stop first."""
    __slots__ = ("token", "config", "diff", "stop")

    def __init__(self, token, config, d):
        self.token, self.config, self.diff = token, config, d
        self.stop = {name for name, _ in d.changed} | set(d.removed)


class Reloads:
    reload_job = None

    def _derive(self):
        """order, dependents and downstream from self.config (at start and after a reload)."""
        self.order = dependency_order(self.config.services)
        self.dependents = {n: [] for n in self.services}
        for s in self.config.services:
            for d in s.depends_on:
                if d in self.dependents:
                    self.dependents[d].append(s.name)
        self.downstream = _closure(self.dependents, self.order)

    def _fresh(self, spec, now):
        svc = Service(spec=spec)
        svc.changed_at = now
        if spec.healthcheck is not None:
            svc.health = H.Health(spec.healthcheck)
        return svc

    def reload(self, config, token, now):
        """Apply the validated Config `config` (`zei reload`); answered once applied."""
        if self.shutting_down:
            return [Reply(token, {"ok": False, "error": "zei is shutting down; not reloading"})]
        if self.reload_job is not None:
            return [Reply(token, {"ok": False, "code": "busy", "error": "a reload is already underway"})]
        d = diff(self.config, config)
        self.reload_job = job = Job(token, config, d)
        out = [Log("info", "zei", f"reloading {config.path}: " + ("; ".join(summary(d)) or "no changes"))]
        for name in job.stop:
            svc = self.services[name]
            svc.then_start = False
            svc.stop_for = None
            out += self._supersede(svc, ("start", "restart", "stop"), "reload")
        return out + self._reload_step(now)

    def _reload_step(self, now):
        """Stop what the reload replaces, dependents first; apply once all have stopped."""
        job = self.reload_job
        if job is None or self.shutting_down:
            return []
        out = []
        for name in reversed(self.order):
            if name not in job.stop:
                continue
            svc = self.services[name]
            if svc.pid is None:
                if svc.state != STOPPED:
                    svc.deadline = None
                    self._move(svc, STOPPED, "reload", now)
                    svc.reason = "stopped for a reload"
                continue
            if svc.state == STOPPING and svc.term_sent:
                continue
            if any(self.services[d].pid is not None for d in self.downstream[name] if d in job.stop):
                continue
            out += self.term(svc, now, "reload")
        if all(self.services[n].pid is None for n in job.stop):
            out += self._reload_apply(now)
        return out

    def _reload_apply(self, now):
        job, self.reload_job = self.reload_job, None
        old, fresh = self.services, set(job.stop)
        self.config = job.config
        self.services = {}
        for spec in job.config.services:
            svc = old.get(spec.name)
            if svc is None or spec.name in fresh:
                svc = self._fresh(spec, now)
            else:
                svc.spec = spec                        # the same but for its line
            self.services[spec.name] = svc
        out = []
        for name in fresh:
            self.slots.pop(name, None)
            out += self._supersede(old[name], ("start", "restart", "stop"), "reload")
        self._derive()
        lines = summary(job.diff)
        out += [Reconfigure(job.config)] + [Log("info", "zei", "reload: " + line) for line in lines]
        out += self._advance(now) + self._essentials(now)
        message = "reloaded: " + ("; ".join(lines) if lines else "no changes")
        return out + [Reply(job.token, {"ok": True, "message": message, "changes": lines,
                                        "changed": [n for n, _ in job.diff.changed],
                                        "added": list(job.diff.added),
                                        "removed": list(job.diff.removed)})]

    def _reload_cancel(self):
        """A shutdown began: the reload underway is not applied."""
        job, self.reload_job = self.reload_job, None
        if job is None:
            return []
        return [Reply(job.token, {"ok": False, "error": "zei is shutting down; reload not applied"})]


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
