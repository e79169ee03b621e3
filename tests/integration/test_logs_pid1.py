"""`zei logs` against zei as PID 1: tails, merge of every source, --since, -f, and a follower
that stops reading while a service floods (zei stays responsive and bounded)."""
import json
import os
import select
import signal
import socket
import subprocess
import time

from conftest import ROOT, poll_until, q, zei_command, zei_env

COUNTER = q("sh", "-c", "i=0; while [ $i -lt 30 ]; do i=$((i+1)); echo line $i; done; "
                        "echo oops >&2; exec sleep 1000")


def test_tail_of_one_service(zei_run):
    z = zei_run(f"services:\n  web:\n    command: {COUNTER}\n")
    z.wait_log(r"^web\[err\] oops")
    r = z.cli("logs", "-n", "5", "web", check=True)
    assert r.stdout.splitlines() == ["web[out] line 27", "web[out] line 28", "web[out] line 29",
                                     "web[out] line 30", "web[err] oops"]
    rows = [json.loads(ln) for ln in z.cli("logs", "-n", "2", "--json", "web", check=True).stdout.splitlines()]
    assert [(x["source"], x["stream"], x["level"], x["msg"]) for x in rows] == [
        ("web", "stdout", "info", "line 30"), ("web", "stderr", "info", "oops")]
    assert rows[0]["time"].endswith("Z")
    r = z.cli("logs", "nope")
    assert r.returncode == 4 and "unknown service 'nope'" in r.stderr


def test_all_sources_merged_in_order(zei_run):
    z = zei_run(f"""
services:
  web:
    command: {COUNTER}
  other:
    command: {q("sh", "-c", "echo hello; exec sleep 1000")}
""")
    z.wait_log(r"^web\[err\] oops")
    z.wait_log(r"^other\[out\] hello")
    z.wait_log(r"ready: 2 long-running")
    got = z.cli("logs", "-n", "10000", check=True).stdout.splitlines()
    assert "other[out] hello" in got and "web[out] line 1" in got
    assert any(ln.startswith("zei[info] web: started (pid") for ln in got)
    written = z.log().splitlines()
    assert got == written[:len(got)]                 # the same lines, in the order zei wrote them
    only = z.cli("logs", "zei", check=True).stdout.splitlines()
    assert only and all(ln.startswith("zei[") for ln in only)
    timed = z.cli("logs", "-t", "-n", "1", "other", check=True).stdout
    assert timed.endswith(" other[out] hello\n") and timed[:4].isdigit()


def test_since(zei_run):
    z = zei_run(f"services:\n  web:\n    command: {q('sh', '-c', 'echo early; sleep 2; echo late; exec sleep 1000')}\n")
    z.wait_log(r"^web\[out\] late")
    assert z.cli("logs", "--since", "1s", "web", check=True).stdout == "web[out] late\n"
    assert z.cli("logs", "--since", "1m", "web", check=True).stdout == "web[out] early\nweb[out] late\n"
    assert z.cli("logs", "--since", "soon").returncode == 2


def read_until(stream, needle, timeout):
    """Lines read from a pipe until one contains needle (a deadline, never a blind wait)."""
    deadline, buf = time.monotonic() + timeout, b""
    while needle not in buf:
        left = deadline - time.monotonic()
        assert left > 0, f"no {needle!r} within {timeout}s; got {buf[-2000:]!r}"
        ready, _, _ = select.select([stream], [], [], left)
        if ready:
            chunk = os.read(stream.fileno(), 65536)
            assert chunk, f"EOF before {needle!r}; got {buf[-2000:]!r}"
            buf += chunk
    return buf


