"""Supervisor.reload: the difference applied with a fake clock (issue 13, `zei reload`)."""
from __future__ import annotations

from fakes import FakeShell, of, spec, supervisor
from zei.core import control
from zei.core.actions import Kill, Reconfigure, Reply, Spawn
from zei.core.model import Config, Healthcheck
from zei.core.supervisor import RUNNING, SIGKILL, SIGTERM

TIMEOUT = 10.0


def boot(*specs):
    shell = FakeShell(supervisor(*specs, shutdown_timeout=TIMEOUT))
    shell.boot()
    return shell


def new(*specs, **top):
    return Config(path="test.yaml", services=tuple(specs), **dict({"shutdown_timeout": TIMEOUT}, **top))


def termed(out):
    return [k.name for k in of(out, Kill) if k.sig != SIGKILL]


def test_changed_restarted_unchanged_untouched_added_started_removed_gone():
    shell = boot(spec("web"), spec("db"), spec("old"))
    db = shell.sup.services["db"]
    db_pid, db_runs = db.pid, db.runs
    out = shell.reload(new(spec("web", command=("/bin/web",)), spec("db"), spec("cache")))
    assert sorted(termed(out)) == ["old", "web"]
    assert "reload" not in shell.replies                    # answered once applied
    shell.exit("web", None, SIGTERM, at=1)
    assert "reload" not in shell.replies
    out = shell.exit("old", None, SIGTERM, at=2)
    assert of(out, Reconfigure) and [s.name for s in of(out, Spawn)] == ["web", "cache"]
    reply = shell.replies["reload"]
    assert reply["ok"] and reply["changes"] == ["web: restarted (changed: command)", "cache: added",
                                                "old: removed"]
    sup = shell.sup
    assert list(sup.services) == ["web", "db", "cache"]
    assert sup.services["db"] is db and db.pid == db_pid and db.runs == db_runs
    assert sup.services["web"].spec.command == ("/bin/web",) and sup.services["web"].state == RUNNING
    assert [r["name"] for r in sup.status(shell.now)] == ["web", "db", "cache"]
    assert sup.order == ["web", "db", "cache"] and "old" not in sup.dependents


def test_stopped_with_the_old_stop_settings():
    shell = boot(spec("web", stop_signal=10, stop_grace_period=2.0))
    out = shell.reload(new(spec("web", stop_signal=12, stop_grace_period=5.0)))
    assert [k.sig for k in of(out, Kill)] == [10]
    out = shell.advance(2.0)                              # the old grace: SIGKILL
    assert [k.sig for k in of(out, Kill)] == [SIGKILL]
    shell.exit("web", None, SIGKILL, at=2.5)
    assert shell.replies["reload"]["ok"] and shell.sup.services["web"].spec.stop_signal == 12


def test_removed_stopped_in_reverse_dependency_order():
    shell = boot(spec("db"), spec("app", depends_on=("db",)), spec("keep"))
    out = shell.reload(new(spec("keep")))
    assert termed(out) == ["app"]                          # db waits for its dependent
    out = shell.exit("app", None, SIGTERM, at=1)
    assert termed(out) == ["db"]
    shell.exit("db", None, SIGTERM, at=2)
    assert shell.replies["reload"]["removed"] == ["db", "app"]
    assert list(shell.sup.services) == ["keep"]


def test_added_started_in_dependency_order_after_its_dependency():
    shell = boot(spec("web"))
    shell.hold_exec.add("db")
    out = shell.reload(new(spec("web"), spec("api", depends_on=("db",)), spec("db")))
    assert [s.name for s in of(out, Spawn)] == ["db"]      # api waits for db
    assert shell.replies["reload"]["added"] == ["api", "db"]
    out = shell.exec_done("db")
    assert [s.name for s in of(out, Spawn)] == ["api"]


def test_unchanged_only_line_moved_keeps_everything_and_takes_new_settings():
    shell = boot(spec("web", line=3))
    pid = shell.sup.services["web"].pid
    out = shell.reload(new(spec("web", line=8), shutdown_timeout=3.0))
    assert not of(out, Kill) and not of(out, Spawn)
    assert shell.replies["reload"]["changes"] == ["shutdown_timeout: changed"]
    assert shell.sup.services["web"].pid == pid and shell.sup.config.shutdown_timeout == 3.0
    assert shell.sup.services["web"].spec.line == 8


