"""zei.shell.probes and zei.shell.notify against real processes and sockets, in a small loop
like the daemon's (one poll; SIGCHLD on a wakeup pipe; waitpid(-1, WNOHANG) -> exited())."""
from __future__ import annotations

import array
import http.server
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from zei.core.model import Healthcheck
from zei.shell import notify, privileges, probes, spawn, users

ROOT = Path(__file__).resolve().parents[2]
PATH_ENV = {"PATH": spawn.DEFAULT_PATH}


# ---- the loop ---------------------------------------------------------------------------
class Loop:
    def __init__(self):
        self.poller = select.poll()
        self.rfd, self.wfd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.old_handler = signal.signal(signal.SIGCHLD, lambda *a: None)
        self.old_wakeup = signal.set_wakeup_fd(self.wfd, warn_on_full_buffer=False)
        self.poller.register(self.rfd, select.POLLIN)
        self.devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        self.results = []             # (name, seq, ok, detail)
        self.reaped = {}              # pid -> (code, sig, consumed by probes)
        self.probes = probes.Probes(self.poller, privileges.Privileges({}), self.devnull,
                                    self.on_result)

    def on_result(self, name, seq, ok, detail):
        assert set(detail) == {"output", "exit_code", "error", "duration"}
        self.results.append((name, seq, ok, detail))

    def turn(self, limit):
        now = time.monotonic()
        deadline = self.probes.next_deadline()
        wait = limit if deadline is None else min(limit, max(0.0, deadline - now))
        for fd, ev in self.poller.poll(int(wait * 1000) + 1):
            if fd == self.rfd:
                while True:
                    try:
                        if not os.read(self.rfd, 4096):
                            break
                    except BlockingIOError:
                        break
            elif self.probes.owns(fd):
                self.probes.on_ready(fd, ev, time.monotonic())
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
            sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
            self.reaped[pid] = (code, sig, self.probes.exited(pid, code, sig, time.monotonic()))
        self.probes.tick(time.monotonic())

    def until(self, predicate, timeout=10.0, what="condition"):
        deadline = time.monotonic() + timeout
        while not predicate():
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}; "
                                     f"results so far: {self.results}")
            self.turn(min(left, 0.5))

    def check(self, name, check, seq=1, timeout=10.0, **kw):
        """Run one check to its result: (ok, detail)."""
        before = len(self.results)
        self.probes.start(name, seq, check, time.monotonic(), **kw)
        self.until(lambda: len(self.results) > before, timeout, f"the result of {name}")
        assert len(self.results) == before + 1, self.results[before:]
        _, got_seq, ok, detail = self.results[-1]
        assert got_seq == seq
        return ok, detail

    def close(self):
        self.probes.close_all()
        signal.set_wakeup_fd(self.old_wakeup)
        signal.signal(signal.SIGCHLD, self.old_handler)
        for fd in (self.rfd, self.wfd, self.devnull):
            os.close(fd)


@pytest.fixture
def loop():
    lp = Loop()
    yield lp
    killed = set(lp.probes.killed)
    lp.close()
    for pid in killed:                # close_all forgot them; they were SIGKILLed
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass


@pytest.fixture(scope="module")
def nobody():
    return users.resolve("nobody", None)


def exec_check(*argv, timeout=10.0):
    return Healthcheck(kind="exec", command=tuple(argv), timeout=timeout)


def sh(script, timeout=10.0):
    return exec_check("/bin/sh", "-c", script, timeout=timeout)


def gone(pid):
    """Neither running nor a zombie any more."""
    return not os.path.exists(f"/proc/{pid}")


