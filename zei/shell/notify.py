"""sd_notify: one datagram socket per service for READY=1 / STATUS=..., and zei's own send_up.

How it works. address(name) creates, once per service (kept across its restarts), an
abstract-namespace AF_UNIX datagram socket "\\0zei-notify/<zei pid>/<16 random hex>/<name>"
with SO_PASSCRED, non-blocking and registered with the daemon's poller; its NOTIFY_SOCKET
value is the same name with "@" for the NUL. Abstract sockets have no file-system path, so
nothing a service's user controls is ever opened or created. They live in the network
namespace, which other containers may share: that is why the name is unguessable and why
every datagram's sender is checked.

on_ready() reads at most MAX_PER_WAKEUP datagrams. The kernel attaches the sender's
SCM_CREDENTIALS (its pid as this pid namespace sees it: 0 from outside). A datagram is
accepted only from the service's current process (set_pid) or a process of its session
(services are spawned with setsid, so that is the service and whatever it forked):
/proc/<pid>/stat's session field, read after the last ')' since comm may hold anything.
Everything else is dropped and counted in `rejected` (on_reject(name, pid) if given).
Descriptors passed with SCM_RIGHTS (FDSTORE=1, sd_notify_barrier) are closed, after the
datagram was checked and handled: a barrier's sender waits for that close, so it still
exists while its session is looked up. Truncated datagrams (over RECV_MAX) are dropped.
The payload is newline-separated KEY=VALUE (utf-8, errors replaced); other lines are ignored.
"""
from __future__ import annotations

import _socket
import os
import select
import struct

RECV_MAX = 4096                       # systemd's NOTIFY_BUFFER_MAX
MAX_PER_WAKEUP = 16
MAX_FDS = 64                          # room for passed fds; the kernel closes any beyond it
ANC_ROOM = _socket.CMSG_SPACE(12) + _socket.CMSG_SPACE(4 * MAX_FDS)
SUN_PATH_MAX = 108
_UCRED = struct.Struct("3i")
POLL_IN = select.POLLIN


class _Socket:
    __slots__ = ("name", "sock", "fd", "address")

    def __init__(self, name, sock, address):
        self.name, self.sock, self.fd, self.address = name, sock, sock.fileno(), address


class NotifySockets:
    def __init__(self, poller, on_message, on_reject=None):
        self.poller = poller
        self.on_message = on_message
        self.on_reject = on_reject
        self.socks = {}               # name -> _Socket
        self.fds = {}                 # fd -> _Socket
        self.pids = {}                # name -> the service's current pid
        self.rejected = 0             # datagrams dropped: wrong sender, truncated

    def address(self, name):
        """NOTIFY_SOCKET for `name` ("@zei-notify/..."), creating its socket the first time.
        Raises OSError if no socket can be made (the service then starts without one)."""
        s = self.socks.get(name)
        if s is not None:
            return s.address
        sock = _socket.socket(_socket.AF_UNIX,
                             _socket.SOCK_DGRAM | _socket.SOCK_NONBLOCK | _socket.SOCK_CLOEXEC)
        try:
            sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_PASSCRED, 1)
            for attempt in range(3):
                raw = f"\0zei-notify/{os.getpid()}/{os.urandom(8).hex()}/{name}".encode(
                    "utf-8", "replace")[:SUN_PATH_MAX]
                raw = raw.decode("utf-8", "ignore").encode("utf-8")   # whole characters only
                try:
                    sock.bind(raw)
                    break
                except OSError:
                    if attempt == 2:
                        raise
            self.poller.register(sock.fileno(), POLL_IN)
        except BaseException:
            sock.close()
            raise
        s = _Socket(name, sock, "@" + raw[1:].decode("utf-8"))
        self.socks[name] = s
        self.fds[s.fd] = s
        return s.address

    def set_pid(self, name, pid):
        if pid is None:
            self.pids.pop(name, None)
        else:
            self.pids[name] = pid

    def owns(self, fd):
        return fd in self.fds

    def on_ready(self, fd, events, now):
        s = self.fds.get(fd)
        for _ in range(MAX_PER_WAKEUP):
            if s is None or self.fds.get(fd) is not s:     # closed by on_message
                return
            try:
                data, anc, flags, _ = s.sock.recvmsg(RECV_MAX, ANC_ROOM, _socket.MSG_CMSG_CLOEXEC)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            pid, fds = None, []
            try:
                for level, kind, payload in anc:
                    if level != _socket.SOL_SOCKET:
                        continue
                    if kind == _socket.SCM_RIGHTS:
                        n = len(payload) // 4
                        fds.extend(struct.unpack(f"{n}i", payload[:4 * n]))
                    elif kind == _socket.SCM_CREDENTIALS and len(payload) >= _UCRED.size:
                        pid = _UCRED.unpack_from(payload)[0]
                if flags & _socket.MSG_TRUNC:
                    self.rejected += 1
                elif not self._from_service(s.name, pid):
                    self.rejected += 1
                    if self.on_reject is not None:
                        self.on_reject(s.name, pid)
                else:
                    fields = parse(data)
                    if fields:
                        self.on_message(s.name, fields)
            finally:
                for passed in fds:
                    try:
                        os.close(passed)
                    except OSError:
                        pass

    def _from_service(self, name, pid):
        service = self.pids.get(name)
        if not pid or not service:
            return False
        return pid == service or session_of(pid) == service

    def close(self, name):
        s = self.socks.pop(name, None)
        self.pids.pop(name, None)
        if s is None:
            return
        self.fds.pop(s.fd, None)
        try:
            self.poller.unregister(s.fd)
        except (KeyError, ValueError, OSError):
            pass
        s.sock.close()

    def close_all(self):
        for name in list(self.socks):
            self.close(name)


def session_of(pid):
    """The session id of `pid` from /proc, or None (gone, unreadable, malformed)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read(4096)
        return int(stat.rpartition(b")")[2].split()[3])    # state ppid pgrp session
    except (OSError, ValueError, IndexError):
        return None


def parse(data):
    """KEY=VALUE lines of one datagram as a dict; lines without a key and '=' are ignored."""
    fields = {}
    for line in data.decode("utf-8", "replace").split("\n"):
        key, eq, value = line.partition("=")
        if eq and key and key.strip() == key:
            fields[key] = value
    return fields


def send_up(address, message):
    """One datagram to zei's own NOTIFY_SOCKET ("@name" abstract, else a path): None if
    sent, else why not. Never blocks, never raises."""
    try:
        if not address:
            return "NOTIFY_SOCKET is empty"
        if address.startswith("@"):
            target = "\0" + address[1:]
        elif address.startswith("/"):
            target = address
        else:
            return f"unsupported NOTIFY_SOCKET address {address!r}"
        data = message.encode("utf-8") if isinstance(message, str) else bytes(message)
        s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_DGRAM | _socket.SOCK_NONBLOCK | _socket.SOCK_CLOEXEC)
        try:
            s.sendto(data, target)
        finally:
            s.close()
        return None
    except OSError as e:
        if e.errno:
            return f"{address}: {os.strerror(e.errno)}"
        return f"{address}: {e}"
    except Exception as e:
        return f"{address}: {type(e).__name__}: {e}"
