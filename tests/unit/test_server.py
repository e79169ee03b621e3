"""The control socket server with real sockets and a real poll(), driven like zei.shell.daemon does.

Each `turn()` is one iteration of the daemon's loop: poll (timeout from next_deadline()),
on_ready() for every ready descriptor, then expire(). The handler records each request and
either answers at once (as list/status/ping are) or leaves it pending (as stop/restart are)
for the test to answer with reply(token, payload), exactly once per token.
"""
from __future__ import annotations

import json
import os
import pwd
import select
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from zei.shell import privileges as privileges_mod
from zei.core import protocol
from zei.shell import server as srv
from zei.shell.server import Server

MAX_PENDING = getattr(srv, "MAX_PENDING", 16)
FRAMES_PER_TURN = getattr(srv, "FRAMES_PER_TURN", 16)
ROOT = Path(__file__).resolve().parents[2]

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (ownership and identities)")


class Out:
    def __init__(self):
        self.events = []

    def event(self, level, source, message, fields=()):
        self.events.append((level, source, message))


def plain_root():
    return privileges_mod.Privileges(environ={})


def app_nobody():
    return privileges_mod.Privileges(environ={"ZEI_APP_USER": "nobody"})


class Harness:
    """A Server plus the daemon's side of the loop."""

    def __init__(self, path, answer=None, priv=None):
        self.path = str(path)
        self.poller = select.poll()
        self.requests = []                     # (request, token), in the order handled
        self.answer = answer                   # request -> payload (answer at once) or None
        self.out = Out()
        self.server = Server(self.path, self.poller, priv or plain_root(), self.out, self.handle)
        self.turns = 0

    def handle(self, request, token):
        self.requests.append((request, token))
        if self.answer is not None:
            payload = self.answer(request)
            if payload is not None:
                self.server.reply(token, payload)

    def turn(self, timeout_ms=10):
        deadline = self.server.next_deadline()
        if deadline is not None:
            timeout_ms = max(0, min(timeout_ms, int((deadline - time.monotonic()) * 1000 + 0.999)))
        ready = self.poller.poll(timeout_ms)
        now = time.monotonic()
        for fd, ev in ready:
            self.server.on_ready(fd, ev, now)
        self.server.expire(time.monotonic())
        self.turns += 1
        return ready

    def run_until(self, predicate, timeout=5.0, what="condition"):
        end = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > end:
                raise AssertionError(f"timed out waiting for {what}")
            self.turn()

    def settle(self, turns=50):
        """Run turns until nothing is ready for a few turns in a row (or `turns` ran)."""
        quiet = 0
        for _ in range(turns):
            quiet = quiet + 1 if not self.turn(timeout_ms=5) else 0
            if quiet >= 3:
                return

    def connect(self):
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.connect(self.path)
        c.settimeout(5)
        before = len(self.server.conns)
        self.run_until(lambda: len(self.server.conns) > before, what="accept")
        return c

    def read_replies(self, c, count, timeout=5.0):
        """`count` reply lines from client `c`, running the loop while waiting."""
        c.setblocking(False)
        buf = b""
        end = time.monotonic() + timeout
        while buf.count(b"\n") < count:
            try:
                chunk = c.recv(65536)
                if not chunk:
                    break
                buf += chunk
                continue
            except BlockingIOError:
                pass
            if time.monotonic() > end:
                break
            self.turn(timeout_ms=5)
        c.settimeout(5)
        lines = buf.split(b"\n")[:-1]
        return [json.loads(x) for x in lines]

    def close(self):
        self.server.close()



@pytest.fixture
def harness(tmp_path):
    made = []

    def make(answer=None, path=None, priv=None):
        h = Harness(path or tmp_path / "run" / "zei.sock", answer, priv)
        made.append(h)
        return h
    yield make
    for h in made:
        h.close()


def pong(request):
    return {"ok": True, "echo": request.get("n")} if request["cmd"] in ("ping", "list", "status") else None