# ---- exec -------------------------------------------------------------------------------
def test_exec_runs_as_the_service_user_with_its_env_cwd_and_own_session(loop, nobody):
    script = 'id -u; id -g; echo "$ZEI_T"; pwd; echo $$; cut -d" " -f6 /proc/$$/stat'
    ok, d = loop.check("web", sh(script), env=dict(PATH_ENV, ZEI_T="a b"), ident=nobody,
                       cwd="/usr")
    assert ok, d
    uid, gid, env, cwd, pid, sid = d["output"].splitlines()
    assert (int(uid), int(gid)) == (nobody.uid, nobody.gid)
    assert (env, cwd) == ("a b", "/usr")
    assert pid == sid                                   # setsid: its own session and group
    assert d["exit_code"] == 0 and d["error"] is None and 0 <= d["duration"] < 10


def test_exec_exit_1_fails_with_its_stdout_and_stderr(loop, nobody):
    ok, d = loop.check("db", sh("echo out; echo err >&2; exit 1"), env=PATH_ENV, ident=nobody)
    assert not ok
    assert d["output"] == "out\nerr\n"
    assert d["exit_code"] == 1 and d["error"] == "exit code 1"


def test_exec_killed_by_a_signal_fails(loop, nobody):
    ok, d = loop.check("db", sh("echo dying; kill -TERM $$"), env=PATH_ENV, ident=nobody)
    assert not ok and d["exit_code"] is None
    assert d["error"] == "killed by signal 15 (SIGTERM)" and d["output"] == "dying\n"


def test_exec_not_found_explains_like_docker(loop, nobody):
    ok, d = loop.check("db", exec_check("zei-no-such-check"), env=PATH_ENV, ident=nobody)
    assert not ok and d["exit_code"] is None
    assert d["error"] == ('exec "zei-no-such-check": executable file not found in PATH '
                          f'{spawn.DEFAULT_PATH} (ENOENT)')


def test_exec_bad_working_dir_fails(loop, nobody):
    ok, d = loop.check("db", exec_check("true"), env=PATH_ENV, ident=nobody,
                       cwd="/nonexistent-zei")
    assert not ok and d["error"].startswith("working_dir /nonexistent-zei: No such file"), d


def test_exec_empty_command_fails_inside_start(loop):
    loop.probes.start("x", 1, exec_check(), time.monotonic())
    assert [r[:3] for r in loop.results] == [("x", 1, False)]   # from within start()
    assert loop.probes.next_deadline() is None


def test_exec_output_over_4k_is_truncated(loop, nobody):
    ok, d = loop.check("big", sh("head -c 10000 /dev/zero | tr '\\0' a"), env=PATH_ENV,
                       ident=nobody)
    assert ok and d["output"] == "a" * 4096


def test_exec_writing_a_mebibyte_still_finishes(loop, nobody):
    ok, d = loop.check("chatty", sh("head -c 1048576 /dev/zero; echo done >&2"), env=PATH_ENV,
                       ident=nobody)
    assert ok, d
    assert d["output"] == "\0" * 4096


def test_exec_background_grandchild_holding_the_pipe_does_not_delay_the_result(loop, nobody):
    ok, d = loop.check("bg", sh("sleep 5 >/dev/null & echo $!; echo started"), env=PATH_ENV,
                       ident=nobody, timeout=4)
    assert ok and d["duration"] < 4, d
    grandchild = int(d["output"].split()[0])
    os.kill(grandchild, signal.SIGKILL)


