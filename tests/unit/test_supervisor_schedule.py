"""Cron-scheduled oneshots in the pure core (zei.core.schedule): a fake monotonic clock and a
fake wall clock (Europe/Berlin via zoneinfo). Not run at boot, run at each due time, no
overlap (a due time that comes during a run is skipped and logged), wall clock jumps, the
restart policy of interval oneshots, status rows; and `schedule:` in the config."""
from __future__ import annotations

import textwrap
from datetime import datetime
from types import SimpleNamespace

import pytest

from zei import render
from zei.core import model
from zei.core.config import ConfigError, parse
from zei.core.supervisor import BACKOFF, RUNNING, SCHEDULED, STOPPED, WAITING

from fakes import FakeShell, messages, spec, supervisor

try:
    from zoneinfo import ZoneInfo
    ZONE = ZoneInfo("Europe/Berlin")
except Exception:                                   # pragma: no cover (no tz database)
    pytest.skip("no time zone database", allow_module_level=True)


def localtime(t):
    return SimpleNamespace(tm_gmtoff=int(datetime.fromtimestamp(t, ZONE).utcoffset().total_seconds()))


def wall(text):
    return datetime.fromisoformat(text).replace(tzinfo=ZONE).timestamp()


BOOT = wall("2026-12-01T14:07:30")   # the wall clock at monotonic 0


def job(**kw):
    kw.setdefault("oneshot", True)
    kw.setdefault("schedule", "*/15 * * * *")
    return spec("job", **kw)


def boot(*specs, offset=BOOT):
    shell = FakeShell(supervisor(*specs))
    shell.sup.set_clock(shell.now, shell.now + offset, localtime)
    shell.boot()
    return shell


def mono(text, offset=BOOT):
    """The monotonic time of a local wall time (while the wall clock has not jumped)."""
    return wall(text) - offset


def logs(shell, name="job"):
    return [m for level, source, m in messages(shell.actions) if source == name]


def row(shell, name="job"):
    return shell.sup.status(shell.now, name)[0]


# ---- when it runs --------------------------------------------------------------------------

def test_not_run_at_boot_but_at_its_first_due_time():
    shell = boot(job())
    svc = shell.sup.services["job"]
    assert svc.state == SCHEDULED and shell.spawns == []
    assert shell.sup.next_deadline() == pytest.approx(mono("2026-12-01T14:15:00"))
    assert "next run at 2026-12-01T14:15:00+01:00" in logs(shell)
    shell.advance(mono("2026-12-01T14:15:00") - 0.5)
    assert shell.spawns == []
    shell.advance(mono("2026-12-01T14:15:00"))
    assert shell.spawns == ["job"] and svc.state == RUNNING


def test_after_a_run_it_waits_for_the_next_due_time():
    shell = boot(job())
    shell.advance(mono("2026-12-01T14:15:00"))
    shell.exit("job", 0, at=mono("2026-12-01T14:15:03"))
    svc = shell.sup.services["job"]
    assert svc.state == SCHEDULED
    assert svc.deadline == pytest.approx(mono("2026-12-01T14:30:00"))
    assert logs(shell)[-1] == "next run at 2026-12-01T14:30:00+01:00"
    shell.advance(mono("2026-12-01T14:30:00"))
    assert shell.spawns == ["job", "job"]


def test_a_due_time_during_a_run_is_skipped_and_logged():
    shell = boot(job())
    shell.advance(mono("2026-12-01T14:15:00"))
    # the run is still going at 14:30: the core wakes up then to say so
    assert shell.sup.next_deadline() == pytest.approx(mono("2026-12-01T14:30:00"))
    shell.advance(mono("2026-12-01T14:30:00"))
    assert shell.spawns == ["job"]
    assert ("warn", "job", "still running at 14:30; skipping that run") in messages(shell.actions)
    shell.advance(mono("2026-12-01T14:45:00"))
    assert logs(shell)[-1] == "still running at 14:45; skipping that run"
    shell.exit("job", 0, at=mono("2026-12-01T14:50:00"))
    assert shell.sup.services["job"].deadline == pytest.approx(mono("2026-12-01T15:00:00"))
    shell.advance(mono("2026-12-01T15:00:00"))
    assert shell.spawns == ["job", "job"]