def line(obj):
    return protocol.encode(obj)


def send_all_nonblocking(c, data, seconds, harness=None):
    """Send as much of `data` as the peer accepts within `seconds`, running the loop."""
    c.setblocking(False)
    view = memoryview(data)
    end = time.monotonic() + seconds
    while view and time.monotonic() < end:
        try:
            view = view[c.send(view):]
        except BlockingIOError:
            if harness is not None:
                harness.turn(timeout_ms=5)
            else:
                time.sleep(0.005)
    c.settimeout(5)
    return len(data) - len(view)


# ---- the basics --------------------------------------------------------------------------

def test_requests_are_answered_in_order(harness):
    h = harness(answer=pong)
    c = h.connect()
    c.sendall(b"".join(line({"cmd": "ping", "n": i}) for i in range(50)))
    replies = h.read_replies(c, 50)
    assert [r["echo"] for r in replies] == list(range(50))


def test_bad_request_gets_an_error_and_the_connection_stays(harness):
    h = harness(answer=pong)
    c = h.connect()
    c.sendall(b"nonsense\n" + line({"cmd": "ping", "n": 1}))
    bad, good = h.read_replies(c, 2)
    assert bad == {"ok": False, "code": "bad-request", "error": "not a JSON request"}
    assert good["echo"] == 1


# ---- defect 5: a hung-up client must not make poll() spin -------------------------------

def test_hung_up_client_with_a_pending_request_is_not_polled(harness):
    h = harness()                                       # nothing answered: stop pending
    c = h.connect()
    c.sendall(line({"cmd": "stop", "service": "web"}))
    c.close()
    h.run_until(lambda: h.requests, what="the stop request")
    h.settle()
    (request, token), = h.requests
    conn_fds = {conn.fd for conn in h.server.conns.values()}
    spinning = [(fd, ev) for fd, ev in h.poller.poll(0) if fd in conn_fds]
    assert spinning == [], "poll() keeps reporting the hung-up client (POLLHUP spins PID 1)"
    h.server.reply(token, {"ok": True, "message": "web stopped"})
    h.settle()
    assert h.server.conns == {}                         # the reply was dropped, the fd closed


def test_half_closed_client_still_gets_its_reply(harness):
    h = harness()
    c = h.connect()
    c.sendall(line({"cmd": "stop", "service": "web"}))
    c.shutdown(socket.SHUT_WR)                          # done sending, still reading
    h.run_until(lambda: h.requests, what="the stop request")
    h.settle()
    conn_fds = {conn.fd for conn in h.server.conns.values()}
    assert [fd for fd, _ in h.poller.poll(0) if fd in conn_fds] == []
    h.server.reply(h.requests[0][1], {"ok": True, "message": "web stopped"})
    assert h.read_replies(c, 1) == [{"ok": True, "message": "web stopped"}]
    h.run_until(lambda: not h.server.conns, what="the connection to close")
    assert c.recv(10) == b""


# ---- defect 10: replies are tied to their connection, not to an fd number ----------------

def test_a_reply_for_a_gone_connection_never_touches_another(harness):
    h = harness(answer=pong)
    a = h.connect()
    # A pending stop, then a line that gets an error while the client is gone: the
    # connection ends with a reply still owed to it.
    a.sendall(line({"cmd": "stop", "service": "web"}) + b"garbage\n")
    a.close()
    h.run_until(lambda: h.requests, what="the stop request")
    h.settle()
    token = h.requests[0][1]
    b = h.connect()                                     # may get a's old fd number
    h.server.reply(token, {"ok": True, "message": "web stopped"})
    b.sendall(line({"cmd": "ping", "n": 7}))
    assert h.read_replies(b, 1) == [{"ok": True, "echo": 7}]
    h.server.reply(token, {"ok": True, "message": "twice"})   # a stray second reply: ignored
    b.sendall(line({"cmd": "ping", "n": 8}))
    assert h.read_replies(b, 1) == [{"ok": True, "echo": 8}]


