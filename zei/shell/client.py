"""The CLI's side of the control socket: one request, one reply, bounded in time and size.

It uses `_socket` (the C module) directly: the socket module around it imports enum and
selectors, a good part of a CLI call's start-up for nothing this module uses."""
from __future__ import annotations

import _socket
import errno
import time

from zei.core import jsontext, protocol
from zei.shell.sockpath import DEFAULT as DEFAULT_SOCKET  # noqa: F401  (the rule: zei.shell.sockpath)


class NoDaemon(Exception):
    """Nothing answers on the socket (not running, or not reachable by this user)."""


def _connect(path, timeout):
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
        return sock
    except FileNotFoundError:
        why = f"no daemon socket at {path}"
    except ConnectionRefusedError:
        why = f"nothing is listening on {path}"
    except PermissionError:
        why = f"permission denied: cannot reach {path}"
    except OSError as e:
        why = f"cannot connect to {path}: {e.strerror or e}"
    sock.close()
    raise NoDaemon(why)


def stream(path, payload, timeout=10.0):
    """Send one request; yield the reply (within `timeout`), then every further frame the
    daemon sends (`logs -f`), waiting as long as it takes. Ends when the daemon closes the
    connection. Raises NoDaemon or protocol.ProtocolError."""
    sock = _connect(path, timeout)
    try:
        try:
            sock.sendall(protocol.encode(payload))
        except OSError as e:
            raise NoDaemon(f"cannot send to {path}: {e.strerror}") from None
        buf, first = bytearray(), True
        while True:
            i = buf.find(b"\n")
            if i >= 0:
                frame = bytes(buf[:i])
                del buf[:i + 1]
                yield protocol.parse_reply(frame) if first else _parse_frame(frame)
                first = False
                sock.settimeout(None)
                continue
            if len(buf) > protocol.MAX_REPLY:
                raise protocol.ProtocolError("reply too large")
            chunk = _recv(sock, timeout)
            if not chunk:
                if first:
                    raise protocol.ProtocolError("the daemon closed the connection without a reply")
                return
            buf += chunk
    finally:
        sock.close()


def _recv(sock, timeout):
    try:
        return sock.recv(65536)
    except TimeoutError:
        raise protocol.ProtocolError(f"no reply from the daemon within {timeout:g}s") from None
    except OSError as e:
        raise protocol.ProtocolError(f"connection lost: {e.strerror}") from None


def _parse_frame(frame):
    try:
        obj = jsontext.loads(frame.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise protocol.ProtocolError("the daemon sent a line that is not JSON") from None
    if not isinstance(obj, dict):
        raise protocol.ProtocolError("the daemon sent a malformed line")
    return obj


def request(path, payload, timeout=10.0):
    """Send one request and return the reply dict. Raises NoDaemon or protocol.ProtocolError."""
    deadline = time.monotonic() + timeout
    sock = _connect(path, timeout)
    try:
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
            chunk = _recv(sock, timeout)
            if not chunk:
                raise protocol.ProtocolError("the daemon closed the connection without a reply")
            buf += chunk
            if len(buf) > protocol.MAX_REPLY:
                raise protocol.ProtocolError("reply too large")
        return protocol.parse_reply(buf.split(b"\n", 1)[0])
    finally:
        sock.close()
