"""Health checks, readiness and dependency conditions in the pure core (fake clock, no
processes): compose's timing and counting rules, what unhealthy and not-ready do, and
what `zei ready` and READY=1 upward say."""
from __future__ import annotations

from zei.core.model import COMPLETED, HEALTHY, STARTED, Healthcheck, Ready
from zei.core.supervisor import (BACKOFF, BLOCKED, FAILED, RUNNING, SIGKILL, SIGTERM, STOPPED,
                                 STOPPING, WAITING)

from fakes import FakeShell, messages, spec, supervisor


def hc(**kw):
    kw.setdefault("kind", "exec")
    kw.setdefault("command", ("check",))
    return Healthcheck(**kw)


def boot(*specs, **kw):
    shell = FakeShell(supervisor(*specs, **kw))
    shell.boot()
    return shell


def health(shell, name):
    return shell.sup.services[name].health


# ---- timing ------------------------------------------------------------------------------

def test_first_check_comes_one_interval_after_the_start():
    shell = boot(spec("web", healthcheck=hc(interval=10.0)))
    assert shell.sup.next_deadline() == 10.0
    shell.advance(9.9)
    assert shell.checks_run == []
    shell.advance(10.0)
    assert shell.checks_run == [("web", 1)]


def test_during_the_start_period_checks_come_every_start_interval():
    shell = boot(spec("web", healthcheck=hc(interval=30.0, start_period=10.0, start_interval=1.0)))
    assert shell.sup.next_deadline() == 1.0
    shell.advance(1.0)
    shell.result("web", False, at=1.2, error="refused")
    assert shell.sup.next_deadline() == 2.2            # the next one an interval after this ended
    assert health(shell, "web").streak == 0            # inside the start period: not counted


def test_at_most_one_check_in_flight():
    shell = boot(spec("web", healthcheck=hc(interval=1.0, timeout=30.0)))
    shell.advance(1.0)
    for t in (2.0, 5.0, 20.0):
        shell.advance(t)
    assert shell.checks_run == [("web", 1)]
    shell.result("web", True, at=21.0)
    shell.advance(22.0)
    assert shell.checks_run == [("web", 1), ("web", 2)]


def test_no_check_wakes_zei_when_there_is_no_healthcheck():
    shell = boot(spec("web"))
    assert shell.sup.next_deadline() is None


# ---- status rules ------------------------------------------------------------------------

def test_a_pass_makes_it_healthy_and_retries_failures_in_a_row_unhealthy():
    shell = boot(spec("web", restart="always", healthcheck=hc(interval=1.0, retries=3,
                                                               on_unhealthy="none")))
    h = health(shell, "web")
    assert h.status == "starting"
    shell.advance(1.0)
    out = shell.result("web", True, at=1.0)
    assert h.status == "healthy" and ("info", "web", "healthy") in messages(out)
    for i, t in enumerate((2.0, 3.0), 1):
        shell.advance(t)
        out = shell.result("web", False, at=t, exit_code=1, output="db down\n")
        assert messages(out) == [("info", "web", f"health check failed ({i} of 3): exit code 1: db down")]
        assert h.status == "healthy"
    shell.advance(4.0)
    out = shell.result("web", False, at=4.0, error="timed out after 30s")
    assert h.status == "unhealthy"
    assert messages(out) == [("warn", "web", "unhealthy: 3 check(s) failed in a row; last: "
                              "timed out after 30s (on_unhealthy: none)")]
    assert shell.kills == [] and shell.sup.services["web"].state == RUNNING
    shell.advance(5.0)
    out = shell.result("web", True, at=5.0)
    assert h.status == "healthy" and ("info", "web", "healthy again") in messages(out)


def test_failures_inside_the_start_period_do_not_count_until_a_pass_ends_it():
    shell = boot(spec("web", healthcheck=hc(interval=1.0, start_interval=1.0, start_period=100.0,
                                            retries=1, on_unhealthy="none")))
    h = health(shell, "web")
    for t in (1.0, 2.0, 3.0):
        shell.advance(t)
        assert shell.result("web", False, at=t, error="refused") == []
    assert h.status == "starting" and h.streak == 0
    shell.advance(4.0)
    shell.result("web", True, at=4.0)
    shell.advance(5.0)
    shell.result("web", False, at=5.0, error="refused")     # still inside 100s, but it counts now
    assert h.status == "unhealthy"