def test_a_run_that_ends_after_a_due_time_it_did_not_see_uses_the_next_one():
    shell = boot(job())
    shell.advance(mono("2026-12-01T14:15:00"))
    shell.exit("job", 0, at=mono("2026-12-01T14:31:00"))     # no tick at 14:30 (a busy loop)
    assert shell.sup.services["job"].deadline == pytest.approx(mono("2026-12-01T14:45:00"))


# ---- the wall clock jumps ------------------------------------------------------------------

def test_a_wall_clock_jump_back_does_not_repeat_a_run():
    shell = boot(job())
    shell.advance(mono("2026-12-01T14:15:00"))
    shell.exit("job", 0, at=mono("2026-12-01T14:15:02"))
    back = BOOT - 3600                                        # NTP: an hour back
    shell.sup.set_clock(shell.now, shell.now + back, localtime)
    # still the 14:30 run, now 75 minutes away; 13:30, 13:45, ... 14:15 are not repeated
    assert shell.sup.next_deadline() == pytest.approx(mono("2026-12-01T14:30:00", back))
    shell.advance(mono("2026-12-01T14:29:00", back))
    assert shell.spawns == ["job"]
    shell.advance(mono("2026-12-01T14:30:00", back))
    assert shell.spawns == ["job", "job"]


def test_a_wall_clock_jump_forward_runs_a_passed_time_once():
    shell = boot(job())
    ahead = BOOT + 7200
    shell.sup.set_clock(shell.now + 1, shell.now + 1 + ahead, localtime)   # 16:07:31 now
    shell.advance(shell.now + 1)
    assert shell.spawns == ["job"]                                         # the 14:15 run, late
    shell.exit("job", 0, at=shell.now + 2)
    assert shell.sup.services["job"].deadline == pytest.approx(mono("2026-12-01T16:15:00", ahead))


# ---- restart policy: as interval oneshots ----------------------------------------------------

def test_a_failed_run_is_retried_under_on_failure_then_scheduled():
    shell = boot(job(restart="on-failure", restart_delay=5.0, max_restarts=1))
    t = mono("2026-12-01T14:15:00")
    shell.advance(t)
    shell.exit("job", 1, at=t + 1)
    assert shell.sup.services["job"].state == BACKOFF
    shell.advance(t + 6)
    assert shell.spawns == ["job", "job"]
    shell.exit("job", 1, at=t + 7)
    svc = shell.sup.services["job"]
    assert svc.state == SCHEDULED and svc.deadline == pytest.approx(mono("2026-12-01T14:30:00"))
    assert logs(shell)[-1] == ("gave up after 1 restart(s) in a row (max_restarts 1); "
                               "next run at 2026-12-01T14:30:00+01:00")


def test_a_failed_run_without_restart_waits_for_the_next_time():
    shell = boot(job())
    shell.advance(mono("2026-12-01T14:15:00"))
    shell.exit("job", 3, at=mono("2026-12-01T14:15:01"))
    svc = shell.sup.services["job"]
    assert svc.state == SCHEDULED and svc.deadline == pytest.approx(mono("2026-12-01T14:30:00"))


# ---- with the rest of the supervisor ------------------------------------------------------------

def test_it_waits_for_its_dependencies_then_for_its_time():
    shell = boot(spec("db", oneshot=True), job(depends_on=("db",)))
    assert shell.sup.services["job"].state == WAITING and shell.spawns == ["db"]
    shell.exit("db", 0, at=1.0)
    assert shell.sup.services["job"].state == SCHEDULED and shell.spawns == ["db"]


