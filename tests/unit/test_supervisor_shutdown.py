"""Shutdown: reverse dependency order within one budget, orphans, SIGKILL, the exit code."""
from __future__ import annotations

import pytest

from fakes import FakeShell, messages, of, spec, supervisor
from zei.core.actions import Exit, Kill, KillAll, Log, Reply, Spawn
from zei.core.supervisor import (
    KILL_GRACE_AFTER_DEADLINE, SIGHUP, SIGINT, SIGKILL, SIGQUIT, SIGTERM, STOPPED, STOPPING,
)

TIMEOUT = 10.0


def boot(*specs, timeout=TIMEOUT):
    shell = FakeShell(supervisor(*specs, shutdown_timeout=timeout))
    shell.boot()
    return shell


def chain():
    """db <- app <- web (web depends on app, app on db), plus an independent cron."""
    return boot(spec("web", depends_on=("app",)), spec("app", depends_on=("db",)), spec("db"),
                spec("cron"))


def termed(out):
    return [k.name for k in of(out, Kill) if k.sig == SIGTERM]


@pytest.mark.parametrize("sig", [SIGTERM, SIGINT, SIGQUIT])
def test_shutdown_signals_stop_dependents_first(sig):
    shell = chain()
    s = shell.sup.services
    out = shell.signal(sig)
    assert sorted(termed(out)) == ["cron", "web"]
    assert s["web"].state == STOPPING and s["app"].state == "running" and s["db"].state == "running"
    names = {1: "HUP", 2: "INT", 3: "QUIT", 15: "TERM"}
    assert messages(out)[0] == ("info", "zei", f"received SIG{names[sig]}; stopping services (timeout 10s)")
    assert of(out, KillAll) == []
    out = shell.exit("web", None, SIGTERM, at=1)
    assert termed(out) == ["app"] and s["web"].state == STOPPED
    out = shell.exit("cron", 0, at=1.5)
    assert termed(out) == []
    out = shell.exit("app", 0, at=2)
    assert termed(out) == ["db"]
    assert of(out, KillAll) == []            # db still alive: no orphan sweep yet
    out = shell.exit("db", 0, at=3)
    # no service left: orphans get SIGTERM, and with no child left zei exits 0
    assert of(out, KillAll) == [KillAll(SIGTERM)]
    assert out[-1] == Exit(0)
    assert ("info", "zei", "all processes stopped; exiting with code 0") in messages(out)
    assert shell.exit_code == 0
    assert all(svc.state == STOPPED for svc in s.values())
    assert shell.sup.next_deadline() is None


def test_each_service_gets_sigterm_exactly_once():
    shell = chain()
    shell.signal(SIGTERM)
    for name in ("web", "cron", "app", "db"):
        shell.exit(name, 0, at=1)
    assert sorted(k.name for k in shell.kills) == ["app", "cron", "db", "web"]
    assert all(k.sig == SIGTERM for k in shell.kills)


def test_diamond_both_dependents_before_the_shared_dependency():
    shell = boot(spec("db"), spec("api", depends_on=("db",)), spec("worker", depends_on=("db",)))
    out = shell.signal(SIGTERM)
    assert sorted(termed(out)) == ["api", "worker"]
    assert termed(shell.exit("api", 0, at=1)) == []
    assert termed(shell.exit("worker", 0, at=2)) == ["db"]


def test_dependency_of_a_finished_dependent_is_stopped_at_once():
    shell = boot(spec("db"), spec("report", oneshot=True, depends_on=("db",)))
    shell.exit("report", 0, at=1)
    assert termed(shell.signal(SIGTERM)) == ["db"]


def test_pending_backoff_and_scheduled_runs_are_cancelled():
    shell = boot(spec("flaky", restart="always", restart_delay=5.0),
                 spec("cron", oneshot=True, interval=60.0),
                 spec("web"))
    shell.exit("flaky", 1, at=1)
    shell.exit("cron", 0, at=2)
    shell.signal(SIGTERM)
    s = shell.sup.services
    assert s["flaky"].state == STOPPED and s["cron"].state == STOPPED
    assert s["flaky"].deadline is None and s["cron"].deadline is None
    assert shell.sup.next_deadline() == 2 + TIMEOUT       # only the shutdown budget is left
    shell.advance(6.0)                                     # the old backoff time
    shell.advance(10.0)
    assert shell.spawns == ["flaky", "cron", "web"]
    shell.exit("web", 0, at=11)
    assert shell.exit_code == 0


def test_nothing_alive_sweeps_orphans_and_exits_at_once():
    shell = boot(spec("job", oneshot=True))
    shell.exit("job", 0, at=1)
    shell.orphans.add(777)
    out = shell.signal(SIGTERM)
    assert of(out, KillAll) == [KillAll(SIGTERM)]
    assert shell.exit_code is None                # an orphan is still there
    out = shell.orphan_exit(777, at=1.5)
    assert out[-1] == Exit(0)


def test_orphans_are_swept_only_once_no_service_is_alive():
    shell = boot(spec("web"))
    shell.orphans.add(555)
    out = shell.signal(SIGTERM)
    assert of(out, KillAll) == []
    out = shell.exit("web", None, SIGTERM, at=1)
    assert of(out, KillAll) == [KillAll(SIGTERM)]
    shell.orphan_exit(555, at=2)
    assert shell.exit_code == 0
    assert shell.killall == [SIGTERM]


