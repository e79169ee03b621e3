"""Restart policy matrix: restart x how the run ended x kind of service, with deadlines."""
from __future__ import annotations

import pytest

from fakes import FakeShell, messages, of, spec, supervisor
from zei.core.actions import Spawn
from zei.core.supervisor import BACKOFF, EXITED, FAILED, RUNNING, SCHEDULED, STARTING

DELAY, INTERVAL, EXIT_AT = 2.0, 30.0, 7.0
ENDINGS = {"exit 0": (0, None), "exit 3": (3, None), "SIGSEGV": (None, 11)}
KINDS = {
    "long-running": {},
    "oneshot": {"oneshot": True},
    "oneshot+interval": {"oneshot": True, "interval": INTERVAL},
}
R, S, E, F = BACKOFF, SCHEDULED, EXITED, FAILED
# (kind, restart) -> state after exit 0, exit 3, SIGSEGV
MATRIX = {
    ("long-running", "always"): (R, R, R),
    ("long-running", "on-failure"): (E, R, R),
    ("long-running", "never"): (E, F, F),
    ("oneshot", "always"): (E, R, R),
    ("oneshot", "on-failure"): (E, R, R),
    ("oneshot", "never"): (E, F, F),
    ("oneshot+interval", "always"): (S, R, R),
    ("oneshot+interval", "on-failure"): (S, R, R),
    ("oneshot+interval", "never"): (S, S, S),
}
CASES = [(kind, restart, ending, MATRIX[kind, restart][i])
         for (kind, restart) in MATRIX for i, ending in enumerate(ENDINGS)]


def one(kind="long-running", **kw):
    kw.setdefault("restart_delay", DELAY)
    shell = FakeShell(supervisor(spec("svc", **KINDS[kind], **kw)))
    shell.boot()
    return shell


@pytest.mark.parametrize("kind,restart,ending,expected", CASES)
def test_policy_matrix(kind, restart, ending, expected):
    shell = one(kind, restart=restart)
    code, sig = ENDINGS[ending]
    shell.exit("svc", code, sig, at=EXIT_AT)
    svc = shell.sup.services["svc"]
    assert svc.state == expected
    assert svc.last_exit == ({"code": code} if sig is None else {"signal": sig})
    want_deadline = {R: EXIT_AT + DELAY, S: EXIT_AT + INTERVAL}.get(expected)
    assert svc.deadline == want_deadline
    assert shell.sup.next_deadline() == want_deadline
    if want_deadline is None:
        assert shell.advance(10_000) == [] and svc.state == expected
        return
    # nothing happens a moment before the deadline, a new run starts at it
    assert shell.advance(want_deadline - 0.001) == []
    assert svc.state == expected
    out = shell.advance(want_deadline)
    assert of(out, Spawn) == [Spawn("svc")]
    assert svc.state == RUNNING and svc.runs == 2 and svc.started_at == want_deadline


@pytest.mark.parametrize("ending", ["exit 3", "SIGSEGV"])
def test_failure_log_lines(ending):
    shell = one(restart="always", max_restarts=3)
    code, sig = ENDINGS[ending]
    out = shell.exit("svc", code, sig, at=EXIT_AT)
    how = "exit code 3" if sig is None else "killed by SIGSEGV"
    assert messages(out) == [("warn", "svc", f"exited ({how}) after 7.000s"),
                             ("info", "svc", "restarting in 2s (restart 1 of 3)")]


def test_clean_exit_logs_at_info():
    shell = one(restart="never")
    out = shell.exit("svc", 0, at=1.5)
    assert messages(out) == [("info", "svc", "exited (exit code 0) after 1.500s")]
    assert shell.sup.services["svc"].reason == "exited cleanly; not restarted (restart: never)"


@pytest.mark.parametrize("max_restarts", [1, 2, 3])
@pytest.mark.parametrize("kind", ["long-running", "oneshot"])
def test_max_restarts_gives_up_after_that_many_restarts(max_restarts, kind):
    shell = one(kind, restart="on-failure", max_restarts=max_restarts)
    svc = shell.sup.services["svc"]
    t = 0.0
    for n in range(1, max_restarts + 1):
        t += 1
        shell.exit("svc", 1, at=t)
        assert svc.state == BACKOFF and svc.restarts == n
        t += DELAY
        shell.advance(t)
        assert svc.state == RUNNING
    out = shell.exit("svc", 1, at=t + 1)
    msg = f"gave up after {max_restarts} restart(s) in a row (max_restarts {max_restarts})"
    assert svc.state == FAILED and svc.reason == msg
    assert ("error", "svc", msg) in messages(out)
    assert shell.spawns == ["svc"] * (max_restarts + 1)
    assert shell.sup.next_deadline() is None
    assert shell.advance(10_000) == []