def test_reply_after_server_close_is_ignored(harness):
    h = harness()
    c = h.connect()
    c.sendall(line({"cmd": "stop", "service": "web"}))
    h.run_until(lambda: h.requests, what="the stop request")
    h.server.close()
    h.server.reply(h.requests[0][1], {"ok": True})      # no exception, nothing sent
    assert c.recv(10) == b""


# ---- defect 6: every per-client buffer is bounded ----------------------------------------

BIG = "x" * 10_000                                      # a reply the size of a `list`


def test_pipelining_client_that_never_reads_is_stopped_not_buffered(harness):
    h = harness(answer=lambda r: {"ok": True, "n": r["n"], "pad": BIG})
    c = h.connect()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    total = 20000
    data = b"".join(line({"cmd": "list", "n": i}) for i in range(total))
    sent = send_all_nonblocking(c, data, 1.5, harness=h)
    h.settle(200)
    handled = len(h.requests)
    conn, = h.server.conns.values()
    assert sent < len(data), "zei kept reading a client that reads none of its replies"
    assert handled < 300, f"{handled} requests handled for a client that reads nothing"
    assert len(conn.out) <= 512 * 1024
    assert len(conn.decoder.buf) <= protocol.MAX_REQUEST + getattr(srv, "RECV_CHUNK", 4096)
    # Once the client reads, everything is answered, in order.
    rest = memoryview(data)[sent:]
    got, buf = [], b""
    c.setblocking(False)
    end = time.monotonic() + 30
    while len(got) < total and time.monotonic() < end:
        try:
            rest = rest[c.send(rest):] if rest else rest
        except BlockingIOError:
            pass
        try:
            buf += c.recv(1 << 20)
            *done, buf = buf.split(b"\n")
            got += [json.loads(x)["n"] for x in done]
        except BlockingIOError:
            h.turn(timeout_ms=5)
    assert got == list(range(total))


def test_requests_in_flight_per_client_are_bounded(harness):
    h = harness()                                       # stop/restart: answered later
    c = h.connect()
    c.sendall(b"".join(line({"cmd": "stop", "service": f"s{i}"}) for i in range(100)))
    h.settle()
    assert len(h.requests) == MAX_PENDING
    for _, token in h.requests[:4]:
        h.server.reply(token, {"ok": True})
    h.settle()
    assert len(h.requests) == MAX_PENDING + 4
    assert len(h.read_replies(c, 4)) == 4
    while len(h.requests) < 100:
        answered = len(h.requests)
        for _, token in h.requests[answered - MAX_PENDING:answered]:
            h.server.reply(token, {"ok": True})
        h.settle()
        assert len(h.requests) > answered
    for _, token in h.requests[-MAX_PENDING:]:
        h.server.reply(token, {"ok": True})
    assert [r["ok"] for r in h.read_replies(c, 96)] == [True] * 96
    assert [r["service"] for r, _ in h.requests] == [f"s{i}" for i in range(100)]


def test_request_too_long_is_answered_and_the_connection_closed_even_with_a_reply_pending(harness):
    h = harness()
    c = h.connect()
    c.sendall(line({"cmd": "stop", "service": "web"}) + b"x" * (protocol.MAX_REQUEST + 100))
    h.run_until(lambda: h.requests, what="the stop request")
    replies = h.read_replies(c, 1)
    assert replies == [{"ok": False, "code": "bad-request",
                        "error": f"request too long (limit {protocol.MAX_REQUEST} bytes)"}]
    c.setblocking(False)
    end = time.monotonic() + 3
    while True:
        try:
            assert c.recv(100) == b"", "more than the error after `request too long`"
            break
        except BlockingIOError:
            assert time.monotonic() < end, "the connection stays open after `request too long`"
            h.turn(timeout_ms=5)
    h.server.reply(h.requests[0][1], {"ok": True})     # dropped: the connection is gone
    h.settle()
    assert h.server.conns == {}


