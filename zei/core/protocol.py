"""The control protocol: newline-delimited JSON, shared by the daemon's server and the CLI.

One request per line, one reply per line, both JSON objects (UTF-8):

    {"cmd": "list"}                                 -> {"ok": true, "services": [ {...}, ... ]}
    {"cmd": "status", "service": "web"}             -> {"ok": true, "services": [ {...} ]}
    {"cmd": "start" | "stop" | "restart", "service": "web"}
                                                    -> {"ok": true, "message": "..."}
    {"cmd": "signal", "service": "web", "signal": 1}-> {"ok": true, "message": "..."}
    {"cmd": "reload"}                               -> {"ok": true, "message": "reloaded: web: restarted
                                                        (changed: command); cache: added", "changes":
                                                        [...], "changed": [...], "added": [...],
                                                        "removed": [...]}  (zei.core.reload)
    {"cmd": "ping"}                                 -> {"ok": true, "pid": 1, "version": "..."}
    {"cmd": "ready", "services": ["web"]}           -> {"ok": true, "ready": false, "service": "web",
                                                        "why": "web is unhealthy: ..."}
    {"cmd": "logs", "services": ["web"], "lines": 100, "since": null, "follow": false}
                                                    -> {"ok": true, "lines": [ {...}, ... ], "dropped": 0}
                                                       then, with follow, one line object per frame
    any failure                                     -> {"ok": false, "error": "one line", "code": "..."}

Limits: a request line is at most MAX_REQUEST bytes; a longer one is refused and the
connection closed. A reply is at most MAX_REPLY bytes (the server sends an error instead
of a larger one; the client refuses more). Decoder is incremental and pure: bytes in
(split or merged any way), requests or errors out. Nothing here does I/O.
"""
from __future__ import annotations

from zei.core import jsontext

MAX_REQUEST = 4096
MAX_REPLY = 1 << 20
COMMANDS = {"list": (), "status": (), "ping": (), "start": ("service",), "stop": ("service",),
            "restart": ("service",), "signal": ("service", "signal"), "ready": (), "reload": (), "logs": ()}
MAX_NAMES = 256             # services one `ready` or `logs` request may name
MAX_LOG_LINES = 10000       # lines one `logs` request may ask for


class ProtocolError(Exception):
    """A malformed request; the message is the one-line reason sent back."""
    frames = ()


class Decoder:
    """Incremental newline framing with a size bound.

    push() appends bytes; next_frame() takes one complete frame at a time (or None), so a
    caller can stop taking requests (back-pressure) with the rest left in the buffer. The
    buffer is a bytearray consumed from the front: linear, never a copy per frame."""

    def __init__(self, limit=MAX_REQUEST):
        self._buf = bytearray()
        self.limit = limit

    @property
    def buf(self):
        """The bytes not yet framed (a copy, for inspection)."""
        return bytes(self._buf)

    def __len__(self):
        return len(self._buf)

    def push(self, data):
        self._buf += data

    def has_frame(self):
        """A frame (or an over-limit error) is waiting in the buffer."""
        return len(self._buf) > self.limit or b"\n" in self._buf

    def next_frame(self):
        """The next complete non-blank frame (bytes, without the newline), or None when
        there is none yet. Raises ProtocolError for a line over the limit."""
        while True:
            i = self._buf.find(b"\n")
            if i < 0:
                if len(self._buf) > self.limit:
                    raise self._too_long(())
                return None
            if i > self.limit:
                raise self._too_long(())
            frame = bytes(self._buf[:i])
            del self._buf[:i + 1]
            if frame.strip():
                return frame

    def clear(self):
        self._buf = bytearray()

    def feed(self, data):
        """push() then every complete frame, as a list. Raises ProtocolError when over the
        limit; the error's `frames` holds the complete frames that came before it."""
        self.push(data)
        frames = []
        while True:
            try:
                frame = self.next_frame()
            except ProtocolError as e:
                e.frames = frames
                raise
            if frame is None:
                return frames
            frames.append(frame)

    def _too_long(self, frames):
        err = ProtocolError(f"request too long (limit {self.limit} bytes)")
        err.frames = frames
        return err


def encode(obj):
    return jsontext.dumps(obj, compact=True).encode() + b"\n"


def parse_request(frame):
    """A validated request dict from one frame; raises ProtocolError."""
    try:
        obj = jsontext.loads(frame.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):    # [[[[... nests past the stack
        raise ProtocolError("not a JSON request") from None
    if not isinstance(obj, dict):
        raise ProtocolError("a request must be a JSON object")
    cmd = obj.get("cmd")
    if not isinstance(cmd, str) or cmd not in COMMANDS:
        raise ProtocolError(f"unknown command {cmd!r}; expected one of {', '.join(sorted(COMMANDS))}")
    for key in COMMANDS[cmd]:
        if key not in obj:
            raise ProtocolError(f"{cmd}: missing {key!r}")
    if "service" in obj and not isinstance(obj["service"], str) \
            and (obj["service"] is not None or "service" in COMMANDS[cmd]):
        raise ProtocolError("'service' must be a string")     # null only where it is optional
    if cmd == "signal" and (not isinstance(obj["signal"], int) or isinstance(obj["signal"], bool)
                            or not 1 <= obj["signal"] <= 64):
        raise ProtocolError("'signal' must be a signal number 1-64")
    if cmd == "logs":
        _check_logs(obj)
    if cmd in ("ready", "logs") and "services" in obj:
        names = obj["services"]
        if not isinstance(names, list) or len(names) > MAX_NAMES \
                or not all(isinstance(n, str) for n in names):
            raise ProtocolError(f"'services' must be a list of at most {MAX_NAMES} service names")
    return obj


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_logs(obj):
    n = obj.get("lines", 100)
    if not (_number(n) and isinstance(n, int) and 0 <= n <= MAX_LOG_LINES):
        raise ProtocolError(f"'lines' must be a whole number 0-{MAX_LOG_LINES}")
    since = obj.get("since")
    if since is not None and not (_number(since) and 0 <= since < float("inf")):
        raise ProtocolError("'since' must be a number of seconds (or null)")
    if not isinstance(obj.get("follow", False), bool):
        raise ProtocolError("'follow' must be true or false")


def parse_reply(frame):
    try:
        obj = jsontext.loads(frame.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ProtocolError("the daemon sent a reply that is not JSON") from None
    if not isinstance(obj, dict) or "ok" not in obj:
        raise ProtocolError("the daemon sent a malformed reply")
    return obj
