"""Lifecycle policy on the pure core (fake clock, no processes): essential services and the
container's exit code, success exit codes, per-service stop signal and grace, backoff."""
from __future__ import annotations

import pytest

from fakes import FakeShell, messages, of, spec, supervisor
from zei.core import control, policy
from zei.core.actions import Exit, Kill, KillAll, Spawn
from zei.core.supervisor import BACKOFF, EXITED, FAILED, RUNNING, SIGKILL, SIGTERM, STOPPED

SIGINT, SIGQUIT, SIGSEGV = 2, 3, 11
TIMEOUT = 10.0


def boot(*specs, timeout=TIMEOUT):
    shell = FakeShell(supervisor(*specs, shutdown_timeout=timeout))
    shell.boot()
    return shell


def sigs(out):
    return [(k.name, k.sig) for k in of(out, Kill)]


def finish(shell, at):
    """Every service that was signalled exits of its signal; orphans none."""
    for name in [n for n in shell.live.values()]:
        shell.exit(name, None, SIGTERM, at=at)
    return shell.exit_code


# ---- essential: the container ends when it does, with its code ------------------------------

@pytest.mark.parametrize("code, sig, want", [(3, None, 3), (0, None, 0), (None, SIGSEGV, 139),
                                             (None, SIGKILL, 137), (255, None, 255)])
def test_an_essential_service_that_ends_stops_everything_with_its_code(code, sig, want):
    shell = boot(spec("db"), spec("web", essential=True, depends_on=("db",)), spec("cron"))
    out = shell.exit("web", code, sig, at=5)
    assert sorted(sigs(out)) == [("cron", SIGTERM), ("db", SIGTERM)]     # everyone else, in order
    assert shell.sup.shutting_down
    assert "essential service web exited" in shell.sup.stopping.reason
    assert any(lvl == ("error" if want else "info") and m.startswith("essential service web exited")
               for lvl, _, m in messages(out))
    assert finish(shell, 6) == want


def test_an_essential_service_that_cannot_start_exits_127():
    shell = FakeShell(supervisor(spec("web", essential=True), spec("db"), shutdown_timeout=TIMEOUT))
    shell.fail_next_spawn["web"] = 'exec "web": executable file not found in PATH /bin (ENOENT)'
    shell.boot()
    assert shell.sup.services["web"].state == FAILED and shell.sup.shutting_down
    assert "could not start" in shell.sup.stopping.reason
    assert finish(shell, 1) == 127


def test_an_essential_service_blocked_for_good_by_a_dependency_exits_127():
    shell = boot(spec("migrate", oneshot=True), spec("web", essential=True, depends_on=("migrate",)))
    shell.exit("migrate", 1, at=1)                 # failed for good: restart never
    assert shell.sup.services["web"].reason == "dependency failed: migrate"
    assert "can never start (dependency failed: migrate)" in shell.sup.stopping.reason
    assert finish(shell, 2) == 127


def test_a_restarting_essential_service_ends_only_when_it_gives_up():
    shell = boot(spec("web", essential=True, restart="on-failure", max_restarts=2, restart_delay=1.0),
                 spec("db"))
    shell.exit("web", 4, at=1)
    assert not shell.sup.shutting_down and shell.sup.services["web"].state == BACKOFF
    shell.advance(2)
    shell.exit("web", 5, at=2.5)
    shell.advance(10)
    out = shell.exit("web", 6, at=10.5)            # third crash in a row: gives up
    assert shell.sup.shutting_down and ("db", SIGTERM) in sigs(out)
    assert finish(shell, 11) == 6


def test_a_oneshot_essential_that_succeeds_exits_0_the_job_with_sidecars():
    shell = boot(spec("job", essential=True, oneshot=True), spec("proxy"))
    out = shell.exit("job", 0, at=30)
    assert sigs(out) == [("proxy", SIGTERM)]
    assert finish(shell, 31) == 0


def test_a_success_code_of_an_essential_service_exits_0():
    shell = boot(spec("jvm", essential=True, success_exit_codes=(0, 143)), spec("side"))
    shell.exit("jvm", 143, at=3)
    assert shell.sup.services["jvm"].succeeded and shell.sup.shutting_down
    assert finish(shell, 4) == 0