@pytest.fixture
def subreaper():
    """Orphans come to this process (as they would to PID 1) so that the loop reaps them."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(36, 1, 0, 0, 0) != 0:             # PR_SET_CHILD_SUBREAPER
        pytest.skip(f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(ctypes.get_errno())}")
    yield
    libc.prctl(36, 0, 0, 0, 0)


def test_exec_timeout_kills_the_whole_group_and_swallows_the_exit(loop, nobody, subreaper):
    check = sh("sleep 60 & echo $!; exec sleep 61", timeout=1.0)
    t0 = time.monotonic()
    loop.probes.start("slow", 7, check, t0, env=PATH_ENV, ident=nobody)
    leader = loop.probes.flight["slow"].pid
    loop.until(lambda: loop.results, 5, "the timeout")
    (name, seq, ok, d), = loop.results
    assert (name, seq, ok) == ("slow", 7, False)
    assert d["error"] == "timed out after 1s" and d["exit_code"] is None
    assert 1.0 <= d["duration"] < 3 and time.monotonic() - t0 < 3
    grandchild = int(d["output"].split()[0])           # the output so far is kept
    loop.until(lambda: leader in loop.reaped and grandchild in loop.reaped, 5, "both reaped")
    assert loop.reaped[leader] == (None, signal.SIGKILL, True)      # swallowed by probes
    assert loop.reaped[grandchild] == (None, signal.SIGKILL, False)  # an orphan, not ours
    assert gone(leader) and gone(grandchild)
    assert not loop.probes.killed and loop.probes.next_deadline() is None
    assert len(loop.results) == 1


def test_cancel_in_flight_exec_leaves_no_zombie_and_no_result(loop, nobody):
    loop.probes.start("web", 1, exec_check("sleep", "60"), time.monotonic(), env=PATH_ENV,
                      ident=nobody)
    pid = loop.probes.flight["web"].pid
    loop.probes.cancel("web")
    assert loop.probes.next_deadline() is None
    loop.until(lambda: pid in loop.reaped, 5, "the cancelled check's exit")
    assert loop.reaped[pid] == (None, signal.SIGKILL, True)
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    assert gone(pid) and loop.results == [] and not loop.probes.killed


def test_a_new_start_cancels_the_check_in_flight(loop, nobody):
    loop.probes.start("web", 1, exec_check("sleep", "60"), time.monotonic(), env=PATH_ENV,
                      ident=nobody)
    first = loop.probes.flight["web"].pid
    ok, d = loop.check("web", exec_check("true"), seq=2, env=PATH_ENV, ident=nobody)
    assert ok
    loop.until(lambda: first in loop.reaped, 5, "the first check's exit")
    assert loop.reaped[first][2] is True
    assert [r[:3] for r in loop.results] == [("web", 2, True)]


def test_many_exec_checks_at_once(loop, nobody):
    for i in range(20):
        loop.probes.start(f"s{i}", i, sh(f"echo {i}; exit {i % 2}"), time.monotonic(),
                          env=PATH_ENV, ident=nobody)
    loop.until(lambda: len(loop.results) == 20, 20, "20 results")
    for name, seq, ok, d in loop.results:
        assert name == f"s{seq}" and ok == (seq % 2 == 0) and d["output"] == f"{seq}\n"
    assert not loop.probes.fds and not loop.probes.pids


# ---- http / tcp -------------------------------------------------------------------------
class Handler(http.server.BaseHTTPRequestHandler):
    seen = []

    def do_GET(self):
        Handler.seen.append((self.path, dict(self.headers)))
        code = {"/ok": 200, "/fail": 503, "/moved": 302}.get(self.path.split("?")[0], 404)
        self.send_response(code)
        if code == 302:
            self.send_header("Location", "/ok")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


class V6Server(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6


def serve(server_cls, host):
    srv = server_cls((host, 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


@pytest.fixture(scope="module")
def web():
    srv = serve(http.server.ThreadingHTTPServer, "127.0.0.1")
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def http_check(port, path="/ok", host="127.0.0.1", timeout=5.0):
    return Healthcheck(kind="http", host=host, port=port, path=path, timeout=timeout)


def tcp_check(port, host="127.0.0.1", timeout=5.0):
    return Healthcheck(kind="tcp", host=host, port=port, timeout=timeout)


def closed_port(family=socket.AF_INET, host="127.0.0.1"):
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("path, ok, status, error", [
    ("/ok", True, "HTTP/1.0 200 OK", None),
    ("/moved", True, "HTTP/1.0 302 Found", None),
    ("/fail", False, "HTTP/1.0 503 Service Unavailable", "HTTP 503 Service Unavailable"),
    ("/missing?x=1", False, "HTTP/1.0 404 Not Found", "HTTP 404 Not Found"),
])
def test_http_status_decides(loop, web, path, ok, status, error):
    Handler.seen.clear()
    got, d = loop.check("web", http_check(web, path))
    assert (got, d["output"], d["error"], d["exit_code"]) == (ok, status, error, None)
    (seen_path, headers), = Handler.seen
    assert seen_path == path
    assert headers["Host"] == f"127.0.0.1:{web}" and headers["User-Agent"] == "zei"
    assert headers["Connection"] == "close" and headers["Accept"] == "*/*"
    assert not loop.probes.fds


def test_http_server_that_never_answers_times_out(loop):
    with socket.socket() as listener:                   # the kernel accepts; nobody answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        ok, d = loop.check("web", http_check(listener.getsockname()[1], timeout=0.5))
    assert not ok and d["error"] == "timed out after 500ms" and 0.5 <= d["duration"] < 2
    assert not loop.probes.fds


def test_http_closed_port_is_refused(loop):
    ok, d = loop.check("web", http_check(closed_port()))
    assert not ok and d["error"] == "connection refused (ECONNREFUSED)"


def one_shot_server(reply):
    """A server that answers one connection with `reply` (raw bytes), then closes."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def run():
        conn, _ = listener.accept()
        with conn:
            try:
                conn.recv(4096)
                conn.sendall(reply)
            except OSError:                         # the check may hang up first
                pass
        listener.close()
    threading.Thread(target=run, daemon=True).start()
    return listener.getsockname()[1]