def test_one_client_cannot_monopolise_a_wakeup(harness):
    h = harness(answer=pong)
    a = h.connect()
    b = h.connect()
    a.sendall(b"".join(line({"cmd": "ping", "n": i}) for i in range(1000)))
    b.sendall(line({"cmd": "status", "n": "b"}))
    socks = [conn.sock for conn in h.server.conns.values()]
    end = time.monotonic() + 2
    while len(select.select(socks, [], [], 0.01)[0]) < 2:   # both have data before the poll
        assert time.monotonic() < end, "the requests did not arrive"
    h.turn(timeout_ms=100)
    from_a = [r for r, _ in h.requests if r["cmd"] == "ping"]
    from_b = [r for r, _ in h.requests if r["cmd"] == "status"]
    assert len(from_a) <= FRAMES_PER_TURN and from_b == [{"cmd": "status", "n": "b"}]
    # The rest of a's requests are worked off without a's sending anything more.
    assert h.server.next_deadline() is not None and h.server.next_deadline() <= time.monotonic()
    replies = h.read_replies(a, 1000)
    assert [r["echo"] for r in replies] == list(range(1000))


def test_a_client_that_stops_reading_is_dropped_at_the_idle_deadline(harness, monkeypatch):
    monkeypatch.setattr(srv, "IDLE_TIMEOUT", 0.3)
    h = harness(answer=lambda r: {"ok": True, "pad": BIG})
    c = h.connect()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    send_all_nonblocking(c, line({"cmd": "list"}) * 2000, 0.5, harness=h)
    h.run_until(lambda: not h.server.conns, timeout=5, what="the idle client to be dropped")


def test_output_buffer_is_a_bytearray_not_copied_per_send(harness):
    h = harness(answer=pong)
    c = h.connect()
    conn, = h.server.conns.values()
    assert isinstance(conn.out, bytearray)


# ---- defect 2: the socket directory ------------------------------------------------------

def start(path, priv=None):
    return Server(str(path), select.poll(), priv or plain_root(), Out(), lambda r, t: None)


@needs_root
@pytest.mark.parametrize("mode", [0o777, 0o770, 0o702, 0o720])
def test_directory_writable_by_others_is_refused(tmp_path, mode):
    d = tmp_path / "run"
    d.mkdir()
    d.chmod(mode)
    with pytest.raises(OSError) as e:
        start(d / "zei.sock")
    assert str(e.value) == (f"socket directory {d} is writable by group or others "
                            f"(mode {mode:04o}); make it 0700 or remove it")
    assert not (d / "zei.sock").exists()


@needs_root
def test_symlinked_directory_is_refused(tmp_path):
    real = tmp_path / "elsewhere"
    real.mkdir(mode=0o700)
    (tmp_path / "run").symlink_to(real)
    with pytest.raises(OSError) as e:
        start(tmp_path / "run" / "zei.sock")
    assert str(e.value) == f"socket directory {tmp_path / 'run'} is a symbolic link; refusing it"
    assert list(real.iterdir()) == []


@needs_root
def test_directory_owned_by_someone_else_is_refused(tmp_path):
    d = tmp_path / "run"
    d.mkdir(mode=0o700)
    os.chown(d, 12345, 12345)
    with pytest.raises(OSError) as e:
        start(d / "zei.sock")
    assert str(e.value) == f"socket directory {d} is owned by uid 12345, not by root or the app identity"


@needs_root
def test_a_world_writable_parent_is_fine_the_socket_directory_is_made_private(tmp_path):
    p = tmp_path / "open"                    # like a Kubernetes emptyDir mounted at /run
    p.mkdir()
    p.chmod(0o777)
    srv = start(p / "run" / "zei.sock")
    try:
        assert stat.S_IMODE(os.stat(p / "run").st_mode) == 0o700
    finally:
        srv.close()