def test_the_start_period_ends_by_time_too():
    shell = boot(spec("web", healthcheck=hc(interval=5.0, start_interval=1.0, start_period=2.0,
                                            retries=1, on_unhealthy="none")))
    shell.advance(1.0)
    shell.result("web", False, at=1.0, error="x")
    shell.advance(2.0)
    shell.result("web", False, at=2.5, error="x")            # began at 2.0: the period is over
    assert health(shell, "web").status == "unhealthy"
    assert shell.sup.next_deadline() == 7.5                  # interval, not start_interval


# ---- on_unhealthy: restart ---------------------------------------------------------------

def unhealthy(shell, name, t):
    shell.advance(t)
    return shell.result(name, False, at=t, error="refused")


def test_unhealthy_service_is_stopped_with_its_stop_settings_and_restarted_whatever_its_policy():
    shell = boot(spec("web", restart="never", stop_signal=2, stop_grace_period=3.0,
                      restart_delay=1.0, healthcheck=hc(interval=1.0, retries=1)))
    out = unhealthy(shell, "web", 1.0)
    assert ("warn", "web", "unhealthy: 1 check(s) failed in a row; last: refused; restarting it") \
        in messages(out)
    assert shell.kills[-1].sig == 2 and shell.sup.services["web"].state == STOPPING
    shell.advance(4.0)                                       # the grace is over: SIGKILL
    assert shell.kills[-1].sig == SIGKILL
    out = shell.exit("web", sig=SIGKILL, at=4.1)
    svc = shell.sup.services["web"]
    assert svc.state == BACKOFF and svc.restarts == 1
    assert ("info", "web", "unhealthy: restarting in 1s (restart 1)") in messages(out)
    shell.advance(5.1)
    assert svc.state == RUNNING and health(shell, "web").status == "starting"


def test_unhealthy_restarts_back_off_and_give_up_then_block_healthy_dependents():
    shell = boot(spec("db", restart="always", restart_delay=1.0, restart_delay_max=4.0, max_restarts=2,
                      healthcheck=hc(interval=1.0, retries=1)),
                 spec("app", depends_on=("db",), conditions=(("db", HEALTHY, True),)))
    assert shell.sup.services["app"].state == WAITING
    delays = []
    t = 0.0
    for _ in range(2):
        t = shell.sup.next_deadline()
        unhealthy(shell, "db", t)
        shell.exit("db", sig=SIGTERM, at=t + 0.1)
        delays.append(shell.sup.services["db"].delay)
        shell.advance(shell.sup.next_deadline())
    assert delays == [1.0, 2.0]
    t = shell.sup.next_deadline()
    unhealthy(shell, "db", t)
    out = shell.exit("db", sig=SIGTERM, at=t + 0.1)
    db, app = shell.sup.services["db"], shell.sup.services["app"]
    assert db.state == FAILED
    assert db.reason == "unhealthy; gave up after 2 restart(s) in a row (max_restarts 2)"
    assert app.state == BLOCKED and app.reason == "dependency failed: db (ready)"
    assert ("error", "app", "not starting: dependency failed: db (ready)") in messages(out)


def test_a_long_healthy_run_resets_the_restart_count():
    shell = boot(spec("web", restart="always", max_restarts=1, healthcheck=hc(interval=1.0, retries=1)))
    shell.advance(1.0)
    shell.result("web", True, at=1.0)
    for t in range(2, 40):
        shell.advance(float(t))
        shell.result("web", True, at=float(t))
    for _ in range(3):                     # healthy for 38s each time: never a crash loop
        t = shell.now + 1
        unhealthy(shell, "web", t)
        shell.exit("web", sig=SIGTERM, at=t)
        assert shell.sup.services["web"].state == BACKOFF
        shell.advance(shell.sup.next_deadline())
        for k in range(1, 15):
            shell.advance(shell.now + 1)
            shell.result("web", True, at=shell.now)


def test_an_operator_stop_while_stopping_for_health_ends_stopped():
    shell = boot(spec("web", restart="always", healthcheck=hc(interval=1.0, retries=1)))
    unhealthy(shell, "web", 1.0)
    shell.control("stop", "web", "s")
    shell.exit("web", sig=SIGTERM, at=1.5)
    assert shell.sup.services["web"].state == STOPPED
    assert shell.replies["s"]["ok"]


