"""Each control request is answered with what became of *it*; a child between fork and exec
is a live process; shutdown order follows the whole dependency graph (issue: hardening)."""
from __future__ import annotations

from fakes import FakeShell, of, spec, supervisor
from zei.core import control
from zei.core.actions import Kill, KillAll, Reply, Spawn
from zei.core.supervisor import RUNNING, SIGKILL, SIGTERM, STARTING, STOPPED, STOPPING

TIMEOUT = 10.0


def boot(*specs, hold=()):
    shell = FakeShell(supervisor(*specs, shutdown_timeout=TIMEOUT))
    shell.hold_exec.update(hold)
    shell.boot()
    return shell


def request(shell, token, **req):
    return shell.run(control.dispatch(shell.sup, req, token, shell.now, version="9.9", pid=1))


def termed(out):
    return [k.name for k in of(out, Kill) if k.sig == SIGTERM]


# ---- replies for the right request ---------------------------------------------------------

def test_restart_then_stop_the_restart_fails_superseded_and_the_stop_succeeds():
    shell = boot(spec("web"))
    request(shell, "r", cmd="restart", service="web")
    out = request(shell, "s", cmd="stop", service="web")
    assert out == [Reply("r", {"ok": False, "error": "restart of web superseded by a stop request"})]
    shell.exit("web", None, SIGTERM, at=1)
    assert shell.replies["s"] == {"ok": True, "message": "web stopped (killed by SIGTERM)"}
    assert shell.sup.services["web"].state == STOPPED


def test_stop_then_restart_the_stop_fails_superseded_and_the_restart_succeeds():
    shell = boot(spec("web"))
    request(shell, "s", cmd="stop", service="web")
    out = request(shell, "r", cmd="restart", service="web")
    assert out == [Reply("s", {"ok": False, "error": "stop of web superseded by a restart request"})]
    shell.exit("web", None, SIGTERM, at=1)
    assert shell.replies["r"] == {"ok": True, "message": "web restarted (pid 101)"}
    assert shell.sup.services["web"].state == RUNNING


def test_start_while_stopping_starts_it_again_once_stopped():
    shell = boot(spec("web"))
    request(shell, "s", cmd="stop", service="web")
    request(shell, "g", cmd="start", service="web")
    assert shell.replies["s"]["ok"] is False and "superseded by a start" in shell.replies["s"]["error"]
    out = shell.exit("web", None, SIGTERM, at=1)
    assert of(out, Spawn) == [Spawn("web")]
    assert shell.replies["g"] == {"ok": True, "message": "web started (pid 101)"}


def test_restart_is_answered_restarted_and_two_restarts_both_are():
    shell = boot(spec("web"))
    request(shell, "r1", cmd="restart", service="web")
    request(shell, "r2", cmd="restart", service="web")
    shell.exit("web", None, SIGTERM, at=1)
    assert shell.replies["r1"] == shell.replies["r2"] == {"ok": True, "message": "web restarted (pid 101)"}


def test_a_restart_whose_start_fails_says_it_could_not_restart():
    shell = boot(spec("web"))
    request(shell, "r", cmd="restart", service="web")
    shell.fail_next_spawn["web"] = 'exec "nope": No such file or directory (ENOENT)'
    shell.exit("web", None, SIGTERM, at=1)
    assert shell.replies["r"] == {"ok": False, "error":
                                  'web could not restart: exec "nope": No such file or directory (ENOENT)'}


# ---- between fork and exec ------------------------------------------------------------------

def test_forked_child_counts_as_alive_and_a_stop_terms_it():
    shell = boot(spec("web"), hold={"web"})
    svc = shell.sup.services["web"]
    assert svc.state == STARTING and svc.pid == 100
    request(shell, "g", cmd="start", service="web")       # waits for exec, like the boot start
    out = request(shell, "s", cmd="stop", service="web")
    assert of(out, Kill) == [Kill("web", 100, SIGTERM)] and svc.state == STOPPING
    assert shell.replies["g"] == {"ok": False, "error": "start of web superseded by a stop request"}
    shell.exit("web", None, SIGTERM, at=1)                # died before exec: the daemon reports
    assert svc.state == STOPPED and svc.pid is None        # spawned first, then the exit
    assert shell.replies["s"] == {"ok": True, "message": "web stopped (killed by SIGTERM)"}


def test_stopped_before_exec_then_exec_fails_is_stopped():
    shell = boot(spec("web", restart="always"), hold={"web"})
    request(shell, "s", cmd="stop", service="web")
    out = shell.exec_done("web", error="exec: Permission denied (EACCES)")
    svc = shell.sup.services["web"]
    assert svc.state == STOPPED and not of(out, Spawn)
    assert shell.replies["s"]["ok"] is True


def test_shutdown_terms_a_child_stuck_before_exec_and_kills_it_at_the_deadline():
    shell = boot(spec("web"), hold={"web"})
    out = shell.signal(SIGTERM)
    assert termed(out) == ["web"]
    out = shell.advance(TIMEOUT)
    assert Kill("web", 100, SIGKILL) in of(out, Kill) and KillAll(SIGKILL) in of(out, KillAll)
    shell.exit("web", None, SIGKILL, at=TIMEOUT + 0.1)
    assert shell.exit_code == 1


# ---- shutdown order through services that do not run ---------------------------------------

def test_shutdown_order_is_transitive_through_an_exited_oneshot():
    shell = boot(spec("db"), spec("migrate", oneshot=True, depends_on=("db",)),
                 spec("app", depends_on=("migrate",)))
    s = shell.sup.services
    shell.exit("migrate", 0, at=1)
    assert s["app"].state == RUNNING and s["migrate"].state == "exited"
    out = shell.signal(SIGTERM)
    assert termed(out) == ["app"]                          # not db: app still needs it
    out = shell.exit("app", None, SIGTERM, at=2)
    assert termed(out) == ["db"]
