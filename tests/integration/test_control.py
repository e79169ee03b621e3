"""The control plane: every CLI command against a running PID 1, the fallback, the socket."""
import json
import os
import pwd
import signal
import socket
import subprocess
import time

from conftest import poll_until, probe, q, zei_command, zei_env

CONFIG = f"""
shutdown_timeout: 3s
services:
  web:
    command: {probe()}
  worker:
    command: {q("sleep", "1000")}
    restart: on-failure
  job:
    command: {q("sh", "-c", "exit 5")}
    oneshot: true
"""


def test_list_and_status(zei_run):
    z = zei_run(CONFIG)
    z.wait_log(r"^web\[out\] ready")
    z.wait_log(r"job: exited")
    r = z.cli("list", check=True)
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["NAME", "STATE", "HEALTH", "PID", "UPTIME", "RESTARTS", "LAST", "EXIT"]
    rows = {ln.split()[0]: ln.split() for ln in lines[1:]}
    assert rows["web"][1] == "running" and rows["worker"][1] == "running"
    assert rows["job"][1] == "failed" and "exit 5" in r.stdout
    data = json.loads(z.cli("list", "--json", check=True).stdout)
    by = {s["name"]: s for s in data["services"]}
    assert by["web"]["pid"] > 1 and by["web"]["uptime"] >= 0 and by["job"]["last_exit"] == {"code": 5}
    assert z.cli("status", "web").returncode == 0
    assert z.cli("status", "job").returncode == 3
    r = z.cli("status", "nope")
    assert r.returncode == 4 and "unknown service 'nope'" in r.stderr
    assert z.cli("status").returncode == 3          # not every service runs


def test_restart_resets_count_and_runs_again(zei_run):
    z = zei_run(CONFIG)
    z.wait_log(r"^web\[out\] ready")
    old = json.loads(z.cli("status", "web", "--json").stdout)["services"][0]["pid"]
    r = z.cli("restart", "web", check=True)
    assert "web restarted (pid" in r.stdout
    new = json.loads(z.cli("status", "web", "--json").stdout)["services"][0]
    assert new["state"] == "running" and new["pid"] != old and new["restarts"] == 0
    z.wait_log(r"^web\[out\] got SIGTERM")
    z.wait_log(r"^web\[out\] ready", count=2)


def test_stop_keeps_it_stopped_until_start(zei_run):
    z = zei_run(CONFIG)
    z.wait_log(r"worker: started")
    r = z.cli("stop", "worker", check=True)
    assert "worker stopped (killed by SIGTERM)" in r.stdout
    assert z.cli("status", "worker").returncode == 3
    assert "stopped" in z.cli("list").stdout.split("worker", 1)[1].splitlines()[0]
    r = z.cli("start", "worker", check=True)
    assert "worker started (pid" in r.stdout
    assert z.cli("status", "worker").returncode == 0


def test_signal_reaches_only_that_service(zei_run):
    z = zei_run(f"""
services:
  a:
    command: {probe()}
  b:
    command: {probe()}
""")
    z.wait_ready("a", "b")
    for spelling, name in (("HUP", "SIGHUP"), ("SIGUSR1", "SIGUSR1"), ("12", "SIGUSR2"), ("winch", "SIGWINCH")):
        r = z.cli("signal", f"a:{spelling}", check=True)
        assert f"sent {name} to a" in r.stdout
        z.wait_log(rf"^a\[out\] got {name}$")
    assert "b[out] got" not in z.log()
    r = z.cli("signal", "a:BOGUS")
    assert r.returncode == 2 and "unknown signal 'BOGUS'" in r.stderr and "HUP" in r.stderr
    r = z.cli("signal", "nosuch:HUP")
    assert r.returncode == 4 and "unknown service" in r.stderr


