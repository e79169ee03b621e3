"""Control requests (start/stop/restart/signal via zei.core.control.dispatch) and signal forwarding."""
from __future__ import annotations

import pytest

from fakes import FakeShell, messages, of, spec, supervisor
from zei.core import control
from zei.core.actions import Kill, Log, Reply, Spawn
from zei.core.supervisor import (
    BACKOFF, FAILED, RUNNING, SIGHUP, SIGKILL, SIGTERM, SIGUSR1, SIGUSR2, STOPPED, STOPPING,
)

TIMEOUT = 10.0


def boot(*specs):
    shell = FakeShell(supervisor(*specs, shutdown_timeout=TIMEOUT))
    shell.boot()
    return shell


def request(shell, token, **req):
    return shell.run(control.dispatch(shell.sup, req, token, shell.now, version="9.9", pid=1))


# ---- dispatch ----------------------------------------------------------------------------

def test_ping():
    shell = boot(spec("web"))
    assert request(shell, "p", cmd="ping") == [Reply("p", {"ok": True, "pid": 1, "version": "9.9"})]


def test_unknown_service_names_the_known_ones():
    shell = boot(spec("web"), spec("db"))
    for cmd in ("status", "start", "stop", "restart"):
        out = request(shell, cmd, cmd=cmd, service="nope")
        assert out == [Reply(cmd, {"ok": False, "code": "unknown-service",
                                   "error": "unknown service 'nope'; known: web, db"})]
    out = request(shell, "s", cmd="signal", service="nope", signal=1)
    assert out[0].payload["code"] == "unknown-service"


def test_list_and_status():
    shell = boot(spec("web", restart="always", max_restarts=3), spec("db"))
    shell.now = 12.5
    out = request(shell, "l", cmd="list")
    payload = out[0].payload
    assert payload["ok"] and payload["shutting_down"] is False
    assert [s["name"] for s in payload["services"]] == ["web", "db"]
    web = payload["services"][0]
    assert web == {"name": "web", "state": RUNNING, "pid": 100, "uptime": 12.5, "since": 12.5,
                   "restarts": 0, "runs": 1, "last_exit": None, "reason": "", "next_in": None,
                   "command": ["/bin/true"], "user": None, "group": None, "restart": "always",
                   "max_restarts": 3, "oneshot": False, "interval": None, "depends_on": [],
                   "failures": 0, "delay": None, "restart_delay": 1.0, "restart_delay_max": None,
                   "essential": False, "success_exit_codes": [0], "stop_signal": 15,
                   "stop_grace_period": TIMEOUT, "ready": True, "not_ready": None, "health": None,
                   "readiness": "running", "notify_status": None, "conditions": [],
                   "env_files": []}
    out = request(shell, "s", cmd="status", service="db")
    assert [s["name"] for s in out[0].payload["services"]] == ["db"]


def test_status_of_a_service_waiting_to_restart():
    shell = boot(spec("web", restart="always", restart_delay=5.0))
    shell.exit("web", 2, at=1)
    row = shell.sup.status(3)[0]
    assert (row["state"], row["pid"], row["uptime"], row["next_in"]) == (BACKOFF, None, None, 3.0)
    assert row["last_exit"] == {"code": 2} and row["restarts"] == 1


# ---- start -------------------------------------------------------------------------------

def test_start_a_stopped_service_replies_once_it_runs():
    shell = boot(spec("web"))
    shell.control("stop", "web", "s")
    shell.exit("web", None, SIGTERM, at=1)
    out = request(shell, "go", cmd="start", service="web")
    assert of(out, Spawn) == [Spawn("web")]
    assert shell.replies["go"] == {"ok": True, "message": "web started (pid 101)"}
    assert shell.sup.services["web"].state == RUNNING


def test_start_that_cannot_spawn_replies_with_the_error():
    shell = boot(spec("web"))
    shell.control("stop", "web", "s")
    shell.exit("web", 0, at=1)
    shell.fail_next_spawn["web"] = "exec /srv/web: Permission denied"
    request(shell, "go", cmd="start", service="web")
    assert shell.replies["go"] == {"ok": False, "error": "web could not start: exec /srv/web: Permission denied"}
    assert shell.sup.services["web"].state == FAILED


