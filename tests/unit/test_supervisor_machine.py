"""The per-service state machine as a (state x event) table.

Each row puts service `a` into a state through public events only, applies one event and
checks the resulting state and actions; illegal events must raise InvalidTransition naming
the service, the state and the event, and leave the service exactly as it was.
"""
from __future__ import annotations

import copy

import pytest

from fakes import of, spec, supervisor
from zei.core.actions import Kill, Log, Reply, Spawn
from zei.core.supervisor import (
    ALIVE, BACKOFF, BLOCKED, EXITED, FAILED, RUNNING, SCHEDULED, SIGHUP, SIGKILL, SIGTERM,
    STARTING, STOPPED, STOPPING, TRANSITIONS, WAITING, InvalidTransition,
)

ALL_STATES = (WAITING, BLOCKED, STARTING, RUNNING, STOPPING, BACKOFF, SCHEDULED, EXITED,
              FAILED, STOPPED)
PID = 10


def in_state(state):
    """A supervisor whose service `a` is in `state`, reached through public events (t=0..2)."""
    if state in (WAITING, BLOCKED):
        sup = supervisor(spec("b", oneshot=True, restart="never"), spec("a", depends_on=("b",)))
        sup.boot(0)
        if state == BLOCKED:
            sup.spawned("b", 1, 0)
            sup.exited(1, 1, None, 1)
    else:
        options = {
            BACKOFF: dict(restart="always", restart_delay=5.0),
            SCHEDULED: dict(oneshot=True, interval=5.0),
        }.get(state, {})
        sup = supervisor(spec("a", **options))
        sup.boot(0)
        if state != STARTING:
            sup.spawned("a", PID, 0)
        if state in (STOPPING, STOPPED):
            sup.stop("a", "setup", 1)
        if state == STOPPED:
            sup.exited(PID, None, SIGTERM, 2)
        if state in (BACKOFF, FAILED):
            sup.exited(PID, 1, None, 2)
        if state in (SCHEDULED, EXITED):
            sup.exited(PID, 0, None, 2)
    assert sup.services["a"].state == state
    return sup


def snapshot(sup):
    svc = sup.services["a"]
    return (copy.deepcopy({k: getattr(svc, k) for k in type(svc).__slots__ if k != "spec"}),
            dict(sup.by_pid))


@pytest.mark.parametrize("state", ALL_STATES)
def test_every_state_is_reachable_and_has_a_row(state):
    assert state in TRANSITIONS
    assert TRANSITIONS[state] <= set(ALL_STATES)
    in_state(state)


# ---- spawned / spawn_failed: legal only while starting -------------------------------------

@pytest.mark.parametrize("state", ALL_STATES)
def test_spawned(state):
    sup = in_state(state)
    if state != STARTING:
        before = snapshot(sup)
        with pytest.raises(InvalidTransition) as e:
            sup.spawned("a", 99, 3)
        text = str(e.value)
        assert "service a" in text and state in text and "spawned" in text
        assert snapshot(sup) == before
        return
    out = sup.spawned("a", 99, 3)
    svc = sup.services["a"]
    assert (svc.state, svc.pid, svc.started_at, svc.runs) == (RUNNING, 99, 3, 1)
    assert sup.by_pid[99] is svc
    assert ("info", "a", "started (pid 99)") in [(l.level, l.source, l.message) for l in of(out, Log)]


@pytest.mark.parametrize("state", ALL_STATES)
def test_spawn_failed(state):
    sup = in_state(state)
    if state != STARTING:
        before = snapshot(sup)
        with pytest.raises(InvalidTransition) as e:
            sup.spawn_failed("a", "exec: No such file or directory", 3)
        text = str(e.value)
        assert "service a" in text and state in text and "spawn failed" in text
        assert snapshot(sup) == before
        return
    out = sup.spawn_failed("a", "exec: No such file or directory", 3)
    svc = sup.services["a"]
    assert svc.state == FAILED          # restart: never
    assert svc.last_exit == {"error": "exec: No such file or directory"}
    assert ("error", "a", "could not start: exec: No such file or directory") in \
        [(l.level, l.source, l.message) for l in of(out, Log)]


# ---- control verbs (starting is never visible between events in the daemon) ---------------

CONTROL_STATES = tuple(s for s in ALL_STATES if s != STARTING)

START = {s: STARTING for s in CONTROL_STATES} | {RUNNING: RUNNING, STOPPING: STOPPING}
STOP = {s: STOPPED for s in CONTROL_STATES} | {RUNNING: STOPPING, STOPPING: STOPPING}
RESTART = {s: STARTING for s in CONTROL_STATES} | {RUNNING: STOPPING, STOPPING: STOPPING}


