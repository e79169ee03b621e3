"""The control socket under abuse, against zei as PID 1: hung-up and greedy clients, bad
socket directories. Waits are deadlines (poll_until); CPU and memory are measured over a
fixed window."""
import json
import os
import pwd
import socket
import stat
import time

from conftest import poll_until, probe, q

CLK_TCK = os.sysconf("SC_CLK_TCK")

STUBBORN = f"""
shutdown_timeout: 30s
services:
  stubborn:
    command: {probe("--ignore-term")}
"""


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK        # utime + stime


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def raw(path, timeout=5):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    return s


def ask(path, request, timeout=2.0):
    """One request on a fresh connection; (reply, seconds it took)."""
    t0 = time.monotonic()
    with raw(path, timeout) as s:
        s.sendall(json.dumps(request).encode() + b"\n")
        buf = b""
        while b"\n" not in buf:
            chunk = s.recv(65536)
            assert chunk, "closed without a reply"
            buf += chunk
    return json.loads(buf.split(b"\n")[0]), time.monotonic() - t0


# ---- defect 5 ---------------------------------------------------------------------------

def test_client_hanging_up_during_a_stop_does_not_spin_pid1(zei_run):
    z = zei_run(STUBBORN)
    z.wait_ready("stubborn")
    s = raw(z.sock)
    s.sendall(b'{"cmd":"stop","service":"stubborn"}\n')
    s.close()                                           # gone before the reply
    z.wait_log(r"^stubborn\[out\] got SIGTERM$")        # the stop is pending (TERM ignored)
    before = cpu_seconds(z.host_pid)
    time.sleep(1.0)                                     # a fixed measuring window
    used = cpu_seconds(z.host_pid) - before
    assert used < 0.25, f"PID 1 used {used:.2f}s of CPU in 1s while idle with a stop pending"
    reply, took = ask(z.sock, {"cmd": "ping"})
    assert reply["ok"] and reply["pid"] == 1 and took < 1.0
    reply, _ = ask(z.sock, {"cmd": "status", "service": "stubborn"})
    assert reply["services"][0]["state"] == "stopping"


# ---- defect 6 ---------------------------------------------------------------------------

def test_client_pipelining_without_reading_is_bounded(zei_run):
    services = "".join(f"  s{i}:\n    command: {q('sleep', '1000')}\n" for i in range(20))
    z = zei_run(f"shutdown_timeout: 3s\nservices:\n{services}")
    z.wait_log(r"s\d+: started", count=20)
    ask(z.sock, {"cmd": "list"})
    baseline = rss_kib(z.host_pid)
    greedy = raw(z.sock)
    greedy.setblocking(False)
    data = memoryview(b'{"cmd":"list"}\n' * 100_000)
    peak, pings = baseline, []
    end = time.monotonic() + 1.5
    while time.monotonic() < end:
        try:
            data = data[greedy.send(data):]
        except BlockingIOError:
            pass
        peak = max(peak, rss_kib(z.host_pid))
        reply, took = ask(z.sock, {"cmd": "ping"})
        assert reply["ok"]
        pings.append(took)
        time.sleep(0.02)
    peak = max(peak, rss_kib(z.host_pid))
    assert len(data) > 0, "zei read everything from a client that reads none of its replies"
    assert peak - baseline < 6 * 1024, f"RSS grew from {baseline} to {peak} KiB"
    assert max(pings) < 0.5, f"pings took up to {max(pings):.2f}s next to a greedy client"
    # The greedy client gets what it asked for, in order, once it reads.
    greedy.setblocking(True)
    greedy.settimeout(5)
    buf = b""
    while buf.count(b"\n") < 50:
        buf += greedy.recv(1 << 20)
    first = json.loads(buf.split(b"\n")[0])
    assert first["ok"] and len(first["services"]) == 20
    greedy.close()
    assert ask(z.sock, {"cmd": "ping"})[0]["ok"]


def test_request_too_long_closes_the_connection_even_with_a_stop_pending(zei_run):
    z = zei_run(STUBBORN)
    z.wait_ready("stubborn")
    s = raw(z.sock)
    s.sendall(b'{"cmd":"stop","service":"stubborn"}\n' + b"x" * 5000)
    z.wait_log(r"^stubborn\[out\] got SIGTERM$")
    s.settimeout(3)
    buf = b""
    while True:
        chunk = s.recv(65536)                           # socket.timeout: left open
        if not chunk:
            break
        buf += chunk
    assert [json.loads(x) for x in buf.splitlines()] == [
        {"ok": False, "code": "bad-request", "error": "request too long (limit 4096 bytes)"}]
    assert ask(z.sock, {"cmd": "ping"})[0]["ok"]


# ---- defect 2 ---------------------------------------------------------------------------

def _refused(z, tmp_path, message):
    assert z.wait_exit() == 1
    log = z.log()
    assert f"zei[error] cannot start: {message}" in log, log
    assert "Traceback" not in log
    assert not (tmp_path / "started").exists()


def _marker_config(tmp_path):
    return f"services:\n  a:\n    command: {q('touch', str(tmp_path / 'started'))}\n    oneshot: true\n"


def test_world_writable_socket_directory_is_refused(zei_run, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    run.chmod(0o777)
    z = zei_run(_marker_config(tmp_path))
    _refused(z, tmp_path, f"socket directory {run} is writable by group or others (mode 0777); "
                          f"make it 0700 or remove it")
    assert list(run.iterdir()) == []


def test_symlinked_socket_directory_is_refused(zei_run, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (tmp_path / "run").symlink_to(elsewhere)
    z = zei_run(_marker_config(tmp_path))
    _refused(z, tmp_path, f"socket directory {tmp_path / 'run'} is a symbolic link; refusing it")
    assert list(elsewhere.iterdir()) == []


def test_socket_directory_of_another_user_is_refused(zei_run, tmp_path, test_users):
    run = tmp_path / "run"
    run.mkdir(mode=0o700)
    uid = test_users["zeitest-b"].pw_uid
    os.chown(run, uid, uid)
    z = zei_run(_marker_config(tmp_path))
    _refused(z, tmp_path, f"socket directory {run} is owned by uid {uid}, not by root or the app identity")


def test_socket_and_directory_belong_to_the_app_identity(zei_run, test_users, open_tmp):
    a = test_users["zeitest-a"]
    z = zei_run(f"services:\n  web:\n    command: {probe()}\n", env={"ZEI_APP_USER": "zeitest-a"},
                tmp=open_tmp)
    z.wait_ready("web")
    d = os.lstat(os.path.dirname(z.sock))
    assert (d.st_uid, d.st_gid, stat.S_IMODE(d.st_mode)) == (a.pw_uid, a.pw_gid, 0o700)
    poll_until(lambda: os.path.exists(z.sock), 5, what="the socket")
    s = os.lstat(z.sock)
    assert stat.S_ISSOCK(s.st_mode) and stat.S_IMODE(s.st_mode) == 0o666
    assert (s.st_uid, s.st_gid) == (a.pw_uid, a.pw_gid)
    assert z.cli("status", "web", user=a.pw_uid).returncode == 0
    assert pwd.getpwuid(s.st_uid).pw_name == "zeitest-a"