@pytest.mark.parametrize("reply, error", [
    (b"SSH-2.0-OpenSSH_9.2\r\n", "not an HTTP response: 'SSH-2.0-OpenSSH_9.2'"),
    (b"", "connection closed before the status line"),
    (b"HTTP/1.1 2000 Weird\r\n", "not an HTTP response: 'HTTP/1.1 2000 Weird'"),
    (b"x" * 5000, "no status line in the first 4096 bytes"),
])
def test_http_garbage_is_a_clear_failure(loop, reply, error):
    ok, d = loop.check("web", http_check(one_shot_server(reply)))
    assert not ok and d["error"] == error


def test_http_1_1_and_a_body_less_reply(loop):
    ok, d = loop.check("web", http_check(one_shot_server(b"HTTP/1.1 204 No Content\r\n\r\n")))
    assert ok and d["output"] == "HTTP/1.1 204 No Content"


def test_tcp_open_and_closed(loop, web):
    ok, d = loop.check("db", tcp_check(web))
    assert ok and d["error"] is None
    ok, d = loop.check("db", tcp_check(closed_port()))
    assert not ok and d["error"] == "connection refused (ECONNREFUSED)"
    assert not loop.probes.fds and loop.probes.next_deadline() is None


def test_a_bad_address_fails_inside_start_without_any_lookup(loop):
    loop.probes.start("db", 3, tcp_check(80, host="db.example"), time.monotonic())
    (name, seq, ok, d), = loop.results                  # from within start()
    assert (name, seq, ok) == ("db", 3, False) and d["error"] == "not an IP address: 'db.example'"
    loop.probes.start("db", 4, tcp_check(0), time.monotonic())
    assert loop.results[-1][2] is False and loop.results[-1][3]["error"] == "bad port 0"
    assert not loop.probes.flight and not loop.probes.fds


def test_ipv6(loop):
    try:
        srv = serve(V6Server, "::1")
    except OSError as e:
        pytest.skip(f"cannot bind [::1]: {e}")
    try:
        port = srv.server_address[1]
        Handler.seen.clear()
        ok, d = loop.check("web", http_check(port, host="::1"))
        assert ok and d["output"] == "HTTP/1.0 200 OK"
        assert Handler.seen[0][1]["Host"] == f"[::1]:{port}"
        ok, d = loop.check("web", tcp_check(port, host="::1"))
        assert ok
        ok, d = loop.check("web", tcp_check(closed_port(socket.AF_INET6, "::1"), host="::1"))
        assert not ok and d["error"] == "connection refused (ECONNREFUSED)"
    finally:
        srv.shutdown()
        srv.server_close()