def test_the_first_essential_to_end_decides():
    shell = boot(spec("a", essential=True), spec("b", essential=True), spec("c"))
    shell.exit("b", 7, at=1)
    shell.exit("a", 9, at=1.1)                     # during the shutdown b started: not counted
    assert finish(shell, 2) == 7


def test_a_stop_from_outside_keeps_the_usual_codes_and_a_stop_request_is_no_end():
    shell = boot(spec("web", essential=True), spec("db"))
    shell.control("stop", "web", "t")
    shell.exit("web", None, SIGTERM, at=1)
    assert shell.sup.services["web"].state == STOPPED and not shell.sup.shutting_down
    shell.signal(SIGTERM)
    assert finish(shell, 2) == 0


def test_term_during_an_essential_shutdown_keeps_its_code():
    shell = boot(spec("web", essential=True), spec("db"))
    shell.exit("web", 2, at=1)
    shell.signal(SIGTERM)
    assert finish(shell, 2) == 2


def test_status_tells_who_is_essential_and_why_zei_is_stopping():
    shell = boot(spec("web", essential=True), spec("db"))
    shell.exit("web", 2, at=1)
    out = shell.run(control.dispatch(shell.sup, {"cmd": "list"}, "l", 1.5))
    payload = out[0].payload
    assert payload["shutting_down"] is True
    assert payload["shutdown_reason"] == "essential service web exited (exit code 2); zei exits with 2"
    assert [s["essential"] for s in payload["services"]] == [True, False]


# ---- success_exit_codes count everywhere ----------------------------------------------------

def test_success_codes_for_on_failure_oneshot_dependents_and_exited():
    shell = boot(spec("migrate", oneshot=True, success_exit_codes=(0, 3)),
                 spec("app", depends_on=("migrate",)),
                 spec("worker", restart="on-failure", success_exit_codes=(0, 143)))
    out = shell.exit("migrate", 3, at=1)
    assert of(out, Spawn) == [Spawn("app")]        # a success: its dependent starts
    assert shell.sup.services["migrate"].state == EXITED
    out = shell.exit("worker", 143, at=2)
    assert shell.sup.services["worker"].state == EXITED and not of(out, Spawn)
    shell.control("start", "worker", "s")
    out = shell.exit("worker", None, 15, at=3)     # a signal death is never a success
    assert shell.sup.services["worker"].state == BACKOFF


# ---- per-service stop -----------------------------------------------------------------------

def test_stop_restart_and_shutdown_send_the_services_own_stop_signal():
    shell = boot(spec("web", stop_signal=SIGINT), spec("nginx", stop_signal=SIGQUIT))
    assert sigs(shell.control("stop", "web", "s")) == [("web", SIGINT)]
    shell.exit("web", None, SIGINT, at=1)
    assert sigs(shell.control("restart", "nginx", "r")) == [("nginx", SIGQUIT)]
    shell.exit("nginx", 0, at=2)
    shell.control("start", "web", "g")
    assert sorted(sigs(shell.signal(SIGTERM))) == [("nginx", SIGQUIT), ("web", SIGINT)]


def test_a_short_grace_kills_that_service_early_while_others_get_their_full_grace():
    shell = boot(spec("stubborn", stop_grace_period=1.0), spec("slow"), spec("quick", stop_grace_period=4.0))
    shell.signal(SIGTERM)
    out = shell.advance(1.0)
    assert sigs(out) == [("stubborn", SIGKILL)] and not of(out, KillAll)
    shell.exit("stubborn", None, SIGKILL, at=1.1)
    assert shell.sup.next_deadline() == 4.0        # quick's own grace comes next
    shell.exit("quick", None, SIGTERM, at=2)
    assert shell.sup.next_deadline() == TIMEOUT    # slow: the whole shutdown_timeout
    shell.exit("slow", None, SIGTERM, at=9)
    assert shell.exit_code == 1                    # something needed SIGKILL


