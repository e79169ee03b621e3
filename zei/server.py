"""The control socket, served inside the main loop and never blocking it.

Every descriptor is non-blocking and registered with the daemon's poller. Each connection
has its own input decoder (bounded, zei.protocol) and output buffer, and an idle deadline:
a client that sends half a request and stalls is closed at its deadline, one that sends
garbage gets a one-line error, one that floods is cut off at the size limit. While a reply
is pending (a restart in progress) the connection has no idle deadline.

Authorisation: the peer's credentials (SO_PEERCRED) must be root or the app identity's uid.
Anyone else gets {"ok": false, "error": "permission denied ..."} and a log line.

The socket directory is created 0700 and owned by the app identity, so by default only
the app user and root can reach the socket at all; the peer check holds even where the
directory is shared (--socket in a common directory).
"""
from __future__ import annotations

import errno
import itertools
import os
import select
import socket
import stat
import struct
import time

from zei import protocol

IDLE_TIMEOUT = 10.0
MAX_CLIENTS = 64
ACCEPT_BURST = 16
POLL_IN = select.POLLIN
POLL_OUT = select.POLLOUT


class Conn:
    __slots__ = ("sock", "fd", "decoder", "out", "deadline", "pending", "closing", "uid", "pid")

    def __init__(self, sock, now, uid, pid):
        self.sock, self.fd = sock, sock.fileno()
        self.decoder = protocol.Decoder()
        self.out = b""
        self.deadline = now + IDLE_TIMEOUT
        self.pending = 0
        self.closing = False
        self.uid, self.pid = uid, pid


class Server:
    def __init__(self, path, poller, privileges, out, handler):
        self.path = path
        self.poller = poller
        self.out = out
        self.handler = handler
        self.allowed = {0} | ({privileges.app_uid} if privileges.app_uid is not None else set())
        self.conns = {}
        self.ids = itertools.count(1)
        self.by_id = {}
        owner = (privileges.app_uid, privileges.app_gid) if privileges.app_uid is not None else None
        self.sock = _listen(path, owner)
        self.fd = self.sock.fileno()
        poller.register(self.fd, POLL_IN)

    # ---- loop hooks -------------------------------------------------------------------
    def on_ready(self, fd, ev, now):
        if fd == self.fd:
            self.accept(now)
            return
        conn = self.conns.get(fd)
        if conn is None:
            return
        if ev & POLL_OUT:
            self.flush(conn)
        if ev & (POLL_IN | select.POLLHUP | select.POLLERR) and fd in self.conns:
            self.receive(conn, now)

    def next_deadline(self):
        times = [c.deadline for c in self.conns.values() if c.deadline is not None]
        return min(times) if times else None

    def expire(self, now):
        for conn in list(self.conns.values()):
            if conn.deadline is not None and now >= conn.deadline:
                self.close(conn)

    # ---- connections ------------------------------------------------------------------
    def accept(self, now):
        for _ in range(ACCEPT_BURST):
            try:
                sock, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                if e.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    self.out.event("warn", "zei", f"control socket: cannot accept: {e.strerror}")
                return
            sock.setblocking(False)
            pid, uid, gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
            if uid not in self.allowed:
                self.out.event("warn", "zei", f"control socket: permission denied for uid {uid} (pid {pid})")
                try:
                    sock.send(protocol.encode({"ok": False, "code": "denied",
                                               "error": f"permission denied: uid {uid} may not control zei"}))
                except OSError:
                    pass
                sock.close()
                continue
            if len(self.conns) >= MAX_CLIENTS:
                try:
                    sock.send(protocol.encode({"ok": False, "error": "too many clients; try again"}))
                except OSError:
                    pass
                sock.close()
                continue
            conn = Conn(sock, now, uid, pid)
            self.conns[conn.fd] = conn
            self.poller.register(conn.fd, POLL_IN)

    def receive(self, conn, now):
        try:
            data = conn.sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            conn.closing = True
            if not conn.pending and not conn.out:
                self.close(conn)
            else:
                self.poller.modify(conn.fd, POLL_OUT if conn.out else 0)
            return
        error = None
        try:
            frames = conn.decoder.feed(data)
        except protocol.ProtocolError as e:
            frames, error = e.frames, e
        for frame in frames:
            try:
                request = protocol.parse_request(frame)
            except protocol.ProtocolError as e:
                self.send(conn, {"ok": False, "code": "bad-request", "error": str(e)})
                continue
            token = next(self.ids)
            self.by_id[token] = conn
            conn.pending += 1
            conn.deadline = None
            self.handler(request, token)
        if error is not None and conn.fd in self.conns:
            self.send(conn, {"ok": False, "code": "bad-request", "error": str(error)})
            conn.closing = True
            return
        if not conn.pending and conn.fd in self.conns:
            conn.deadline = now + IDLE_TIMEOUT

    def reply(self, token, payload):
        conn = self.by_id.pop(token, None)
        if conn is None or conn.fd not in self.conns:
            return
        conn.pending -= 1
        if not conn.pending:
            conn.deadline = time.monotonic() + IDLE_TIMEOUT   # a client that never reads is dropped
        self.send(conn, payload)

    def send(self, conn, payload):
        conn.out += protocol.encode(payload)
        self.flush(conn)

    def flush(self, conn):
        while conn.out:
            try:
                n = conn.sock.send(conn.out)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self.close(conn)
                return
            conn.out = conn.out[n:]
        if conn.fd not in self.conns:
            return
        if conn.out:
            self.poller.modify(conn.fd, POLL_OUT | POLL_IN)
        elif conn.closing and not conn.pending:
            self.close(conn)
        else:
            self.poller.modify(conn.fd, POLL_IN)

    def close(self, conn=None):
        """Close one connection, or (no argument) every connection and the socket."""
        if conn is not None:
            if self.conns.pop(conn.fd, None) is None:
                return
            try:
                self.poller.unregister(conn.fd)
            except KeyError:
                pass
            conn.sock.close()
            return
        for c in list(self.conns.values()):
            self.close(c)
        try:
            self.sock.close()
            os.unlink(self.path)
        except OSError:
            pass


def _listen(path, owner):
    directory = os.path.dirname(path) or "."
    try:
        os.mkdir(directory, 0o700)
        if owner is not None:
            os.chown(directory, owner[0], owner[1])
    except FileExistsError:
        pass
    try:
        st = os.lstat(path)
        if stat.S_ISSOCK(st.st_mode):
            os.unlink(path)                     # a stale socket from an earlier run
        else:
            raise OSError(errno.EEXIST, f"{path} exists and is not a socket")
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)
    sock.bind(path)
    os.chmod(path, 0o666)      # access is decided by the directory (0700) and SO_PEERCRED
    if owner is not None:
        os.chown(path, owner[0], owner[1])
    sock.listen(64)
    return sock
