"""The CLI's side of the control socket: one request, one reply, bounded in time and size."""
from __future__ import annotations

import errno
import socket
import time

from zei.core import protocol
from zei.shell.sockpath import DEFAULT as DEFAULT_SOCKET  # noqa: F401  (the rule: zei.shell.sockpath)


class NoDaemon(Exception):
    """Nothing answers on the socket (not running, or not reachable by this user)."""


def request(path, payload, timeout=10.0):
    """Send one request and return the reply dict. Raises NoDaemon or protocol.ProtocolError."""
    deadline = time.monotonic() + timeout
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        sock.settimeout(timeout)
        try:
            sock.connect(path)
        except FileNotFoundError:
            raise NoDaemon(f"no daemon socket at {path}") from None
        except ConnectionRefusedError:
            raise NoDaemon(f"nothing is listening on {path}") from None
        except PermissionError:
            raise NoDaemon(f"permission denied: cannot reach {path}") from None
        except OSError as e:
            raise NoDaemon(f"cannot connect to {path}: {e.strerror or e}") from None
        try:
            sock.sendall(protocol.encode(payload))
        except OSError as e:
            if e.errno not in (errno.EPIPE, errno.ECONNRESET):
                raise NoDaemon(f"cannot send to {path}: {e.strerror}") from None
        buf = b""
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise protocol.ProtocolError(f"no reply from the daemon within {timeout:g}s")
            sock.settimeout(left)
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                raise protocol.ProtocolError(f"no reply from the daemon within {timeout:g}s") from None
            except OSError as e:
                raise protocol.ProtocolError(f"connection lost: {e.strerror}") from None
            if not chunk:
                raise protocol.ProtocolError("the daemon closed the connection without a reply")
            buf += chunk
            if len(buf) > protocol.MAX_REPLY:
                raise protocol.ProtocolError("reply too large")
        return protocol.parse_reply(buf.split(b"\n", 1)[0])
    finally:
        sock.close()