def test_a_result_of_an_earlier_run_or_during_shutdown_is_ignored():
    shell = boot(spec("web", restart="always", restart_delay=0.0, healthcheck=hc(interval=1.0, retries=1)))
    shell.advance(1.0)
    seq = shell.checking["web"]
    out = shell.exit("web", code=1, at=1.5)            # died with a check in flight
    assert shell.cancelled == ["web"] and "web" not in shell.checking
    assert out
    shell.advance(1.5)                                 # restarted at once
    assert shell.sup.check_result("web", seq, False, {"error": "late"}, 1.6) == []
    assert health(shell, "web").status == "starting"
    shell.advance(2.5)
    shell.signal(SIGTERM)
    seq = shell.checking.get("web") or health(shell, "web").seq
    assert shell.sup.check_result("web", seq, False, {"error": "x"}, 2.6) == []


# ---- readiness without a probe -----------------------------------------------------------

def test_ready_notify_gates_dependents_and_status_text_is_kept():
    shell = boot(spec("db", ready=Ready(notify=True)),
                 spec("app", depends_on=("db",), conditions=(("db", HEALTHY, True),)),
                 spec("cache", depends_on=("db",)))
    assert shell.sup.services["cache"].state == RUNNING       # service_started: running is enough
    assert shell.sup.services["app"].state == WAITING
    assert shell.sup.services["app"].reason == "waiting for db to be ready"
    shell.run(shell.sup.notified("db", {"STATUS": "loading"}, 1.0))
    assert shell.sup.status(1.0, "db")[0]["notify_status"] == "loading"
    assert shell.sup.services["app"].state == WAITING
    out = shell.run(shell.sup.notified("db", {"READY": "1"}, 2.0))
    assert ("info", "db", "ready (READY=1)") in messages(out)
    assert shell.sup.services["app"].state == RUNNING


def test_ready_before_the_exec_is_confirmed_counts_once_spawned():
    sup = supervisor(spec("db", ready=Ready(notify=True)))
    shell = FakeShell(sup)
    shell.hold_exec.add("db")
    shell.boot()
    assert shell.run(sup.notified("db", {"READY": "1"}, 0.0)) == []
    shell.exec_done("db")
    assert sup.readiness([], 0.1)["ready"] is True


def test_ready_message_from_a_service_without_notify_is_ignored():
    shell = boot(spec("db", ready=Ready(log_line="listening")))
    shell.run(shell.sup.notified("db", {"READY": "1"}, 1.0))
    assert not shell.sup.services["db"].ready_seen
    assert shell.sup.wants_line("db")
    shell.run(shell.sup.ready_seen("db", "log line", 2.0))
    assert not shell.sup.wants_line("db")


def test_not_ready_within_the_timeout_is_a_failed_start():
    shell = boot(spec("db", restart="on-failure", restart_delay=1.0, ready=Ready(notify=True, timeout=5.0)))
    assert shell.sup.next_deadline() == 5.0
    out = shell.advance(5.0)
    assert ("error", "db", "not ready within 5s; stopping it (a failed start)") in messages(out)
    assert shell.kills[-1].sig == SIGTERM
    out = shell.exit("db", sig=SIGTERM, at=5.2)
    assert shell.sup.services["db"].state == BACKOFF
    assert ("info", "db", "restarting in 1s (restart 1)") in messages(out)


def test_not_ready_with_restart_never_fails_and_says_why():
    shell = boot(spec("db", ready=Ready(notify=True, timeout=5.0)))
    shell.advance(5.0)
    shell.exit("db", sig=SIGTERM, at=5.1)
    db = shell.sup.services["db"]
    assert db.state == FAILED and db.reason.startswith("not ready within 5s; ")


def test_a_ready_service_has_no_deadline():
    shell = boot(spec("db", ready=Ready(notify=True, timeout=5.0)))
    shell.run(shell.sup.notified("db", {"READY": "1"}, 1.0))
    assert shell.sup.next_deadline() is None


# ---- dependency conditions ---------------------------------------------------------------

def test_completed_successfully_waits_for_a_success_exit_and_a_failure_blocks():
    shell = boot(spec("migrate", oneshot=True),
                 spec("app", depends_on=("migrate",), conditions=(("migrate", COMPLETED, True),)))
    assert shell.sup.services["app"].state == WAITING
    shell.exit("migrate", code=0, at=1.0)
    assert shell.sup.services["app"].state == RUNNING

    shell = boot(spec("migrate", oneshot=True),
                 spec("app", depends_on=("migrate",), conditions=(("migrate", COMPLETED, True),)))
    shell.exit("migrate", code=3, at=1.0)
    app = shell.sup.services["app"]
    assert app.state == BLOCKED and app.reason == "dependency failed: migrate (completed successfully)"