def test_start_resets_the_restart_count():
    shell = boot(spec("web", restart="always", max_restarts=2, restart_delay=1.0))
    shell.exit("web", 1, at=1)
    shell.advance(2)
    shell.exit("web", 1, at=3)
    shell.advance(4)
    shell.exit("web", 1, at=5)
    svc = shell.sup.services["web"]
    assert svc.state == FAILED and svc.restarts == 2
    shell.control("start", "web", "go")
    assert svc.state == RUNNING and svc.restarts == 0
    # and the policy counts afresh: two more restarts before it gives up again
    shell.exit("web", 1, at=6)
    assert svc.state == BACKOFF and svc.restarts == 1


# ---- stop --------------------------------------------------------------------------------

def test_stop_terms_and_keeps_the_service_stopped():
    shell = boot(spec("web", restart="always", restart_delay=1.0))
    out = request(shell, "s", cmd="stop", service="web")
    assert of(out, Kill) == [Kill("web", 100, SIGTERM)]
    assert "s" not in shell.replies                     # replies once the process is gone
    shell.exit("web", None, SIGTERM, at=2)
    assert shell.replies["s"] == {"ok": True, "message": "web stopped (killed by SIGTERM)"}
    svc = shell.sup.services["web"]
    assert (svc.state, svc.reason) == (STOPPED, "stopped on request")
    # no restart policy applies, and no timer is left behind (the loop would spin on it)
    assert shell.sup.next_deadline() is None
    assert svc.deadline is None
    assert shell.sup.status(50)[0]["next_in"] is None
    assert shell.advance(10_000) == []
    assert shell.spawns == ["web"]


def test_manual_stop_sends_sigkill_after_the_grace():
    shell = boot(spec("web"))
    shell.now = 3.0
    shell.control("stop", "web", "s")
    assert shell.sup.next_deadline() == 3.0 + TIMEOUT
    assert shell.advance(3.0 + TIMEOUT - 0.01) == []
    out = shell.advance(3.0 + TIMEOUT)
    assert of(out, Kill) == [Kill("web", 100, SIGKILL)]
    assert messages(out) == [("warn", "web", "did not stop within 10s; sending SIGKILL")]
    assert shell.sup.next_deadline() is None
    assert shell.advance(100) == []                     # SIGKILL only once
    shell.exit("web", None, SIGKILL, at=101)
    assert shell.replies["s"] == {"ok": True, "message": "web stopped (killed by SIGKILL)"}


def test_stop_of_a_service_waiting_to_restart_cancels_the_restart():
    shell = boot(spec("web", restart="always", restart_delay=5.0))
    shell.exit("web", 1, at=1)
    out = request(shell, "s", cmd="stop", service="web")
    assert out == [Reply("s", {"ok": True, "message": "web was not running (backoff); now stopped"})]
    assert shell.sup.next_deadline() is None
    assert shell.advance(100) == []


def test_two_stop_requests_both_get_the_answer():
    shell = boot(spec("web"))
    shell.control("stop", "web", "one")
    assert shell.control("stop", "web", "two") == []
    shell.exit("web", 0, at=1)
    assert shell.replies["one"] == shell.replies["two"] == {"ok": True,
                                                            "message": "web stopped (exit code 0)"}


# ---- restart -----------------------------------------------------------------------------

def test_restart_running_service_stops_then_starts_and_resets_restarts():
    shell = boot(spec("web", restart="always", restart_delay=1.0))
    shell.exit("web", 1, at=1)
    shell.advance(2)
    svc = shell.sup.services["web"]
    assert svc.restarts == 1
    out = request(shell, "r", cmd="restart", service="web")
    assert of(out, Kill) == [Kill("web", 101, SIGTERM)]
    assert svc.state == STOPPING
    out = shell.exit("web", None, SIGTERM, at=3)
    assert of(out, Spawn) == [Spawn("web")]
    assert shell.replies["r"] == {"ok": True, "message": "web restarted (pid 102)"}
    assert (svc.state, svc.restarts, svc.pid) == (RUNNING, 0, 102)
    assert shell.sup.next_deadline() is None


