"""The control socket, served inside the main loop and never blocking it.

How it works. The listening socket and every client are non-blocking and registered with
the daemon's poller. Each client (Conn) has an input Decoder, an output bytearray and an
idle deadline. on_ready() flushes output a client can take and reads at most one chunk
from it; work() takes at most FRAMES_PER_TURN requests from its decoder and hands each to
the handler with a fresh token. The daemon answers each token exactly once with reply(),
at once (list, status, ping) or later (start, stop, restart). Requests left in a decoder
when a turn ends are worked off from expire() on later wakeups (next_deadline() is then
"now"), so one busy client cannot hold up the loop or the other clients.

Bounds (docs/protocol.md): a request line is at most protocol.MAX_REQUEST bytes; a client
has at most MAX_PENDING requests in flight; a client with OUT_HIGH bytes of unread replies
or MAX_PENDING requests in flight is not read from (nor are its buffered requests worked
off) until that drains, so its input is at most MAX_REQUEST + RECV_CHUNK bytes; a reply
over protocol.MAX_REPLY is replaced by an error; output past OUT_LIMIT drops the client.
At most MAX_CLIENTS connections, counting those still owed a reply.

Invariants:
- A fd is registered with the poller exactly when its Conn wants events (POLLIN only while
  reading is allowed, POLLOUT only while output is buffered); with no events wanted it is
  unregistered, because poll() reports POLLHUP/POLLERR whatever the mask says.
- A token maps to its Conn object, never to a fd number; a reply is delivered only if that
  very Conn is still in self.conns and still taking replies.
- A client that hung up, was dropped, or was answered `request too long` stops being read
  and written at once; if replies are still owed to it, its Conn stays (unregistered, the
  socket shut down, counted against MAX_CLIENTS) until the last one arrives, so requests
  in flight stay bounded by MAX_CLIENTS * MAX_PENDING however clients come and go.
- While a request is pending a client has no idle deadline (a restart may take a while);
  otherwise it is closed IDLE_TIMEOUT after its last progress, reading or writing.

Authorisation: the peer's credentials (SO_PEERCRED) must be root or the app identity's uid.
Anyone else gets {"ok": false, "error": "permission denied ..."} and a log line. The socket
and its directory are set up by zei.shell.sockdir (owner and mode checks, no symlinks followed),
at the first of the paths zei.shell.sockpath gives that works (without root: /run/zei, else
the fallback); one log line says which.
"""
from __future__ import annotations

import errno
import itertools
import select
import _socket
import struct
import time

from zei.core import protocol
from zei.shell.sockdir import SocketFile, SocketSetupError

IDLE_TIMEOUT = 10.0
MAX_CLIENTS = 64
ACCEPT_BURST = 16
MAX_PENDING = 16          # requests in flight per client
FRAMES_PER_TURN = 16      # requests taken from one client per wakeup
RECV_CHUNK = 8192         # bytes read from one client per wakeup
OUT_HIGH = 64 * 1024      # unread reply bytes at which a client is no longer read from
OUT_LIMIT = 2 * protocol.MAX_REPLY    # past this a client is dropped (cannot happen in practice)
POLL_IN = select.POLLIN
POLL_OUT = select.POLLOUT
HANGUP = select.POLLHUP | select.POLLERR


class Conn:
    __slots__ = ("sock", "fd", "decoder", "out", "deadline", "pending", "reading", "closing",
                 "gone", "mask", "uid", "pid", "follower")

    def __init__(self, sock, now, uid, pid):
        self.sock, self.fd = sock, sock.fileno()
        self.decoder = protocol.Decoder()
        self.out = bytearray()
        self.deadline = now + IDLE_TIMEOUT
        self.pending = 0          # tokens handed out and not yet replied to
        self.reading = True       # False after EOF or `request too long`
        self.closing = False      # close once `out` is flushed (after `request too long`)
        self.gone = False         # the client gets nothing more; kept only for its tokens
        self.mask = 0             # events registered with the poller (0: not registered)
        self.uid, self.pid = uid, pid
        self.follower = None      # a zei.shell.history.Follower: `logs -f`, no idle deadline


