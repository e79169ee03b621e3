"""Health checks and readiness with zei as PID 1 and real probes: an exec check that hangs
past its timeout, an http server that goes up and down, tcp, sd_notify (and a sender that
is not the service), a ready log line, the ready timeout, `zei ready`, READY=1 upward."""
import json
import os
import re
import signal
import socket
from pathlib import Path

from conftest import PYTHON3, poll_until, q

HEALTHSVC = str(Path(__file__).resolve().parents[1] / "helpers" / "healthsvc.py")


def svc(*args):
    return q(PYTHON3, HEALTHSVC, *args)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def status(z, name):
    r = z.cli("status", name, "--json")
    return json.loads(r.stdout)["services"][0]


def test_an_exec_check_that_hangs_is_killed_at_its_timeout_with_its_children(zei_run):
    z = zei_run(f"""
services:
  web:
    command: ["sleep", "1000"]
    healthcheck:
      test: ["CMD-SHELL", "echo started; sleep 600 & sleep 601"]
      interval: 300ms
      timeout: 400ms
      retries: 2
      on_unhealthy: none
""")
    z.wait_log(r"^zei\[warn\] web: unhealthy: 2 check\(s\) failed in a row; last: timed out after "
               r"400ms \(on_unhealthy: none\)$", timeout=15)
    row = status(z, "web")
    assert row["health"]["status"] == "unhealthy" and row["state"] == "running"
    assert row["health"]["last"]["output"] == "started\n"

    def no_leftovers():
        procs = z.processes()
        sleeps = [p for p, (_, _, comm) in procs.items() if comm == "sleep"]
        zombies = [p for p, (_, state, _) in procs.items() if state == "Z"]
        # web's own sleep, and at most the check in flight (a shell and its two sleeps)
        return (sleeps, zombies) if len(sleeps) <= 3 and not zombies else None
    checks = row["health"]["checks"]
    for _ in range(3):                       # checks keep coming and going: never piling up
        poll_until(no_leftovers, 5, what="no leftover check processes or zombies")
        poll_until(lambda: status(z, "web")["health"]["checks"] > checks, 5, what="another check")
        checks = status(z, "web")["health"]["checks"]


def test_http_check_gates_dependents_and_an_unhealthy_service_is_restarted(zei_run, tmp_path):
    port, flag = free_port(), tmp_path / "fail"
    z = zei_run(f"""
services:
  web:
    command: {svc("http", str(port), str(flag))}
    healthcheck:
      http: http://127.0.0.1:{port}/health
      interval: 300ms
      timeout: 1s
      retries: 2
  app:
    command: ["sleep", "1000"]
    depends_on:
      web: {{condition: service_healthy}}
""")
    z.wait_log(r"^zei\[info\] web: healthy$")
    z.wait_log(r"^zei\[info\] app: started")
    log = z.log()
    assert log.index("web: healthy") < log.index("app: started")
    first = status(z, "web")
    assert first["health"]["last"]["ok"] and first["ready"]
    assert z.cli("ready").returncode == 0
    flag.write_text("")                                   # now it answers 503
    z.wait_log(r"^zei\[warn\] web: unhealthy: 2 check\(s\) failed in a row; last: HTTP 503 "
               r"Service Unavailable; restarting it$", timeout=10)
    z.wait_log(r"^zei\[info\] web: unhealthy: restarting in 1s \(restart 1\)$")
    r = z.cli("ready")
    assert r.returncode == 1 and r.stderr.startswith("not ready: web is ")
    flag.unlink()
    z.wait_log(r"^zei\[info\] web: healthy$", count=2, timeout=15)
    again = status(z, "web")
    assert again["pid"] != first["pid"] and again["restarts"] == 1
    assert status(z, "app")["pid"] is not None               # dependents are not touched


def test_tcp_checks_pass_on_an_open_port_and_fail_on_a_closed_one(zei_run):
    open_port, closed = free_port(), free_port()
    z = zei_run(f"""
services:
  db:
    command: {svc("tcp", str(open_port))}
    healthcheck: {{tcp: "127.0.0.1:{open_port}", interval: 200ms, retries: 1}}
  down:
    command: ["sleep", "1000"]
    healthcheck: {{tcp: "127.0.0.1:{closed}", interval: 200ms, retries: 1, on_unhealthy: none}}
""")
    z.wait_log(r"^zei\[info\] db: healthy$")
    z.wait_log(r"^zei\[warn\] down: unhealthy: 1 check\(s\) failed in a row; last: .*refused")
    r = z.cli("ready")
    assert r.returncode == 1 and "down is unhealthy" in r.stderr
    assert z.cli("ready", "db").returncode == 0
    listing = z.cli("list").stdout
    assert re.search(r"^db\s+running\s+healthy\s", listing, re.M)
    assert re.search(r"^down\s+running\s+unhealthy\s", listing, re.M)