@pytest.mark.parametrize("state", CONTROL_STATES)
def test_start(state):
    sup = in_state(state)
    out = sup.start("a", "t", 3)
    assert sup.services["a"].state == START[state]
    if state == RUNNING:
        assert out == [Reply("t", {"ok": True, "message": f"a is already running (pid {PID})"})]
    elif state == STOPPING:            # start once stopped; the stop request it overtakes fails
        assert of(out, Reply) == [Reply("setup", {"ok": False,
                                                  "error": "stop of a superseded by a start request"})]
        assert sup.services["a"].then_start and not of(out, Spawn)
    else:
        assert of(out, Spawn) == [Spawn("a")]
        assert not of(out, Reply)          # the reply waits for spawned()/spawn_failed()


@pytest.mark.parametrize("state", CONTROL_STATES)
def test_stop(state):
    sup = in_state(state)
    out = sup.stop("a", "t", 3)
    svc = sup.services["a"]
    assert svc.state == STOP[state]
    if state == RUNNING:
        assert of(out, Kill) == [Kill("a", PID, SIGTERM)]
        assert not of(out, Reply)
    elif state == STOPPING:
        assert out == []
    else:
        assert out == [Reply("t", {"ok": True, "message": f"a was not running ({state}); now stopped"})]
        assert svc.deadline is None and svc.reason == "stopped on request"


@pytest.mark.parametrize("state", CONTROL_STATES)
def test_restart(state):
    sup = in_state(state)
    out = sup.restart("a", "t", 3)
    svc = sup.services["a"]
    assert svc.state == RESTART[state]
    if state == RUNNING:
        assert of(out, Kill) == [Kill("a", PID, SIGTERM)]
        assert svc.then_start
    elif state == STOPPING:
        assert out == [Reply("setup", {"ok": False, "error": "stop of a superseded by a restart request"})]
        assert svc.then_start
    else:
        assert of(out, Spawn) == [Spawn("a")]


@pytest.mark.parametrize("state", CONTROL_STATES)
def test_send(state):
    sup = in_state(state)
    out = sup.send("a", SIGHUP, "t", 3)
    assert sup.services["a"].state == state
    if state in ALIVE:
        assert of(out, Kill) == [Kill("a", PID, SIGHUP)]
        assert of(out, Reply) == [Reply("t", {"ok": True, "message": f"sent SIGHUP to a (pid {PID})"})]
    else:
        assert out == [Reply("t", {"ok": False, "error": f"a is not running ({state})"})]


# ---- timers ------------------------------------------------------------------------------

TICK = {s: s for s in ALL_STATES} | {BACKOFF: STARTING, SCHEDULED: STARTING}


@pytest.mark.parametrize("state", ALL_STATES)
def test_tick_far_in_the_future(state):
    sup = in_state(state)
    out = sup.tick(1000)
    assert sup.services["a"].state == TICK[state]
    if state in (BACKOFF, SCHEDULED):
        assert out == [Spawn("a")]
    elif state == STOPPING:
        assert of(out, Kill) == [Kill("a", PID, SIGKILL)]
    else:
        assert out == []


@pytest.mark.parametrize("state", ALL_STATES)
def test_exit_of_an_unknown_pid_is_an_orphan_and_changes_nothing(state):
    sup = in_state(state)
    before = snapshot(sup)
    out = sup.exited(4242, 0, None, 3)
    assert out == [Log("debug", "zei", "reaped orphan pid 4242 (exit code 0)")]
    assert snapshot(sup) == before


def test_a_reaped_pid_is_forgotten():
    sup = in_state(RUNNING)
    sup.exited(PID, 0, None, 3)
    assert PID not in sup.by_pid
    # the same pid reaped again (reused by an orphan) is not the service any more
    assert sup.exited(PID, 0, None, 4) == [Log("debug", "zei", f"reaped orphan pid {PID} (exit code 0)")]


# ---- the table itself: every (state, target) pair --------------------------------------------

@pytest.mark.parametrize("state", ALL_STATES)
@pytest.mark.parametrize("target", ALL_STATES)
def test_every_move_outside_the_table_raises_and_changes_nothing(state, target):
    sup = in_state(state)
    svc = sup.services["a"]
    before = snapshot(sup)
    if target in TRANSITIONS[state]:
        sup._move(svc, target, "test event", 50)
        assert (svc.state, svc.changed_at) == (target, 50)
        return
    with pytest.raises(InvalidTransition) as e:
        sup._move(svc, target, "test event", 50)
    assert str(e.value) == f"service a: cannot go from {state} to {target} on test event"
    assert snapshot(sup) == before


def test_every_state_can_stop_and_every_idle_state_can_start_again():
    """Shutdown must be able to end any service; `zei start` must be able to revive any idle one."""
    for state, targets in TRANSITIONS.items():
        assert STOPPED in targets, state
        if state not in ALIVE and state != STARTING:
            assert STARTING in targets, state