class Server:
    def __init__(self, path, poller, privileges, out, handler):
        self.poller = poller
        self.out = out
        self.handler = handler
        self.allowed = {0} | ({privileges.app_uid} if privileges.app_uid is not None else set())
        self.conns = {}           # fd -> Conn
        self.ids = itertools.count(1)
        self.tokens = {}          # token -> Conn
        self.backlog = {}         # Conns with requests buffered and allowed to be worked off
        self.served = set()       # Conns worked on during this wakeup
        self.working = None       # the Conn whose requests are being handed out right now
        self.file = _open(path, privileges, out)
        self.path = self.file.path
        self.sock = self.file.sock
        self.fd = self.sock.fileno()
        poller.register(self.fd, POLL_IN)

    # ---- loop hooks -------------------------------------------------------------------
    def on_ready(self, fd, ev, now):
        if fd == self.fd:
            self.accept(now)
            return
        conn = self.conns.get(fd)
        if conn is None or conn.gone:
            return
        if ev & (POLL_OUT | HANGUP) and conn.out:
            self.flush(conn, now)
        if self.conns.get(fd) is not conn or conn.gone:
            return
        if ev & (POLL_IN | HANGUP) and self.may_read(conn):
            self.receive(conn, ev, now)
        elif ev & HANGUP:
            self.drop(conn)                  # nothing to read, nowhere to write: peer is gone
        if self.conns.get(fd) is conn:
            self.update(conn, now)

    def next_deadline(self):
        if self.backlog:
            return 0.0                       # requests are waiting: come back at once
        times = [c.deadline for c in self.conns.values() if c.deadline is not None]
        return min(times) if times else None

    def expire(self, now):
        for conn in list(self.conns.values()):
            if conn.deadline is not None and now >= conn.deadline and self.conns.get(conn.fd) is conn:
                self.drop(conn)
        for conn in list(self.backlog):
            if conn not in self.served and self.conns.get(conn.fd) is conn:
                self.work(conn, now)
        self.served.clear()

    # ---- connections ------------------------------------------------------------------
    def accept(self, now):
        for _ in range(ACCEPT_BURST):
            try:
                fd, _ = self.sock._accept()
                sock = _socket.socket(fileno=fd)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                if e.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    self.out.event("warn", "zei", f"control socket: cannot accept: {e.strerror}")
                return
            sock.setblocking(False)
            pid, uid, gid = struct.unpack("3i", sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, 12))
            if uid not in self.allowed:
                self.out.event("warn", "zei", f"control socket: permission denied for uid {uid} (pid {pid})")
                _refuse(sock, {"ok": False, "code": "denied",
                               "error": f"permission denied: uid {uid} may not control zei"})
                continue
            if len(self.conns) >= MAX_CLIENTS:
                _refuse(sock, {"ok": False, "error": "too many clients; try again"})
                continue
            conn = Conn(sock, now, uid, pid)
            self.conns[conn.fd] = conn
            self.watch(conn, POLL_IN)

    def may_read(self, conn):
        return (conn.reading and not conn.closing and not conn.gone and conn.pending < MAX_PENDING
                and len(conn.out) < OUT_HIGH and not conn.decoder.has_frame())

    def receive(self, conn, ev, now):
        try:
            data = conn.sock.recv(RECV_CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:                      # ECONNRESET: the peer is gone
            self.drop(conn)
            return
        if not data:
            conn.reading = False
            if ev & HANGUP:
                self.drop(conn)              # closed both ways: replies cannot reach it
            return                           # half-closed: what is owed is still sent
        conn.decoder.push(data)
        if not conn.pending and conn.follower is None:
            conn.deadline = now + IDLE_TIMEOUT
        self.work(conn, now)

    def work(self, conn, now):
        """Hand out at most FRAMES_PER_TURN of the client's buffered requests."""
        self.served.add(conn)
        self.working = conn
        try:
            for _ in range(FRAMES_PER_TURN):
                if conn.gone or conn.closing or conn.pending >= MAX_PENDING or len(conn.out) >= OUT_HIGH:
                    break
                try:
                    frame = conn.decoder.next_frame()
                except protocol.ProtocolError as e:
                    self.queue(conn, {"ok": False, "code": "bad-request", "error": str(e)})
                    conn.decoder.clear()
                    conn.reading, conn.closing = False, True
                    conn.deadline = now + IDLE_TIMEOUT      # bounded time to deliver the error
                    break
                if frame is None:
                    break
                try:
                    request = protocol.parse_request(frame)
                except protocol.ProtocolError as e:
                    self.queue(conn, {"ok": False, "code": "bad-request", "error": str(e)})
                    continue
                token = next(self.ids)
                self.tokens[token] = conn
                conn.pending += 1
                conn.deadline = None
                try:
                    self.handler(request, token)             # may reply() at once
                except Exception:
                    if token in self.tokens:
                        self.reply(token, {"ok": False, "error": "internal error"})
                    raise
        finally:
            self.working = None
            if self.conns.get(conn.fd) is conn:
                if conn.out and not conn.gone:
                    self.flush(conn, now)
                if self.conns.get(conn.fd) is conn:
                    self.update(conn, now)

    def reply(self, token, payload):
        conn = self.tokens.pop(token, None)
        if conn is None:
            return
        conn.pending -= 1
        if self.conns.get(conn.fd) is not conn:
            return                           # closed meanwhile: nobody to tell
        now = time.monotonic()
        if not (conn.gone or conn.closing):
            self.queue(conn, payload)
        if conn is self.working:
            return                           # work() flushes and updates when it is done
        if conn.out and not conn.gone:
            self.flush(conn, now)
        if self.conns.get(conn.fd) is conn:
            self.update(conn, now)

    def follow(self, token, follower):
        """The connection of `token` (not yet replied to) follows: after its reply it gets
        frames through push() and has no idle deadline; it is closed on hangup as any."""
        conn = self.tokens.get(token)
        if conn is None or conn.gone or conn.closing:
            follower.closed = True
            return
        conn.follower, follower.conn = follower, conn

    def push(self, follower, encoded, count):
        """`count` new lines for a follower (encoded(): their frames), appended within its
        bound, else counted as missed without being encoded."""
        conn = follower.conn
        if conn is None or conn.gone or self.conns.get(conn.fd) is not conn:
            follower.closed = True
            return
        if follower.blocked(conn.out):
            follower.skip(count)
            return
        follower.offer(conn.out, encoded(), count)
        if conn.out and not conn.mask & POLL_OUT and conn is not self.working:
            self.watch(conn, conn.mask | POLL_OUT)    # sent when the client can take it

    def queue(self, conn, payload):
        data = protocol.encode(payload)
        if len(data) > protocol.MAX_REPLY:
            data = protocol.encode({"ok": False, "error": f"reply too large ({len(data)} bytes; limit "
                                                          f"{protocol.MAX_REPLY}); ask for one service"})
        conn.out += data
        if len(conn.out) > OUT_LIMIT:
            self.out.event("warn", "zei", f"control socket: dropping a client (pid {conn.pid}) "
                                          f"that does not read its replies")
            self.drop(conn)

    def flush(self, conn, now):
        sent = False
        while conn.out:
            try:
                n = conn.sock.send(conn.out, _socket.MSG_NOSIGNAL)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:                  # EPIPE, ECONNRESET: the peer is gone
                self.drop(conn)
                return
            del conn.out[:n]                 # O(1) at the front of a bytearray
            sent = True
        if conn.follower is not None:
            conn.follower.drained(conn.out)
        elif sent and not conn.pending and not conn.closing:
            conn.deadline = now + IDLE_TIMEOUT

    def update(self, conn, now):
        """Bring poll registration, backlog and deadline in line with the Conn's state."""
        if conn.gone:
            if not conn.pending:
                self.close(conn)
            return
        if not conn.out and (conn.closing or (not conn.reading and not conn.pending)):
            self.drop(conn)                  # nothing more to say to it
            return
        workable = (conn.reading and not conn.closing and conn.pending < MAX_PENDING
                    and len(conn.out) < OUT_HIGH and conn.decoder.has_frame())
        if workable:
            self.backlog[conn] = None
        else:
            self.backlog.pop(conn, None)
        self.watch(conn, (POLL_OUT if conn.out else 0) | (POLL_IN if self.may_read(conn) else 0))
        if (conn.pending and not conn.closing) or conn.follower is not None:
            conn.deadline = None
        elif conn.deadline is None:
            conn.deadline = now + IDLE_TIMEOUT

    def watch(self, conn, mask):
        if mask == conn.mask:
            return
        if not mask:
            try:
                self.poller.unregister(conn.fd)
            except KeyError:
                pass
        elif conn.mask:
            self.poller.modify(conn.fd, mask)
        else:
            self.poller.register(conn.fd, mask)
        conn.mask = mask

    def drop(self, conn):
        """The client gets nothing more. Closed now, or, with replies still owed to it, shut
        down and kept (unpolled, counted) until they have all arrived."""
        self.backlog.pop(conn, None)
        if not conn.pending:
            self.close(conn)
            return
        conn.gone, conn.reading = True, False
        conn.out = bytearray()
        conn.decoder.clear()
        conn.deadline = None
        self.watch(conn, 0)
        try:
            conn.sock.shutdown(_socket.SHUT_RDWR)
        except OSError:
            pass

    def close(self, conn=None):
        """Close one connection, or (no argument) every connection and the socket."""
        if conn is not None:
            if self.conns.get(conn.fd) is not conn:
                return
            del self.conns[conn.fd]
            self.backlog.pop(conn, None)
            if conn.follower is not None:
                conn.follower.closed = True
            self.watch(conn, 0)
            conn.sock.close()
            return
        for c in list(self.conns.values()):
            if c.follower is not None and c.out and not c.gone:
                try:                         # a follower's last lines (zei's exit), if they fit
                    c.sock.send(c.out, _socket.MSG_NOSIGNAL | _socket.MSG_DONTWAIT)
                except OSError:
                    pass
            self.close(c)
        try:
            self.poller.unregister(self.fd)
        except (KeyError, ValueError):
            pass
        self.file.close()


def _refuse(sock, payload):
    try:
        sock.send(protocol.encode(payload), _socket.MSG_NOSIGNAL)
    except OSError:
        pass
    sock.close()


def _open(paths, privileges, out):
    """The SocketFile at the first of `paths` (one path, or the list to try) that works."""
    paths = [paths] if isinstance(paths, str) else list(paths)
    failed = []
    for path in paths:
        try:
            sock = SocketFile(path, privileges)
        except SocketSetupError as e:
            failed.append(e)
            continue
        why = f" (the fallback: {failed[0]})" if failed else ""
        out.event("info", "zei", f"control socket {sock.path}{why}")
        return sock
    if len(failed) == 1:
        raise failed[0]
    raise SocketSetupError(f"{failed[0]}; and the fallback: {failed[-1]}")