def test_max_restarts_zero_is_unlimited():
    shell = one(restart="always", max_restarts=0)
    svc = shell.sup.services["svc"]
    t = 0.0
    for n in range(1, 101):
        t += 1
        out = shell.exit("svc", None, 9, at=t)
        assert ("info", "svc", f"restarting in 2s (restart {n})") in messages(out)
        t += DELAY
        shell.advance(t)
        assert svc.state == RUNNING
    assert len(shell.spawns) == 101


def test_clean_exits_count_as_restarts_with_always():
    shell = one(restart="always", max_restarts=1)
    svc = shell.sup.services["svc"]
    shell.exit("svc", 0, at=1)
    shell.advance(1 + DELAY)
    shell.exit("svc", 0, at=5)
    assert svc.state == FAILED and svc.restarts == 1
    assert svc.succeeded           # it did exit 0: dependents are not blocked by it


def test_oneshot_interval_after_giving_up_runs_again_at_the_interval():
    shell = one("oneshot+interval", restart="on-failure", max_restarts=1)
    svc = shell.sup.services["svc"]
    shell.exit("svc", 1, at=1)
    shell.advance(1 + DELAY)
    out = shell.exit("svc", 1, at=4)
    assert svc.state == SCHEDULED and svc.restarts == 0
    assert svc.deadline == 4 + INTERVAL
    assert ("info", "svc", f"gave up after 1 restart(s) in a row (max_restarts 1); next run in 30s") \
        in messages(out)
    shell.advance(4 + INTERVAL)
    assert svc.state == RUNNING


def test_oneshot_success_resets_the_restart_count():
    shell = one("oneshot+interval", restart="on-failure", max_restarts=2)
    svc = shell.sup.services["svc"]
    shell.exit("svc", 1, at=1)
    shell.advance(1 + DELAY)
    assert svc.restarts == 1
    shell.exit("svc", 0, at=5)
    assert svc.restarts == 0 and svc.state == SCHEDULED


def test_interval_runs_never_overlap():
    """The next run is counted from the end of the previous one, not from its start."""
    shell = one("oneshot+interval", restart="never")
    shell.exit("svc", 0, at=100.0)          # a run that took 100 s
    assert shell.sup.next_deadline() == 100.0 + INTERVAL
    assert shell.advance(100.0 + INTERVAL - 0.5) == []
    assert shell.spawns == ["svc"]


@pytest.mark.parametrize("restart", ["always", "on-failure"])
def test_spawn_failure_counts_as_a_failed_run(restart):
    sup = supervisor(spec("svc", restart=restart, restart_delay=DELAY, max_restarts=1))
    shell = FakeShell(sup)
    shell.fail_next_spawn["svc"] = "exec /bin/nope: No such file or directory (errno 2, step execve)"
    shell.boot()
    svc = sup.services["svc"]
    assert svc.state == BACKOFF and svc.restarts == 1
    assert svc.last_exit == {"error": "exec /bin/nope: No such file or directory (errno 2, step execve)"}
    shell.fail_next_spawn["svc"] = "again"
    shell.advance(DELAY)
    assert svc.state == FAILED
    assert svc.reason == "gave up after 1 restart(s) in a row (max_restarts 1)"


def test_spawn_failure_with_never_fails_at_once():
    sup = supervisor(spec("svc", restart="never"))
    shell = FakeShell(sup)
    shell.fail_next_spawn["svc"] = "boom"
    shell.boot()
    assert sup.services["svc"].state == FAILED
    assert sup.services["svc"].reason == "not restarted (restart: never)"


def test_backoff_timers_fire_in_deadline_order_and_only_when_due():
    sup = supervisor(spec("a", restart="always", restart_delay=5.0),
                     spec("b", restart="always", restart_delay=1.0))
    shell = FakeShell(sup)
    shell.boot()
    shell.exit("a", 1, at=10)
    shell.exit("b", 1, at=12)
    assert sup.next_deadline() == 13.0
    shell.advance(13.0)
    assert sup.services["b"].state == RUNNING and sup.services["a"].state == BACKOFF
    assert sup.next_deadline() == 15.0
    shell.advance(15.0)
    assert sup.services["a"].state == RUNNING
    assert sup.next_deadline() is None


def test_tick_with_nothing_due_does_nothing():
    shell = one(restart="always")
    shell.exit("svc", 1, at=1)
    assert shell.sup.tick(1 + DELAY - 0.01) == []
    assert shell.sup.services["svc"].state == BACKOFF


def test_starting_state_is_transient():
    """With a shell that answers Spawn at once, no service is left in starting after an event."""
    shell = one(restart="always")
    shell.exit("svc", 1, at=1)
    shell.advance(1 + DELAY)
    assert all(s.state != STARTING for s in shell.sup.services.values())