def test_follow_gets_new_lines_and_ctrl_c_exits_0(zei_run):
    z = zei_run(f"""
services:
  web:
    command: {q("sh", "-c", "echo first; sleep 1; i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.2; done")}
""")
    z.wait_log(r"^web\[out\] first")
    p = subprocess.Popen([*zei_command(), "--socket", z.sock, "logs", "-f", "-n", "1", "web"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=zei_env(), cwd=str(ROOT))
    try:
        got = read_until(p.stdout, b"web[out] tick 3\n", 15)
        assert got.startswith(b"web[out] first\n") and b"zei[" not in got
        p.send_signal(signal.SIGINT)
        assert p.wait(10) == 0
        assert b"Traceback" not in p.stderr.read()
    finally:
        p.kill()
        p.wait()


def test_follow_ends_when_zei_shuts_down(zei_run):
    z = zei_run(f"services:\n  web:\n    command: {q('sleep', '1000')}\n")
    z.wait_log(r"web: started")
    p = subprocess.Popen([*zei_command(), "--socket", z.sock, "logs", "-f"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=zei_env(), cwd=str(ROOT))
    try:
        read_until(p.stdout, b"web: started", 10)
        z.signal(signal.SIGTERM)
        read_until(p.stdout, b"web: stopped", 10)
        assert p.wait(10) == 0
        assert b"daemon closed the connection" in p.stderr.read()
    finally:
        p.kill()
        p.wait()


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(ln.split()[1]) for ln in f if ln.startswith("VmRSS:"))


def ask(path, payload, timeout=2.0):
    """One request, its reply and how long it took."""
    t0 = time.monotonic()
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall((json.dumps(payload) + "\n").encode())
        buf = b""
        while b"\n" not in buf:
            chunk = s.recv(65536)
            assert chunk
            buf += chunk
    return json.loads(buf.split(b"\n")[0]), time.monotonic() - t0


def test_a_follower_that_stops_reading(zei_run):
    flood = q("sh", "-c", "while :; do seq -f 'flood line %g of a chatty service' 1 500; sleep 0.01; done")
    z = zei_run(f"services:\n  chatty:\n    command: {flood}\n  quiet:\n    command: {q('sleep', '1000')}\n")
    z.wait_log(r"^chatty\[out\] flood line 500 ")
    slow = socket.socket(socket.AF_UNIX)
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.connect(z.sock)
    slow.sendall(b'{"cmd":"logs","follow":true,"lines":0,"services":["chatty"]}\n')
    try:
        rss = []
        t_end = time.monotonic() + 12.0               # past the 10 s idle timeout: a follower stays
        while time.monotonic() < t_end:
            for cmd in ("ping", "list"):
                reply, took = ask(z.sock, {"cmd": cmd})
                assert reply["ok"] and took < 1.0, (cmd, took)
            rss.append(rss_kib(z.host_pid))
            time.sleep(0.5)
        assert max(rss[len(rss) // 2:]) < rss[2] + 20_000, rss      # no growth with the backlog
        reply, _ = ask(z.sock, {"cmd": "logs", "services": ["chatty"], "lines": 10})
        assert len(reply["lines"]) == 10                              # the buffer still serves
        slow.settimeout(10)
        # The kernel's socket buffers take some lines before zei's own 64 KiB fills, so a
        # first marker may come with a small count; what the stall cost is their sum.
        buf, missed, tail = b"", 0, b""
        deadline = time.monotonic() + 15
        while missed <= 1000:
            assert time.monotonic() < deadline, (missed, buf[-1000:])
            chunk = slow.recv(65536)
            assert chunk, "the follower was closed"
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for ln in lines:
                if b'"missed":' in ln:
                    marker = json.loads(ln)
                    assert marker["msg"] == f"missed {marker['missed']} line(s)", marker
                    missed += marker["missed"]
                    tail = b""
                else:
                    tail += ln
        while b"flood line" not in tail + buf:        # and lines come again after the marker
            assert time.monotonic() < deadline, buf[-1000:]
            chunk = slow.recv(65536)
            assert chunk, "the follower was closed"
            buf += chunk
    finally:
        slow.close()
    poll_until(lambda: ask(z.sock, {"cmd": "ping"})[0]["ok"], 5, what="zei still answering")
