"""Cron-scheduled oneshots (`schedule:`) in the supervisor: when each one runs next. Pure.

The core keeps monotonic time only; wall time is handed in with set_clock(now, wall,
localtime), which the daemon calls on every wakeup (time.monotonic(), time.time(),
time.localtime) and tests call with fake values. The supervisor keeps, per scheduled
service, its pending due time as a wall-clock epoch (`slots`); a monotonic deadline is
derived from it, deadline = slot - (wall - now), again on every set_clock. So a wall clock
that jumps (NTP) moves the deadline, never the due time: a jump back does not repeat a
run (the pending time is still the one after the last run), a jump forward past a due time
runs it once, at once, and goes on from the new time.

- A scheduled oneshot does not run at boot: once its dependencies are up it is `scheduled`
  until its first due time (zei.core.cron.next_run, in local time).
- After each run (the restart policy is the one `interval` oneshots have: zei.core.policy)
  it is `scheduled` again, until the next due time after the run ended.
- No overlap: a due time that comes while the run is still going is skipped and logged;
  the next due time after the run ends is used.
"""
from __future__ import annotations

import functools

from zei.core import cron
from zei.core.actions import Log
from zei.core.service import RUNNING, SCHEDULED, STARTING


@functools.lru_cache(maxsize=256)
def _parsed(text):
    return cron.parse(text)


class Schedules:
    wall_offset = 0.0            # wall - monotonic: a supervisor given no clock runs on UTC, wall = now
    localtime = cron.Utc()

    def set_clock(self, now, wall, localtime):
        """The wall clock (epoch seconds) at monotonic `now`, and the local-time function."""
        self.wall_offset, self.localtime = wall - now, localtime
        for name, slot in self.slots.items():
            svc = self.services.get(name)           # (a service a reload removed is passed over)
            if svc is not None and svc.state == SCHEDULED and slot is not None:
                svc.deadline = slot - self.wall_offset

    def _launch(self, svc, now):
        """Dependencies are up: start it, or for a scheduled oneshot wait for its first time."""
        if svc.spec.schedule is None:
            return self._start(svc, now, "dependencies up")
        self._move(svc, SCHEDULED, "dependencies up", now)
        self.slots.pop(svc.name, None)
        return self._next_slot(svc, now, "")

    def _said(self, svc, step, now):
        """The log line of a finished run's next step; a scheduled oneshot's next due time."""
        if step.state == SCHEDULED and svc.spec.schedule is not None:
            return self._next_slot(svc, now, step.message)
        return [Log(step.level, svc.name, step.message)] if step.message else []

    def _next_slot(self, svc, now, why):
        wall = now + self.wall_offset
        slot = self.slots.get(svc.name)
        if slot is None or slot <= wall:
            slot = cron.next_run(_parsed(svc.spec.schedule), wall, self.localtime)
        self.slots[svc.name] = slot
        why = why + "; " if why else ""
        if slot is None:
            svc.deadline = None
            svc.reason = f"schedule {svc.spec.schedule!r} has no time in the next {cron.SEARCH_DAYS // 366} years"
            return [Log("error", svc.name, why + svc.reason)]
        svc.deadline = slot - self.wall_offset
        return [Log("info", svc.name, why + f"next run at {cron.iso_local(slot, self.localtime)}")]

    def _schedule_tick(self, now):
        """Due times that came: a scheduled one starts (the tick does it; the next time is
        pending from now on), a running one skips it."""
        out = []
        wall = now + self.wall_offset
        for name, slot in self.slots.items():
            svc = self.services.get(name)
            if svc is None:
                continue
            if svc.state == SCHEDULED:        # exactly the tick's test, so a due time is never lost
                due = slot is not None and svc.deadline is not None and now >= svc.deadline
            else:
                due = slot is not None and slot <= wall and svc.state in (STARTING, RUNNING)
            if not due:
                continue
            if svc.state != SCHEDULED:
                out.append(Log("warn", name, f"still running at {cron.hhmm(slot, self.localtime)}; "
                                             "skipping that run"))
            self.slots[name] = cron.next_run(_parsed(svc.spec.schedule), max(slot, wall), self.localtime)
        return out

    def _slot_deadlines(self):
        """When a running scheduled oneshot's next due time comes (to skip it)."""
        return [slot - self.wall_offset for name, slot in self.slots.items()
                if slot is not None and name in self.services and self.services[name].state in (STARTING, RUNNING)]

    def _schedule_row(self, svc, now):
        """schedule, next_run (ISO local time) and next_in (seconds) for `zei list`/`status`."""
        slot = self.slots.get(svc.name)
        if svc.spec.schedule is None or slot is None or svc.state not in (SCHEDULED, STARTING, RUNNING):
            return {"schedule": svc.spec.schedule, "next_run": None} if svc.spec.schedule else {}
        return {"schedule": svc.spec.schedule, "next_run": cron.iso_local(slot, self.localtime),
                "next_in": round(slot - self.wall_offset - now, 3)}
