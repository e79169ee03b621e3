"""Start order: a service starts once each dependency is up; failed dependencies block."""
from __future__ import annotations

import pytest

from fakes import FakeShell, messages, of, spec, supervisor
from zei.core.actions import Spawn
from zei.core.config import dependency_order
from zei.core.supervisor import BACKOFF, BLOCKED, EXITED, FAILED, RUNNING, WAITING


def boot(*specs):
    shell = FakeShell(supervisor(*specs))
    shell.boot()
    return shell, shell.sup.services


def test_dependency_order_puts_dependencies_first_and_keeps_file_order_otherwise():
    specs = (spec("web", depends_on=("app",)), spec("cron"), spec("app", depends_on=("db", "cache")),
             spec("db"), spec("cache"))
    assert dependency_order(specs) == ["db", "cache", "app", "web", "cron"]


def test_long_running_dependency_is_up_once_spawned():
    shell, s = boot(spec("web", depends_on=("db",)), spec("db"))
    assert shell.spawns == ["db", "web"]
    assert s["web"].state == RUNNING


def test_dependent_waits_while_the_dependency_has_not_been_spawned():
    sup = supervisor(spec("web", depends_on=("db",)), spec("db"))
    out = sup.boot(0)            # no shell: db stays in starting
    assert of(out, Spawn) == [Spawn("db")]
    assert sup.services["web"].state == WAITING
    assert sup.services["web"].reason == "waiting for db"
    out = sup.spawned("db", 5, 0.2)
    assert of(out, Spawn) == [Spawn("web")]


def test_oneshot_dependency_is_up_only_after_exit_0():
    shell, s = boot(spec("migrate", oneshot=True), spec("app", depends_on=("migrate",)))
    assert shell.spawns == ["migrate"]
    assert s["app"].state == WAITING and s["app"].reason == "waiting for migrate"
    out = shell.exit("migrate", 0, at=3)
    assert of(out, Spawn) == [Spawn("app")]
    assert s["migrate"].state == EXITED and s["app"].state == RUNNING


def test_all_dependencies_must_be_up():
    shell, s = boot(spec("a", oneshot=True), spec("b", oneshot=True),
                    spec("c", depends_on=("a", "b")))
    assert s["c"].reason == "waiting for a, b"
    shell.exit("a", 0, at=1)
    assert s["c"].state == WAITING and s["c"].reason == "waiting for b"
    shell.exit("b", 0, at=2)
    assert s["c"].state == RUNNING


@pytest.mark.parametrize("how", [(1, None), (None, 9)])
def test_failed_oneshot_blocks_its_dependents_with_a_reason(how):
    shell, s = boot(spec("migrate", oneshot=True, restart="never"),
                    spec("app", depends_on=("migrate",)),
                    spec("web", depends_on=("app",)),
                    spec("other"))
    out = shell.exit("migrate", *how, at=2)
    assert s["migrate"].state == FAILED
    assert (s["app"].state, s["app"].reason) == (BLOCKED, "dependency failed: migrate")
    assert (s["web"].state, s["web"].reason) == (BLOCKED, "dependency failed: app")
    assert ("error", "app", "not starting: dependency failed: migrate") in messages(out)
    assert ("error", "web", "not starting: dependency failed: app") in messages(out)
    assert s["other"].state == RUNNING
    assert shell.sup.status(2, "app")[0]["reason"] == "dependency failed: migrate"
    assert shell.sup.next_deadline() is None


def test_spawn_failure_of_a_dependency_blocks_dependents():
    sup = supervisor(spec("db", restart="never"), spec("web", depends_on=("db",)))
    shell = FakeShell(sup)
    shell.fail_next_spawn["db"] = "exec: Permission denied"
    shell.boot()
    assert sup.services["web"].state == BLOCKED
    assert sup.services["web"].reason == "dependency failed: db"


def test_dependency_in_backoff_keeps_dependents_waiting_not_blocked():
    shell, s = boot(spec("migrate", oneshot=True, restart="on-failure", restart_delay=1.0),
                    spec("app", depends_on=("migrate",)))
    shell.exit("migrate", 1, at=1)
    assert s["migrate"].state == BACKOFF
    assert s["app"].state == WAITING
    shell.advance(2.0)
    shell.exit("migrate", 0, at=3)
    assert s["app"].state == RUNNING
    assert shell.spawns == ["migrate", "migrate", "app"]


def test_blocked_dependents_recover_when_the_dependency_is_started():
    shell, s = boot(spec("migrate", oneshot=True, restart="never"),
                    spec("app", depends_on=("migrate",)),
                    spec("web", depends_on=("app",)))
    shell.exit("migrate", 1, at=1)
    assert s["web"].state == BLOCKED
    shell.control("start", "migrate", "tok")
    assert shell.replies["tok"]["ok"]
    # migrate runs again (a oneshot, not up yet): dependents wait instead of being blocked
    assert (s["app"].state, s["app"].reason) == (WAITING, "waiting for migrate")
    assert s["web"].state == WAITING
    shell.exit("migrate", 0, at=2)
    assert s["app"].state == RUNNING and s["web"].state == RUNNING
    assert shell.spawns == ["migrate", "migrate", "app", "web"]


def test_blocked_dependents_start_when_a_long_running_dependency_is_restarted():
    # web also waits for the oneshot init, so db fails before web ever starts
    shell, s = boot(spec("db", restart="never"),
                    spec("init", oneshot=True),
                    spec("web", depends_on=("db", "init")))
    shell.exit("db", 1, at=1)
    assert s["web"].state == BLOCKED
    shell.control("restart", "db", "r")
    assert s["db"].state == RUNNING
    assert (s["web"].state, s["web"].reason) == (WAITING, "waiting for init")
    shell.exit("init", 0, at=2)
    assert s["web"].state == RUNNING


def test_dependency_that_exited_0_once_stays_satisfied():
    shell, s = boot(spec("seed", oneshot=True, interval=60.0, restart="never"),
                    spec("app", depends_on=("seed",)))
    shell.exit("seed", 0, at=1)
    assert s["app"].state == RUNNING
    shell.advance(61)                  # seed runs again...
    shell.exit("seed", 1, at=62)      # ...and fails this time
    assert s["app"].state == RUNNING  # a running dependent is not touched


def test_later_failure_of_a_dependency_does_not_stop_a_running_dependent():
    shell, s = boot(spec("db", restart="never"), spec("web", depends_on=("db",)))
    shell.exit("db", 1, at=5)
    assert s["db"].state == FAILED and s["web"].state == RUNNING
    assert shell.kills == []
