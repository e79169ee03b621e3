"""Replayed event histories with a fake clock: every action, in order, as the shell sees it."""
from __future__ import annotations

from zei.core import config
from zei.core.actions import Exit, Kill, KillAll, Log, NotifyUp, Reply, Spawn
from zei.core.supervisor import SIGKILL, SIGTERM, Supervisor

EXAMPLE = """\
version: "1.0"
shutdown_timeout: 30s
services:
  web:
    command: ["node", "server.js"]
    restart: always
    max_restarts: 5
    restart_delay: 2s
  worker:
    command: ["python", "worker.py"]
    restart: on-failure
    max_restarts: 10
    restart_delay: 5s
  healthcheck:
    command: ["sh", "-c", "curl -sf http://localhost:3000/health"]
    oneshot: true
    interval: 30s
    depends_on: ["web"]
"""


def info(source, message):
    return Log("info", source, message)


def replay(sup, history):
    """Apply (now, method, args, expected actions) rows; report the first divergence."""
    for i, (now, method, args, expected) in enumerate(history):
        got = getattr(sup, method)(*args, now) if method != "no_children" else sup.no_children(now)
        assert got == expected, f"step {i} ({now}: {method}{args}):\n got {got}\nwant {expected}"


def test_example_config_from_boot_to_clean_exit():
    sup = Supervisor(config.parse(EXAMPLE, "zei.yaml"))
    replay(sup, [
        (0.0, "boot", (), [info("zei", "starting 3 service(s)"), Spawn("web"), Spawn("worker")]),
        (0.0, "spawned", ("web", 10), [info("web", "started (pid 10)"), Spawn("healthcheck")]),
        (0.0, "spawned", ("worker", 11), [info("worker", "started (pid 11)"),
                                          info("zei", "ready: 2 long-running service(s) ready"),
                                          NotifyUp("READY=1\nSTATUS=2 service(s) ready")]),
        (0.1, "spawned", ("healthcheck", 12), [info("healthcheck", "started (pid 12)")]),
        (0.5, "exited", (12, 0, None), [info("healthcheck", "exited (exit code 0) after 0.400s"),
                                        info("healthcheck", "next run in 30s")]),
        (3.0, "exited", (10, None, SIGKILL), [
            Log("warn", "web", "exited (killed by SIGKILL) after 3.000s"),
            info("web", "restarting in 2s (restart 1 of 5)")]),
        (4.9, "tick", (), []),
        (5.0, "tick", (), [Spawn("web")]),
        (5.0, "spawned", ("web", 13), [info("web", "started (pid 13)")]),
        (30.5, "tick", (), [Spawn("healthcheck")]),
        (30.5, "spawned", ("healthcheck", 14), [info("healthcheck", "started (pid 14)")]),
        (31.0, "exited", (14, 1, None), [Log("warn", "healthcheck", "exited (exit code 1) after 0.500s"),
                                         info("healthcheck", "next run in 30s")]),
        (40.0, "signal", (SIGTERM,), [
            NotifyUp("STOPPING=1"), info("zei", "received SIGTERM; stopping services (timeout 30s)"),
            info("web", "sending SIGTERM (pid 13)"), Kill("web", 13, SIGTERM),
            info("worker", "sending SIGTERM (pid 11)"), Kill("worker", 11, SIGTERM)]),
        (41.0, "exited", (13, None, SIGTERM), [info("web", "stopped (killed by SIGTERM)")]),
        (42.0, "exited", (11, 0, None), [info("worker", "stopped (exit code 0)"), KillAll(SIGTERM)]),
        (42.0, "no_children", (), [info("zei", "all processes stopped; exiting with code 0"), Exit(0)]),
    ])
    assert sup.next_deadline() is None


def test_crash_loop_gives_up_then_a_manual_start_and_a_forced_shutdown():
    text = ("shutdown_timeout: 5s\nservices:\n  api:\n    command: [api]\n    restart: on-failure\n"
            "    max_restarts: 1\n    restart_delay: 100ms\n")
    sup = Supervisor(config.parse(text, "zei.yaml"))
    replay(sup, [
        (0.0, "boot", (), [info("zei", "starting 1 service(s)"), Spawn("api")]),
        (0.0, "spawn_failed", ("api", "exec api: No such file or directory"), [
            Log("error", "api", "could not start: exec api: No such file or directory"),
            info("api", "restarting in 100ms (restart 1 of 1)")]),
        (0.1, "tick", (), [Spawn("api")]),
        (0.1, "spawned", ("api", 20), [info("api", "started (pid 20)"),
                                       info("zei", "ready: 1 long-running service(s) ready"),
                                       NotifyUp("READY=1\nSTATUS=1 service(s) ready")]),
        (1.1, "exited", (20, 2, None), [
            Log("warn", "api", "exited (exit code 2) after 1.000s"),
            Log("error", "api", "gave up after 1 restart(s) in a row (max_restarts 1)")]),
        (9.0, "tick", (), []),
        (10.0, "start", ("api", "tok"), [info("api", "start requested"), Spawn("api")]),
        (10.0, "spawned", ("api", 21), [info("api", "started (pid 21)"),
                                        Reply("tok", {"ok": True, "message": "api started (pid 21)"})]),
        (11.0, "signal", (SIGTERM,), [
            NotifyUp("STOPPING=1"), info("zei", "received SIGTERM; stopping services (timeout 5s)"),
            info("api", "sending SIGTERM (pid 21)"), Kill("api", 21, SIGTERM)]),
        (15.9, "tick", (), []),
        (16.0, "tick", (), [
            Log("warn", "zei", "shutdown timeout (5s) reached; sending SIGKILL to api"),
            Kill("api", 21, SIGKILL), KillAll(SIGKILL)]),
        (16.0, "exited", (21, None, SIGKILL), [info("api", "stopped (killed by SIGKILL)")]),
        (16.0, "no_children", (), [info("zei", "all processes stopped; exiting with code 1"), Exit(1)]),
    ])