def test_restart_of_a_stuck_service_kills_it_after_the_grace_then_starts_it():
    shell = boot(spec("web"))
    shell.control("restart", "web", "r")
    out = shell.advance(TIMEOUT)
    assert of(out, Kill) == [Kill("web", 100, SIGKILL)]
    shell.exit("web", None, SIGKILL, at=TIMEOUT + 0.1)
    assert shell.replies["r"]["ok"] and shell.sup.services["web"].state == RUNNING


def test_restart_of_a_failed_service_starts_it():
    shell = boot(spec("web", restart="never"))
    shell.exit("web", 1, at=1)
    out = request(shell, "r", cmd="restart", service="web")
    assert of(out, Spawn) == [Spawn("web")]
    assert shell.replies["r"] == {"ok": True, "message": "web restarted (pid 101)"}


def test_stop_during_a_restart_wins():
    shell = boot(spec("web"))
    shell.control("restart", "web", "r")
    shell.control("stop", "web", "s")
    shell.exit("web", 0, at=1)
    assert shell.sup.services["web"].state == STOPPED
    assert shell.spawns == ["web"]


# ---- signal ------------------------------------------------------------------------------

def test_signal_goes_to_that_service_only():
    shell = boot(spec("web"), spec("db"))
    out = request(shell, "k", cmd="signal", service="db", signal=SIGUSR1)
    assert of(out, Kill) == [Kill("db", 101, SIGUSR1)]
    assert shell.replies["k"] == {"ok": True, "message": "sent SIGUSR1 to db (pid 101)"}
    assert shell.sup.services["db"].state == RUNNING


def test_signal_to_a_service_that_is_not_running_is_refused():
    shell = boot(spec("web", restart="never"))
    shell.exit("web", 0, at=1)
    out = request(shell, "k", cmd="signal", service="web", signal=SIGHUP)
    assert out == [Reply("k", {"ok": False, "error": "web is not running (exited)"})]


# ---- signals to PID 1 --------------------------------------------------------------------

@pytest.mark.parametrize("sig,name", [(SIGHUP, "SIGHUP"), (SIGUSR1, "SIGUSR1"), (SIGUSR2, "SIGUSR2")])
def test_forwarded_to_every_alive_service_only(sig, name):
    shell = boot(spec("web"), spec("db"), spec("done", oneshot=True),
                 spec("flaky", restart="always", restart_delay=9.0), spec("leaving"))
    shell.exit("done", 0, at=1)
    shell.exit("flaky", 1, at=1)
    shell.control("stop", "leaving", "s")          # stopping: its process is still alive
    out = shell.signal(sig)
    assert sorted((k.name, k.pid, k.sig) for k in of(out, Kill)) == \
        [("db", 101, sig), ("leaving", 104, sig), ("web", 100, sig)]
    assert messages(out) == [("info", "zei", f"received {name}; forwarding to web, db, leaving")]
    assert {n: s.state for n, s in shell.sup.services.items()} == \
        {"web": RUNNING, "db": RUNNING, "done": "exited", "flaky": BACKOFF, "leaving": STOPPING}


def test_forwarding_with_nothing_running_says_so():
    shell = boot(spec("job", oneshot=True))
    shell.exit("job", 0, at=1)
    out = shell.signal(SIGHUP)
    assert out == [Log("info", "zei", "received SIGHUP; forwarding to no running service")]


@pytest.mark.parametrize("sig", [17, 28, 18, 14])          # CHLD, WINCH, CONT, ALRM
def test_other_signals_do_nothing(sig):
    shell = boot(spec("web"))
    assert shell.signal(sig) == []
    assert not shell.sup.shutting_down