def test_cancel_socket_check_gives_no_result(loop):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        loop.probes.start("web", 1, http_check(listener.getsockname()[1]), time.monotonic())
        loop.turn(0.05)
        loop.probes.cancel("web")
        assert not loop.probes.fds and loop.probes.next_deadline() is None
        loop.turn(0.05)
    assert loop.results == []


# ---- cost (printed, not asserted) -------------------------------------------------------
MEASURE = r"""
import json, os, select, signal, socket, sys, time
from zei.core.model import Healthcheck
from zei.shell import privileges, probes, spawn, users

N = int(sys.argv[1])
tcp_l, http_l = socket.socket(), socket.socket()
for s in (tcp_l, http_l):
    s.bind(("127.0.0.1", 0)); s.listen(64)
server = os.fork()
if server == 0:                    # a plain sequential server in its own process
    try:
        while True:
            r, _, _ = select.select([tcp_l, http_l], [], [])
            for s in r:
                c, _ = s.accept()
                if s is http_l:
                    c.recv(4096)
                    c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")
                c.close()
    finally:
        os._exit(0)
poller = select.poll()
rfd, wfd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
signal.signal(signal.SIGCHLD, lambda *a: None)
signal.set_wakeup_fd(wfd, warn_on_full_buffer=False)
poller.register(rfd, select.POLLIN)
devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
results = []
p = probes.Probes(poller, privileges.Privileges({}), devnull, lambda *r: results.append(r))
nobody = users.resolve("nobody", None)
env = {"PATH": spawn.DEFAULT_PATH}

def run(check):
    before = len(results)
    p.start("svc", 1, check, time.monotonic(), env=env, ident=nobody)
    while len(results) == before:
        for fd, ev in poller.poll(1000):
            if fd == rfd:
                try:
                    os.read(rfd, 4096)
                except BlockingIOError:
                    pass
            elif p.owns(fd):
                p.on_ready(fd, ev, time.monotonic())
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            p.exited(pid, os.waitstatus_to_exitcode(status), None, time.monotonic())
        p.tick(time.monotonic())
    assert results[-1][2], results[-1]

out = {}
checks = {"exec": Healthcheck(kind="exec", command=("true",), timeout=10),
          "tcp": Healthcheck(kind="tcp", host="127.0.0.1", port=tcp_l.getsockname()[1], timeout=10),
          "http": Healthcheck(kind="http", host="127.0.0.1", port=http_l.getsockname()[1], timeout=10)}
for kind, check in checks.items():
    run(check)                                   # warm up
    t0, w0 = time.process_time(), time.monotonic()
    for _ in range(N):
        run(check)
    out[kind] = {"cpu_ms": (time.process_time() - t0) * 1000 / N,
                 "wall_ms": (time.monotonic() - w0) * 1000 / N}
with open("/proc/self/status") as f:
    out["rss_kb"] = int([l for l in f if l.startswith("VmRSS:")][0].split()[1])
out["modules"] = len(sys.modules)
os.kill(server, signal.SIGKILL)
os.waitpid(server, 0)
print(json.dumps(out))
"""


def test_cost_per_check_is_printed(capsys):
    r = subprocess.run([sys.executable, "-c", MEASURE, "200"], capture_output=True, text=True,
                       cwd=str(ROOT), env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=120)
    assert r.returncode == 0, r.stderr
    cost = json.loads(r.stdout)
    with capsys.disabled():
        print("\nPID 1-side cost per check (200 each, a fresh interpreter):",
              ", ".join(f"{k} {v['cpu_ms']:.3f} ms CPU ({v['wall_ms']:.2f} ms wall)"
                        for k, v in cost.items() if isinstance(v, dict)),
              f"; RSS {cost['rss_kb']} kB, {cost['modules']} modules")
    for kind in ("exec", "tcp", "http"):
        assert cost[kind]["cpu_ms"] > 0