@needs_root
def test_parent_owned_by_someone_else_is_refused(tmp_path):
    p = tmp_path / "theirs"
    p.mkdir(mode=0o755)
    os.chown(p, 12345, 12345)
    with pytest.raises(OSError) as e:
        start(p / "run" / "zei.sock")
    assert f"{p} is owned by uid 12345" in str(e.value)
    assert not (p / "run").exists()


@needs_root
def test_shared_sticky_directory_is_accepted(tmp_path):
    shared = tmp_path / "tmp"
    shared.mkdir()
    shared.chmod(0o1777)                                # like /tmp: others cannot remove our entries
    s = start(shared / "zei.sock")
    try:
        assert stat.S_ISSOCK(os.lstat(shared / "zei.sock").st_mode)
    finally:
        s.close()
    assert not (shared / "zei.sock").exists()


@needs_root
def test_root_owned_symlink_in_a_trusted_parent_is_followed(tmp_path):
    (tmp_path / "real").mkdir(mode=0o755)
    (tmp_path / "var").mkdir(mode=0o755)
    (tmp_path / "var" / "run").symlink_to("../real")   # like /var/run -> /run
    s = start(tmp_path / "var" / "run" / "zei" / "zei.sock")
    try:
        st = os.lstat(tmp_path / "real" / "zei")
        assert stat.S_ISDIR(st.st_mode) and st.st_mode & 0o777 == 0o700
        assert stat.S_ISSOCK(os.lstat(tmp_path / "real" / "zei" / "zei.sock").st_mode)
    finally:
        s.close()


@needs_root
def test_symlink_owned_by_someone_else_is_not_followed(tmp_path):
    shared = tmp_path / "tmp"
    shared.mkdir()
    shared.chmod(0o1777)
    (tmp_path / "real").mkdir(mode=0o755)
    (shared / "link").symlink_to(tmp_path / "real")
    os.lchown(shared / "link", 12345, 12345)
    with pytest.raises(OSError) as e:
        start(shared / "link" / "zei" / "zei.sock")
    assert "symbolic link" in str(e.value) and "uid 12345" in str(e.value)
    assert not (tmp_path / "real" / "zei").exists()


@needs_root
def test_stale_socket_is_replaced_anything_else_refused(tmp_path):
    d = tmp_path / "run"
    d.mkdir(mode=0o700)
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(d / "zei.sock"))
    stale.close()
    s = start(d / "zei.sock")
    s.close()
    target = tmp_path / "precious"
    target.write_text("keep")
    (d / "zei.sock").symlink_to(target)
    with pytest.raises(OSError) as e:
        start(d / "zei.sock")
    assert str(e.value) == f"{d / 'zei.sock'} exists and is not a socket; refusing to replace it"
    assert target.read_text() == "keep" and stat.S_IMODE(target.stat().st_mode) == 0o644
    (d / "zei.sock").unlink()
    (d / "zei.sock").write_text("")
    with pytest.raises(OSError):
        start(d / "zei.sock")


@needs_root
def test_socket_is_made_without_chmod_or_chown_by_path(tmp_path, monkeypatch):
    """The socket and a new directory are created right (umask, identity) or fixed up
    through a descriptor: nothing a writer of the directory could swap is chmod'ed."""
    def no_path(real):
        def guard(target, *a, **kw):
            if not isinstance(target, int):
                raise AssertionError(f"{real.__name__}({target!r}) by path")
            return real(target, *a, **kw)
        return guard
    for name in ("chmod", "chown", "lchown"):
        monkeypatch.setattr(os, name, no_path(getattr(os, name)))
    nobody = pwd.getpwnam("nobody")
    s = start(tmp_path / "run" / "zei.sock", priv=app_nobody())
    try:
        monkeypatch.undo()
        d = os.lstat(tmp_path / "run")
        assert (d.st_uid, d.st_gid, stat.S_IMODE(d.st_mode)) == (nobody.pw_uid, nobody.pw_gid, 0o700)
        sk = os.lstat(tmp_path / "run" / "zei.sock")
        assert stat.S_ISSOCK(sk.st_mode) and stat.S_IMODE(sk.st_mode) == 0o666
        assert sk.st_uid == nobody.pw_uid                # created by the app identity itself
        assert os.geteuid() == 0 and os.getegid() == 0 and os.umask(0o022) == 0o022
    finally:
        s.close()
    assert not (tmp_path / "run" / "zei.sock").exists()