def test_a_manual_start_runs_it_now_and_keeps_the_due_time():
    shell = boot(job())
    shell.control("start", "job", "t1")
    assert shell.spawns == ["job"]
    shell.exit("job", 0, at=10.0)
    assert shell.sup.services["job"].deadline == pytest.approx(mono("2026-12-01T14:15:00"))


def test_a_shutdown_cancels_the_next_run():
    shell = boot(job())
    shell.signal(15)
    assert shell.sup.services["job"].state == STOPPED
    assert shell.sup.next_deadline() is None or shell.exit_code is not None


def test_without_a_clock_it_runs_on_utc():
    shell = FakeShell(supervisor(job(schedule="0 * * * *")))
    shell.boot()
    assert shell.sup.services["job"].deadline == 3600.0           # monotonic 0 = 1970-01-01T00:00Z


# ---- status ------------------------------------------------------------------------------

def test_status_shows_the_next_run():
    shell = boot(job())
    shell.advance(mono("2026-12-01T14:11:48"))
    r = row(shell)
    assert r["state"] == SCHEDULED and r["schedule"] == "*/15 * * * *"
    assert r["next_run"] == "2026-12-01T14:15:00+01:00" and r["next_in"] == pytest.approx(192.0)
    text = render.render_status([r])
    assert "  next run:   2026-12-01T14:15:00+01:00 (in 3m12s)\n" in text
    assert "  oneshot:    yes, schedule */15 * * * *\n" in text
    assert render.render_list([r]).splitlines()[1].split()[:4] == ["job", "scheduled", "(next", "14:15)"]


def test_status_while_running_shows_the_next_due_time():
    shell = boot(job())
    shell.advance(mono("2026-12-01T14:15:00"))
    r = row(shell)
    assert r["state"] == RUNNING and r["next_run"] == "2026-12-01T14:30:00+01:00"
    assert r["next_in"] == pytest.approx(900.0)


def test_other_rows_have_no_next_run():
    shell = boot(spec("web"), job())
    assert "next_run" not in row(shell, "web")


# ---- the config -------------------------------------------------------------------------

PATH = "/etc/zei/zei.yaml"


def load(options):
    return parse("services:\n  job:\n    command: [echo]\n" + textwrap.indent(textwrap.dedent(options), "    "),
                 PATH)


def problems(options):
    with pytest.raises(ConfigError) as e:
        load(options)
    return [str(p) for p in e.value.problems]


def test_a_schedule_is_read():
    s = load("oneshot: true\nschedule: '@daily'\n").service("job")
    assert s.schedule == "@daily" and s.interval is None
    assert load("oneshot: true\nschedule: '*/15  *  * * *'\n").service("job").schedule == "*/15 * * * *"


def test_a_schedule_survives_json():
    cfg = load("oneshot: true\nschedule: '0 3 * * mon'\n")
    assert model.from_json(model.to_json(cfg)) == cfg


@pytest.mark.parametrize("options, expected", [
    ("schedule: '@hourly'\n",
     "/etc/zei/zei.yaml:4: services.job.schedule: only oneshot services can have a schedule; "
     "add 'oneshot: true'"),
    ("oneshot: true\ninterval: 5m\nschedule: '@hourly'\n",
     "/etc/zei/zei.yaml:6: services.job.schedule: interval and schedule exclude each other"),
    ("oneshot: true\nschedule: '61 * * * *'\n",
     "/etc/zei/zei.yaml:5: services.job.schedule: minute: '61': 61 is out of range (0-59) (got '61 * * * *')"),
    ("oneshot: true\nschedule: '0 0 30 2 *'\n",
     "/etc/zei/zei.yaml:5: services.job.schedule: day-of-month: 30 never falls in February"),
    ("oneshot: true\nschedule: [1]\n", "/etc/zei/zei.yaml:5: services.job.schedule: expected a non-empty string"),
])
def test_schedule_problems(options, expected):
    assert any(p.startswith(expected) for p in problems(options)), problems(options)
