"""Reading `schedule:` (a cron expression, zei.core.cron) for zei.core.config's checker:
on a oneshot only, and not together with `interval`. Pure: no system calls."""
from __future__ import annotations

from zei.core import cron


class ScheduleFields:
    def schedule(self, node, where):
        text = self.string(node, where)
        if text is None:
            return None
        try:
            cron.parse(text)
        except cron.CronError as e:
            self.bad(node, where, str(e), node)
            return None
        return " ".join(text.split())

    def periodic(self, opts, lines, where):
        """schedule: a oneshot's, exclusive with interval."""
        if "schedule" not in lines or opts.get("schedule") is None:
            return
        if not opts.get("oneshot"):
            self.bad(lines["schedule"], f"{where}.schedule",
                     "only oneshot services can have a schedule; add 'oneshot: true'")
        if "interval" in lines:
            self.bad(lines["schedule"], f"{where}.schedule", "interval and schedule exclude each "
                     "other: a oneshot runs every interval or on its schedule, not both")