def test_check_command(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("services:\n  a:\n    command: [sleep, '1']\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("services:\n  a:\n    comand: [x]\n    restart: sometimes\n")
    run = lambda p: subprocess.run([*zei_command(), "-c", str(p), "check"], capture_output=True,
                                   text=True, env=zei_env())
    r = run(good)
    assert r.returncode == 0 and "ok, 1 service(s): a" in r.stdout
    r = run(bad)
    assert r.returncode == 1
    assert f"{bad}:3: services.a.comand: unknown option; did you mean 'command'?" in r.stderr
    assert f"{bad}:4: services.a.restart: expected always, on-failure or never" in r.stderr
    assert f"{bad}:2: services.a.command: missing" in r.stderr
    assert "Traceback" not in r.stderr


def test_fallback_without_daemon(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("services:\n  web:\n    command: [sleep, '1']\n  db:\n    command: [sleep, '2']\n")
    sock = str(tmp_path / "none.sock")
    run = lambda *a: subprocess.run([*zei_command(), "-c", str(cfg), "--socket", sock, *a],
                                    capture_output=True, text=True, env=zei_env())
    r = run("list")
    assert r.returncode == 0 and "daemon not running" in r.stderr
    assert "web" in r.stdout and "db" in r.stdout and "unknown" in r.stdout
    r = run("status", "web")
    assert r.returncode == 3 and "daemon not running" in r.stderr
    assert run("status", "zzz").returncode == 4
    for args in (("restart", "web"), ("signal", "web:HUP"), ("start", "web"), ("stop", "web")):
        r = run(*args)
        assert r.returncode == 1 and "needs the running daemon" in r.stderr, args
        assert len(r.stderr.strip().splitlines()) == 1


def test_bad_daemon_config_exits_nonzero_and_starts_nothing(zei_run, tmp_path):
    marker = tmp_path / "started"
    z = zei_run(f"""
services:
  a:
    command: ["touch", "{marker}"]
  b:
    command: ["true"]
    restart: sometimes
""")
    assert z.wait_exit() == 2
    assert "services.b.restart: expected always, on-failure or never" in z.log()
    assert "nothing started" in z.log() and "Traceback" not in z.log()
    assert not marker.exists()


def _raw(sock_path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(sock_path)
    return s


def test_stalled_garbage_and_flooding_clients_do_not_block(zei_run):
    z = zei_run(CONFIG)
    z.wait_log(r"^web\[out\] ready")
    stalled = [_raw(z.sock) for _ in range(5)]
    for s in stalled:
        s.sendall(b'{"cmd": "li')                    # half a request, then silence
    garbage = _raw(z.sock)
    garbage.sendall(b"\x00\xffnot json\n")
    reply = json.loads(garbage.recv(4096).split(b"\n")[0])
    assert reply["ok"] is False and "not a JSON request" in reply["error"]
    flood = _raw(z.sock)
    try:
        flood.sendall(b"x" * 100000)
    except OSError:
        pass
    t0 = time.monotonic()
    assert z.cli("list").returncode == 0
    z.signal(signal.SIGUSR1)
    z.wait_log(r"^web\[out\] got SIGUSR1$")
    assert time.monotonic() - t0 < 3
    reply = flood.recv(4096)
    assert b"request too long" in reply
    # Merged frames on one connection are answered in order.
    c = _raw(z.sock)
    c.sendall(b'{"cmd":"ping"}\n{"cmd":"status","service":"web"}\n')
    buf = b""
    while buf.count(b"\n") < 2:
        buf += c.recv(65536)
    first, second = [json.loads(x) for x in buf.split(b"\n")[:2]]
    assert first["ok"] and first["pid"] == 1 and second["services"][0]["name"] == "web"
    # Stalled clients are dropped at their idle deadline.
    stalled[0].settimeout(15)
    assert stalled[0].recv(10) == b""


def test_default_socket_directory_keeps_other_users_out(zei_run, test_users):
    z = zei_run(CONFIG)
    z.wait_log(r"^web\[out\] ready")
    st = os.stat(os.path.dirname(z.sock))
    assert st.st_mode & 0o777 == 0o700 and st.st_uid == 0
    uid_b = pwd.getpwnam("zeitest-b").pw_uid
    r = z.cli("restart", "web", user=uid_b)
    assert r.returncode == 1 and "permission denied" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_peer_credentials_deny_other_user(zei_run, test_users, open_tmp):
    run_dir = open_tmp / "shared"
    run_dir.mkdir()
    run_dir.chmod(0o755)
    z = zei_run(CONFIG, sock=str(run_dir / "zei.sock"))
    z.wait_log(r"^web\[out\] ready")
    uid_b = pwd.getpwnam("zeitest-b").pw_uid
    r = z.cli("restart", "web", user=uid_b)
    assert r.returncode == 1
    assert f"permission denied: uid {uid_b} may not control zei" in r.stderr
    z.wait_log(rf"control socket: permission denied for uid {uid_b}")
    assert "restart requested" not in z.log()
    assert z.cli("status", "web").returncode == 0        # root still may