def test_notify_ready_and_status_and_only_the_service_itself_counts(zei_run, tmp_path):
    addr = tmp_path / "addr"
    z = zei_run(f"""
services:
  db:
    command: {svc("notify", "0.5", "accepting connections")}
    ready: {{notify: true}}
  quiet:
    command: {svc("addr", str(addr))}
    ready: {{notify: true}}
  spy:
    command: {svc("spy", str(addr))}
  app:
    command: ["sleep", "1000"]
    depends_on:
      db: {{condition: service_healthy}}
""")
    z.wait_log(r"^zei\[info\] db: ready \(READY=1\)$")
    z.wait_log(r"^zei\[info\] app: started")
    assert status(z, "db")["notify_status"] == "accepting connections"
    z.wait_log(r"^spy\[out\] sent READY=1 to someone else's socket$")
    z.cli("list", check=True)        # a request after the datagram: it has been read by now
    q_row = status(z, "quiet")
    assert q_row["ready"] is False and "has not sent READY=1" in q_row["not_ready"]
    assert "quiet: ready" not in z.log()
    assert str(addr.read_text()).startswith("@zei-notify/")
    r = z.cli("ready")
    assert r.returncode == 1 and r.stderr.startswith("not ready: quiet has not sent READY=1 yet")


def test_a_ready_log_line_and_the_ready_timeout(zei_run):
    z = zei_run(f"""
services:
  web:
    command: {q("sh", "-c", "echo booting; sleep 0.3; echo 'now listening on :8080'; exec sleep 1000")}
    ready: {{log_line: "listening on :[0-9]+"}}
  slow:
    command: ["sleep", "1000"]
    ready: {{notify: true, timeout: 500ms}}
""")
    z.wait_log(r"^zei\[info\] web: ready \(log line\)$")
    log = z.log()
    assert log.index("web[out] booting") < log.index("web: ready") 
    assert log.index("now listening on :8080") < log.index("web: ready")
    z.wait_log(r"^zei\[error\] slow: not ready within 500ms; stopping it \(a failed start\)$")
    z.wait_log(r"^zei\[info\] slow: stopped \(killed by SIGTERM\)$")
    row = status(z, "slow")
    assert row["state"] == "failed" and row["reason"].startswith("not ready within 500ms")


def test_ready_upward_and_the_services_do_not_see_zeis_notify_socket(zei_run, tmp_path):
    path = str(tmp_path / "notify.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(path)
    listener.settimeout(15)
    z = zei_run(f"""
services:
  web:
    command: {q("sh", "-c", "echo NOTIFY=${NOTIFY_SOCKET:-none}; exec sleep 1000")}
    ready: {{log_line: "NOTIFY="}}
  job:
    command: ["true"]
    oneshot: true
""", env={"NOTIFY_SOCKET": path})
    try:
        assert listener.recv(4096) == b"READY=1\nSTATUS=1 service(s) ready"
        z.wait_log(r"^web\[out\] NOTIFY=none$")
        z.signal(signal.SIGTERM)
        assert listener.recv(4096) == b"STOPPING=1"
        assert z.wait_exit(10) == 0
    finally:
        listener.close()


def test_an_exec_check_runs_as_the_service_user_with_its_environment(zei_run, tmp_path):
    os.chmod(tmp_path, 0o755)
    z = zei_run(f"""
services:
  web:
    command: ["sleep", "1000"]
    user: nobody
    working_dir: /tmp
    environment: {{GREETING: hello}}
    healthcheck:
      test: ["CMD-SHELL", "echo $(id -u) $GREETING $(pwd) ${{NOTIFY_SOCKET:-none}}"]
      interval: 200ms
""")
    z.wait_log(r"^zei\[info\] web: healthy$")
    out = status(z, "web")["health"]["last"]["output"]
    assert out == "65534 hello /tmp none\n"
    assert "65534" not in z.log()                     # check output is not streamed into the log