def test_a_dependency_not_required_is_passed_over_once_it_failed_for_good():
    shell = boot(spec("cache", oneshot=True),
                 spec("app", depends_on=("cache",), conditions=(("cache", COMPLETED, False),)))
    assert shell.sup.services["app"].state == WAITING
    shell.exit("cache", code=1, at=1.0)
    assert shell.sup.services["app"].state == RUNNING


def test_healthy_condition_on_a_service_that_exited_cleanly_blocks():
    shell = boot(spec("db"), spec("app", depends_on=("db",), conditions=(("db", HEALTHY, True),)))
    # db has no probe: running is ready, so app started at once
    assert shell.sup.services["app"].state == RUNNING
    shell = boot(spec("db", ready=Ready(notify=True)),
                 spec("app", depends_on=("db",), conditions=(("db", HEALTHY, True),)))
    shell.exit("db", code=0, at=1.0)
    assert shell.sup.services["app"].state == BLOCKED


def test_short_form_keeps_its_meaning():
    shell = boot(spec("db", healthcheck=hc()),
                 spec("app", depends_on=("db",), conditions=(("db", STARTED, True),)),
                 spec("old", depends_on=("db",)))
    assert shell.sup.services["app"].state == RUNNING and shell.sup.services["old"].state == RUNNING


# ---- zei ready and READY=1 upward --------------------------------------------------------

def test_zei_ready_names_the_first_service_that_is_not_ready_and_why():
    shell = boot(spec("db", healthcheck=hc(interval=1.0, retries=1, on_unhealthy="none")),
                 spec("job", oneshot=True), spec("web"))
    r = shell.sup.readiness([], 0.5)
    assert r == {"ready": False, "service": "db", "why": "db is starting: no health check has finished yet"}
    shell.advance(1.0)
    shell.result("db", False, at=1.0, exit_code=2, output="no\n")
    assert shell.sup.readiness([], 1.0)["why"] == \
        "db is unhealthy: 1 check(s) failed in a row; last: exit code 2: no"
    shell.advance(2.0)
    shell.result("db", True, at=2.0)
    assert shell.sup.readiness([], 2.0) == {"ready": True, "service": None, "why": "2 service(s) ready"}
    assert shell.sup.readiness(["job"], 2.0)["why"].startswith("job is running")
    shell.exit("job", code=0, at=3.0)
    assert shell.sup.readiness(["job", "web"], 3.0)["ready"] is True
    shell.signal(SIGTERM)
    assert shell.sup.readiness([], 3.0)["why"] == "zei is shutting down (received SIGTERM)"


def test_ready_upward_once_every_long_running_service_is_ready_and_stopping_at_shutdown():
    shell = boot(spec("db", ready=Ready(notify=True)), spec("web"), spec("job", oneshot=True))
    assert shell.up == []
    shell.run(shell.sup.notified("db", {"READY": "1"}, 1.0))
    assert shell.up == ["READY=1\nSTATUS=2 service(s) ready"]
    shell.exit("web", code=1, at=2.0)                  # once only, whatever comes later
    shell.signal(SIGTERM)
    assert shell.up == ["READY=1\nSTATUS=2 service(s) ready", "STOPPING=1"]


def test_status_carries_health_and_readiness():
    shell = boot(spec("db", healthcheck=hc(kind="tcp", command=(), host="::1", port=5432,
                                           interval=2.0, retries=2)))
    shell.advance(2.0)
    shell.result("db", False, at=2.25, error="connection refused (ECONNREFUSED)", duration=0.25,
                 at_wall=None)
    row = shell.sup.status(3.0, "db")[0]
    assert row["ready"] is False and row["readiness"] == "healthy"
    assert row["not_ready"] == "db is starting: last health check failed: connection refused (ECONNREFUSED)"
    h = row["health"]
    assert (h["status"], h["failing_streak"], h["checks"], h["target"]) == ("starting", 1, 1, "[::1]:5432")
    assert h["last"]["ok"] is False and h["last"]["ago"] == 0.75 and h["last"]["duration"] == 0.25
    assert h["next_in"] == 1.25