@needs_root
def test_existing_app_directory_gets_a_socket_owned_by_the_app(tmp_path):
    nobody = pwd.getpwnam("nobody")
    d = tmp_path / "run"
    d.mkdir(mode=0o700)
    os.chown(d, nobody.pw_uid, nobody.pw_gid)
    s = start(d / "zei.sock", priv=app_nobody())
    try:
        assert os.lstat(d / "zei.sock").st_uid == nobody.pw_uid
    finally:
        s.close()


@needs_root
def test_close_removes_only_its_own_socket(tmp_path):
    d = tmp_path / "run"
    s = start(d / "zei.sock")
    os.unlink(d / "zei.sock")
    (d / "zei.sock").write_text("someone else's")
    s.close()
    assert (d / "zei.sock").read_text() == "someone else's"


@needs_root
def test_plain_non_root_uses_its_own_directory(open_tmp):
    """No root at all: a directory of the current euid is fine."""
    nobody = pwd.getpwnam("nobody")
    tmp_path = open_tmp
    base = tmp_path / "base"
    base.mkdir(mode=0o755)
    os.chown(base, nobody.pw_uid, nobody.pw_gid)
    code = (
        "import select, sys\n"
        "from zei.shell.privileges import Privileges\n"
        "from zei.shell.server import Server\n"
        "class Out:\n    def event(self, *a): pass\n"
        "p = Privileges(environ={})\n"
        "assert not p.root and not p.cycling\n"
        "s = Server(sys.argv[1], select.poll(), p, Out(), lambda r, t: None)\n"
        "s.close()\n"
        "try:\n"
        "    Server(sys.argv[2], select.poll(), p, Out(), lambda r, t: None)\n"
        "except OSError as e:\n"
        "    print(e)\n"
    )
    elsewhere = tmp_path / "rootonly"
    elsewhere.mkdir(mode=0o755)
    r = subprocess.run(["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups",
                        sys.executable, "-c", code, str(base / "run" / "zei.sock"),
                        str(elsewhere / "zei.sock")],
                       capture_output=True, text=True, env={"PYTHONPATH": str(ROOT)}, cwd="/")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"cannot create the control socket in {elsewhere}: Permission denied"
    st = os.lstat(base / "run")
    assert st.st_uid == nobody.pw_uid and stat.S_IMODE(st.st_mode) == 0o700


# ---- the other bounds ----------------------------------------------------------------------

def test_clients_still_owed_a_reply_count_against_max_clients(harness, monkeypatch):
    monkeypatch.setattr(srv, "MAX_CLIENTS", 2)
    h = harness()
    for _ in range(2):
        c = h.connect()
        c.sendall(line({"cmd": "stop", "service": "web"}))
        c.close()
    h.run_until(lambda: len(h.requests) == 2, what="both stops")
    h.settle()
    late = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    late.connect(h.path)
    late.settimeout(5)
    h.settle()
    assert json.loads(late.recv(4096)) == {"ok": False, "error": "too many clients; try again"}
    for _, token in h.requests:
        h.server.reply(token, {"ok": True})
    h.settle()
    assert h.server.conns == {}
    h.connect()                                         # room again


def test_a_reply_over_the_size_limit_becomes_an_error(harness):
    h = harness(answer=lambda r: {"ok": True, "pad": "x" * (protocol.MAX_REPLY + 1)})
    c = h.connect()
    c.sendall(line({"cmd": "list"}))
    reply, = h.read_replies(c, 1)
    assert reply["ok"] is False and reply["error"].startswith("reply too large (")