def test_sigkill_at_the_deadline_and_exit_code_1():
    shell = chain()
    shell.signal(SIGTERM)                   # at t=0; web and cron ignore SIGTERM
    assert shell.sup.next_deadline() == TIMEOUT
    assert shell.advance(TIMEOUT - 0.001) == []
    out = shell.advance(TIMEOUT)
    kills = of(out, Kill)
    assert sorted((k.name, k.sig) for k in kills) == [("app", SIGKILL), ("cron", SIGKILL),
                                                      ("db", SIGKILL), ("web", SIGKILL)]
    assert of(out, KillAll) == [KillAll(SIGKILL)]
    assert messages(out) == [
        ("warn", "zei", "shutdown timeout (10s) reached; sending SIGKILL to web, app, db, cron")]
    assert shell.sup.next_deadline() == TIMEOUT + KILL_GRACE_AFTER_DEADLINE
    for name in ("web", "app", "db", "cron"):
        out = shell.exit(name, None, SIGKILL, at=TIMEOUT + 0.1)
    assert out[-1] == Exit(1)
    assert shell.exit_code == 1


def test_processes_that_survive_sigkill_do_not_keep_zei_alive():
    shell = boot(spec("stuck"))
    shell.signal(SIGTERM)
    shell.advance(TIMEOUT)
    assert shell.exit_code is None
    out = shell.advance(TIMEOUT + KILL_GRACE_AFTER_DEADLINE)
    assert out[-1] == Exit(1)
    assert ("error", "zei", "processes survived SIGKILL; exiting anyway") in messages(out)
    assert shell.sup.next_deadline() is None
    assert shell.sup.tick(TIMEOUT + 100) == []          # exits only once


def test_orphans_ignoring_sigterm_get_sigkill_at_the_deadline():
    shell = boot(spec("job", oneshot=True))
    shell.exit("job", 0, at=0)
    shell.orphans.add(900)
    shell.signal(SIGTERM)
    out = shell.advance(TIMEOUT)
    assert of(out, Kill) == [] and of(out, KillAll) == [KillAll(SIGKILL)]
    assert messages(out)[0] == ("warn", "zei",
                                "shutdown timeout (10s) reached; sending SIGKILL to orphaned processes")
    out = shell.orphan_exit(900, at=TIMEOUT + 0.5)
    assert out[-1] == Exit(1)


def test_everything_stopped_in_time_exits_0_even_after_non_zero_codes():
    shell = boot(spec("a"), spec("b"))
    shell.signal(SIGTERM)
    shell.exit("a", 143, at=1)
    shell.exit("b", None, SIGTERM, at=TIMEOUT - 0.01)
    assert shell.exit_code == 0


def test_second_sigterm_is_only_logged():
    shell = boot(spec("web"))
    shell.signal(SIGTERM)
    before = (shell.sup.shutdown_deadline, list(shell.kills))
    out = shell.signal(SIGTERM)
    assert out == [Log("warn", "zei", "received SIGTERM again; shutdown already in progress")]
    out = shell.signal(SIGINT)
    assert out == [Log("warn", "zei", "received SIGINT again; shutdown already in progress")]
    assert (shell.sup.shutdown_deadline, shell.kills) == before
    shell.exit("web", 0, at=1)
    assert shell.exit_code == 0


def test_no_children_ends_with_exit_only_when_shutting_down():
    sup = supervisor(spec("job", oneshot=True))
    sup.boot(0)
    sup.spawned("job", 5, 0)
    sup.exited(5, 0, None, 1)
    assert sup.no_children(1) == []                     # idle, not shutting down: stay up
    out = sup.signal(SIGTERM, 2)
    assert of(out, KillAll) == [KillAll(SIGTERM)]
    assert sup.no_children(2) == [Log("info", "zei", "all processes stopped; exiting with code 0"),
                                  Exit(0)]
    assert sup.no_children(3) == []                     # never twice


def test_no_children_while_a_service_is_alive_is_ignored():
    sup = supervisor(spec("web"))
    sup.boot(0)
    sup.spawned("web", 5, 0)
    sup.signal(SIGTERM, 1)
    assert sup.no_children(1) == []


def test_control_requests_are_refused_during_shutdown_and_waiters_answered():
    shell = boot(spec("web"), spec("db"))
    shell.control("stop", "web", "waiting-stop")          # web is stopping
    assert "waiting-stop" not in shell.replies
    shell.signal(SIGTERM)
    assert shell.replies["waiting-stop"] == {"ok": False, "error": "zei is shutting down"}
    for verb in ("start", "stop", "restart"):
        out = shell.control(verb, "db", verb)
        assert out == [Reply(verb, {"ok": False, "error": "zei is shutting down"})]


def test_a_service_being_stopped_is_not_sent_sigterm_twice():
    shell = boot(spec("web"))
    shell.control("stop", "web", "t")
    assert [(k.name, k.sig) for k in shell.kills] == [("web", SIGTERM)]
    shell.signal(SIGTERM)
    assert [(k.name, k.sig) for k in shell.kills] == [("web", SIGTERM)]
    # and its own stop deadline stays, within the shutdown budget
    assert shell.sup.services["web"].deadline == shell.sup.shutdown_deadline == TIMEOUT
    shell.exit("web", 0, at=1)
    assert shell.exit_code == 0


def test_a_restart_in_progress_does_not_start_again_during_shutdown():
    shell = boot(spec("web"))
    shell.control("restart", "web", "r")
    shell.signal(SIGTERM)
    shell.exit("web", None, SIGTERM, at=1)
    assert shell.spawns == ["web"]
    assert shell.replies["r"] == {"ok": False, "error": "zei is shutting down"}
    assert shell.exit_code == 0


def test_forwarded_signals_still_reach_services_during_shutdown():
    shell = boot(spec("web"), spec("db"))
    shell.signal(SIGTERM)
    out = shell.signal(SIGHUP)
    assert sorted((k.name, k.sig) for k in of(out, Kill)) == [("db", SIGHUP), ("web", SIGHUP)]