def test_not_running_changed_service_is_replaced_at_once():
    shell = boot(spec("job", oneshot=True))
    shell.exit("job", 0, at=1)
    out = shell.reload(new(spec("job", oneshot=True, command=("/bin/job2",))))
    assert of(out, Spawn) == [Spawn("job")] and shell.replies["reload"]["ok"]
    assert shell.sup.services["job"].runs == 1            # a fresh record for the new spec


def test_second_reload_while_one_is_applied_is_refused():
    shell = boot(spec("web"))
    shell.reload(new(spec("web", command=("x",))), "one")
    out = shell.reload(new(spec("web", command=("y",))), "two")
    assert out == [Reply("two", {"ok": False, "code": "busy", "error": "a reload is already underway"})]
    shell.exit("web", None, SIGTERM, at=1)
    assert shell.replies["one"]["ok"] and shell.sup.services["web"].spec.command == ("x",)


def test_reload_during_shutdown_is_refused_and_shutdown_cancels_one_underway():
    shell = boot(spec("web"))
    shell.reload(new(spec("web", command=("x",))), "one")
    shell.signal(SIGTERM)
    assert shell.replies["one"] == {"ok": False, "error": "zei is shutting down; reload not applied"}
    out = shell.reload(new(spec("web")), "two")
    assert out[0] == Reply("two", {"ok": False, "error": "zei is shutting down; not reloading"})


def test_a_crash_while_waiting_is_not_restarted_by_the_old_policy():
    shell = boot(spec("db"), spec("app", depends_on=("db",), restart="always"), spec("x"))
    shell.reload(new(spec("db", command=("d2",)), spec("x")))   # app removed, db changed
    out = shell.exit("app", 1, at=1)                           # dies on its own meanwhile
    assert termed(out) == ["db"] and not of(out, Spawn)
    out = shell.advance(5.0)
    assert not of(out, Spawn)
    out = shell.exit("db", None, SIGTERM, at=6)
    assert [s.name for s in of(out, Spawn)] == ["db"] and shell.replies["reload"]["ok"]


def test_health_records_rebuilt_for_a_new_healthcheck():
    shell = boot(spec("web"))
    check = Healthcheck(kind="tcp", host="127.0.0.1", port=80, interval=5.0)
    shell.reload(new(spec("web", healthcheck=check)))
    shell.exit("web", None, SIGTERM, at=1)
    svc = shell.sup.services["web"]
    assert svc.health is not None and svc.health.check == check


def test_pending_requests_of_a_replaced_service_are_answered():
    shell = boot(spec("web"))
    shell.run(control.dispatch(shell.sup, {"cmd": "stop", "service": "web"}, "s", shell.now))
    shell.reload(new(spec("web", command=("x",))))
    assert shell.replies["s"]["ok"] is False and "reload" in shell.replies["s"]["error"]
    shell.exit("web", None, SIGTERM, at=1)
    assert shell.replies["reload"]["ok"]


def test_cron_slots_follow_a_changed_schedule_and_a_removed_job_leaves_none():
    shell = boot(spec("job", oneshot=True, schedule="0 * * * *"), spec("other", oneshot=True, schedule="0 * * * *"))
    sup = shell.sup
    assert set(sup.slots) == {"job", "other"}
    first = sup.slots["job"]
    shell.reload(new(spec("job", oneshot=True, schedule="*/5 * * * *")))
    assert shell.replies["reload"]["ok"] and set(sup.slots) == {"job"}
    assert sup.slots["job"] < first and sup.services["job"].state == "scheduled"
    assert sup.next_deadline() == sup.services["job"].deadline


def test_a_scheduled_job_that_is_unchanged_keeps_its_slot():
    shell = boot(spec("job", oneshot=True, schedule="0 * * * *"))
    slot = shell.sup.slots["job"]
    shell.reload(new(spec("job", oneshot=True, schedule="0 * * * *"), spec("web")))
    assert shell.sup.slots["job"] == slot and shell.sup.services["web"].state == RUNNING