def test_the_global_budget_bounds_a_longer_grace():
    shell = boot(spec("web", stop_grace_period=100.0), timeout=5.0)
    shell.signal(SIGTERM)
    assert shell.sup.next_deadline() == 5.0
    out = shell.advance(5.0)
    assert ("web", SIGKILL) in sigs(out)


def test_a_stop_request_kills_after_the_services_own_grace():
    shell = boot(spec("web", stop_grace_period=2.0))
    shell.control("stop", "web", "s")
    assert shell.sup.next_deadline() == 2.0
    out = shell.advance(2.0)
    assert sigs(out) == [("web", SIGKILL)]
    assert ("warn", "web", "did not stop within 2s; sending SIGKILL") in messages(out)


# ---- backoff --------------------------------------------------------------------------------

def crash(shell, name, at, ran=0.5):
    out = shell.exit(name, 1, at=at + ran)
    svc = shell.sup.services[name]
    return svc.delay, out


def test_backoff_doubles_up_to_the_cap_and_a_long_run_resets_it():
    shell = boot(spec("web", restart="always", restart_delay=1.0, restart_delay_max=5.0))
    t, delays = 0.0, []
    for _ in range(5):
        delay, _ = crash(shell, "web", t)
        delays.append(delay)
        t += 0.5 + delay
        shell.advance(t)
    assert delays == [1.0, 2.0, 4.0, 5.0, 5.0]
    svc = shell.sup.services["web"]
    assert svc.failures == 5 and svc.restarts == 5
    delay, _ = crash(shell, "web", t, ran=10.0)    # a run of >= max(10s, restart_delay_max)
    assert delay == 1.0 and svc.restarts == 1 and svc.failures == 1


def test_a_fixed_delay_stays_fixed_without_restart_delay_max():
    shell = boot(spec("web", restart="always", restart_delay=2.0))
    t = 0.0
    for _ in range(4):
        delay, _ = crash(shell, "web", t)
        assert delay == 2.0
        t += 0.5 + delay
        shell.advance(t)


def test_max_restarts_counts_a_crash_loop_not_a_lifetime():
    shell = boot(spec("web", restart="on-failure", max_restarts=3, restart_delay=1.0))
    t = 0.0
    for week in range(10):                          # crashes once a week, after a long run
        crash(shell, "web", t, ran=7 * 86400.0)
        t += 7 * 86400.0
        assert shell.sup.services["web"].state == BACKOFF, week
        t += 1.0
        shell.advance(t)
    for _ in range(2):                              # then a crash loop: restarts 2 and 3 in a row
        delay, _ = crash(shell, "web", t)
        t += 0.5 + delay
        shell.advance(t)
    crash(shell, "web", t)
    assert shell.sup.services["web"].state == FAILED
    assert "gave up after 3 restart(s) in a row" in shell.sup.services["web"].reason


def test_status_shows_the_delay_the_failures_and_the_next_restart():
    shell = boot(spec("web", restart="always", restart_delay=1.0, restart_delay_max=60.0))
    crash(shell, "web", 0)
    shell.advance(1.5)
    crash(shell, "web", 1.5)                        # second in a row: 2s
    web = shell.sup.status(2.5)[0]
    assert (web["state"], web["delay"], web["failures"], web["next_in"]) == (BACKOFF, 2.0, 2, 1.5)


@pytest.mark.parametrize("base, cap, failures, want", [
    (1.0, None, 5, 1.0), (1.0, 1.0, 5, 1.0), (0.1, 60.0, 0, 0.1), (0.1, 60.0, 3, 0.8),
    (0.1, 60.0, 20, 60.0), (0.0, 60.0, 0, 0.0), (0.0, 60.0, 1, 0.1), (0.0, 60.0, 3, 0.4),
    (0.0, 0.05, 2, 0.05), (0.0, None, 5, 0.0), (2.0, 3.0, 1, 3.0)])
def test_delay_table(base, cap, failures, want):
    s = spec("x", restart_delay=base, restart_delay_max=cap)
    assert policy.delay_for(s, failures) == pytest.approx(want)
    assert policy.stable_after(s) == max(10.0, cap or 0, base)