# ---- notify -----------------------------------------------------------------------------
class Notified:
    def __init__(self):
        self.poller = select.poll()
        self.messages, self.rejects = [], []
        self.ns = notify.NotifySockets(self.poller, lambda n, f: self.messages.append((n, f)),
                                       lambda n, pid: self.rejects.append((n, pid)))

    def pump(self, predicate, timeout=10.0, what="condition"):
        deadline = time.monotonic() + timeout
        while not predicate():
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {what}: {self.messages} "
                                     f"{self.rejects}")
            for fd, ev in self.poller.poll(int(min(left, 0.5) * 1000) + 1):
                assert self.ns.owns(fd)
                self.ns.on_ready(fd, ev, time.monotonic())

    def drain(self):
        """Handle whatever is queued now."""
        for fd, ev in self.poller.poll(0):
            self.ns.on_ready(fd, ev, time.monotonic())


@pytest.fixture
def notified():
    n = Notified()
    yield n
    n.ns.close_all()


def raw(address):
    return "\0" + address[1:]


def send(address, payload, fds=()):
    """Non-blocking: the receiver queues only net.unix.max_dgram_qlen datagrams (often 10)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_NONBLOCK) as s:
        anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
        s.sendmsg([payload], anc, 0, raw(address))


def fork(body):
    """A child running body() in a new session (like a spawned service); exit code = its return."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.setsid()
            code = body()
        finally:
            os._exit(code)
    return pid


def wait_child(pid):
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def barrier_send(address, payload):
    """sd_notify_barrier: pass a pipe's write end and wait until the receiver closes it."""
    r, w = os.pipe()
    send(address, payload, [w])
    os.close(w)
    p = select.poll()
    p.register(r, select.POLLIN)
    return 0 if p.poll(10_000) else 3


def count_fds():
    return len(os.listdir("/proc/self/fd"))


def test_address_is_abstract_unique_and_kept(notified):
    a = notified.ns.address("web")
    assert a.startswith(f"@zei-notify/{os.getpid()}/") and a.endswith("/web")
    assert len(a.split("/")[2]) == 16
    assert notified.ns.address("web") == a and notified.ns.address("db") != a
    long = notified.ns.address("x" * 200)
    assert len(long.encode()) == 108 and set(long.split("/")[3]) == {"x"}     # sun_path: 108
    notified.ns.close("web")
    assert notified.ns.address("web") != a


def test_the_service_and_a_grandchild_in_its_session_are_accepted(notified):
    addr = notified.ns.address("web")
    go_r, go_w = os.pipe()

    def service():
        os.close(go_w)
        send(addr, b"READY=1\n")
        gc = os.fork()
        if gc == 0:
            os._exit(barrier_send(addr, b"STATUS=x"))
        code = wait_child(gc)
        os.read(go_r, 1)
        return code
    pid = fork(service)
    notified.ns.set_pid("web", pid)
    try:
        notified.pump(lambda: len(notified.messages) == 2, what="two messages")
    finally:
        os.close(go_w)
        code = wait_child(pid)
    assert notified.messages == [("web", {"READY": "1"}), ("web", {"STATUS": "x"})]
    assert code == 0                         # the barrier's fd was closed by the receiver
    assert notified.rejects == [] and notified.ns.rejected == 0
    os.close(go_r)


def test_senders_outside_the_session_are_rejected(notified):
    addr = notified.ns.address("web")
    send(addr, b"READY=1")                   # nobody set yet
    notified.pump(lambda: notified.rejects, what="a reject")
    go_r, go_w = os.pipe()

    def service():
        os.close(go_w)
        os.read(go_r, 1)
        return 0

    def intruder():
        os.close(go_w)
        send(addr, b"READY=1\nSTATUS=fake")
        os.read(go_r, 1)
        return 0
    svc = fork(service)
    other = fork(intruder)
    notified.ns.set_pid("web", svc)
    try:
        send(addr, b"READY=1")               # this very process: not in the service's session
        notified.pump(lambda: len(notified.rejects) == 3, what="three rejects")
    finally:
        os.close(go_w)
        wait_child(svc)
        wait_child(other)
    assert notified.messages == []
    assert sorted(notified.rejects) == sorted([("web", os.getpid()), ("web", os.getpid()),
                                               ("web", other)])
    assert notified.ns.rejected == 3
    os.close(go_r)


def test_passed_fds_are_closed_accepted_or_not(notified):
    addr = notified.ns.address("self")
    r, w = os.pipe()
    try:
        before = count_fds()
        send(addr, b"FDSTORE=1\nFDNAME=x", [r, w, r])
        notified.pump(lambda: notified.rejects, what="the reject")
        assert count_fds() == before
        notified.ns.set_pid("self", os.getpid())
        send(addr, b"FDSTORE=1\nFDNAME=x", [r, w, r])
        notified.pump(lambda: notified.messages, what="the message")
        assert count_fds() == before
        assert notified.messages == [("self", {"FDSTORE": "1", "FDNAME": "x"})]
    finally:
        os.close(r)
        os.close(w)


def test_truncated_dropped_malformed_lines_ignored(notified):
    addr = notified.ns.address("self")
    notified.ns.set_pid("self", os.getpid())
    send(addr, b"STATUS=" + b"x" * 5000)
    send(addr, b"READY=1\ngarbage\n=x\n\nSTATUS=a=b\n\xff=1\nBAD KEY=1\nX-Y=\xff")
    send(addr, b"nothing useful")
    send(addr, b"MAINPID=1")
    notified.pump(lambda: len(notified.messages) == 2, what="two messages")
    assert notified.messages == [
        ("self", {"READY": "1", "STATUS": "a=b", "\ufffd": "1", "BAD KEY": "1", "X-Y": "\ufffd"}),
        ("self", {"MAINPID": "1"})]
    assert notified.ns.rejected == 1


def test_a_bounded_number_of_datagrams_per_wakeup(notified, monkeypatch):
    monkeypatch.setattr(notify, "MAX_PER_WAKEUP", 3)     # the queue holds too few for 16
    addr = notified.ns.address("self")
    notified.ns.set_pid("self", os.getpid())
    for i in range(8):
        send(addr, f"STATUS={i}".encode())
    notified.drain()
    assert len(notified.messages) == 3
    notified.pump(lambda: len(notified.messages) == 8, what="all 8")
    assert [f["STATUS"] for _, f in notified.messages] == [str(i) for i in range(8)]


def test_send_up_to_a_path_and_an_abstract_socket(tmp_path):
    path = str(tmp_path / "notify.sock")
    name = f"zei-test-{os.getpid()}-{os.urandom(4).hex()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as ps, \
            socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as ab:
        ps.bind(path)
        ab.bind("\0" + name)
        assert notify.send_up(path, "READY=1") is None
        assert notify.send_up("@" + name, "READY=1\nSTATUS=up") is None
        assert ps.recv(4096) == b"READY=1"
        assert ab.recv(4096) == b"READY=1\nSTATUS=up"
    assert "No such file or directory" in notify.send_up(str(tmp_path / "missing"), "READY=1")
    assert "Connection refused" in notify.send_up("@" + name, "READY=1")
    assert notify.send_up("", "READY=1") == "NOTIFY_SOCKET is empty"
    assert "unsupported" in notify.send_up("vsock:2:999", "READY=1")
    assert notify.send_up("/x\0y", "READY=1") is not None
