"""Output: services' lines and zei's own events, tagged, on zei's stdout.

Text format (default), one line each:
    web[out] GET / 200               a line the service wrote to stdout ("err" for stderr)
    web[warn] cache miss key=k1      a JSON log line of a `json_logs` service, at its level
    zei[info] web: started (pid 12)  zei's own event about a service
`ZEI_LOG_FORMAT=json` writes one JSON object per line instead, with time, level, source,
stream (for service output), msg and the service's own fields.

LineSplitter turns a pipe's byte stream into whole lines: a partial line waits for the
rest, a line longer than MAX_LINE is cut into MAX_LINE pieces (never dropped), and
finish() hands out what is left when the pipe closes. Output writes each batch of lines
with as few write() calls as possible, so lines from one read never interleave mid-line,
through a zei.shell.sink.Sink: never blocking, bounded, dropped lines counted and reported.
"""
from __future__ import annotations

import time

from zei.core import jsontext
from zei.shell.sink import Sink

MAX_LINE = 16 * 1024
LEVELS = {
    "trace": "debug", "debug": "debug", "dbg": "debug",
    "info": "info", "information": "info", "notice": "info",
    "warn": "warn", "warning": "warn",
    "error": "error", "err": "error", "critical": "error", "crit": "error",
    "fatal": "fatal", "panic": "fatal", "alert": "fatal", "emerg": "fatal",
}
NUMERIC_LEVELS = ((60, "fatal"), (50, "error"), (40, "warn"), (30, "info"))   # pino/bunyan
LEVEL_KEYS = ("level", "severity", "lvl")
MESSAGE_KEYS = ("msg", "message")
STREAM_TAG = {"stdout": "out", "stderr": "err"}


class LineSplitter:
    __slots__ = ("partial",)

    def __init__(self):
        self.partial = b""

    def feed(self, data):
        """Complete lines (without their newline) found so far."""
        data = self.partial + data
        lines = data.split(b"\n")
        self.partial = lines.pop()
        if len(self.partial) > MAX_LINE:
            # emit whole pieces but keep the last (1..MAX_LINE bytes): were it emptied, the
            # newline that ends this line would later make an extra empty line
            cut = (len(self.partial) - 1) // MAX_LINE * MAX_LINE
            lines.append(self.partial[:cut])
            self.partial = self.partial[cut:]
        if lines and max(map(len, lines)) > MAX_LINE:       # C-level scan: the hot path
            lines = [piece for line in lines for piece in _pieces(line)]
        return lines

    def feed_block(self, data):
        """feed() as one bytes block: the complete lines, each ending in a newline (b"" if none).

        Same lines and same state as b"".join(line + b"\n" for line in feed(data)), without a
        Python object per line when no line is longer than MAX_LINE (the usual case)."""
        data = self.partial + data
        end = data.rfind(b"\n") + 1
        if len(data) - end <= MAX_LINE and _short_lines(data, end):
            self.partial = data[end:]
            return data[:end]
        self.partial = b""
        return b"".join([line + b"\n" for line in self.feed(data)])

    def finish(self):
        rest, self.partial = self.partial, b""
        return list(_pieces(rest)) if rest else []


def _short_lines(data, end):
    """True if no line in data[:end] (which ends with a newline) is longer than MAX_LINE.

    Each step jumps to the last newline within MAX_LINE + 1 bytes of a line start, so a
    64 KiB block takes a handful of C-level rfind() calls."""
    start = 0
    while end - start > MAX_LINE + 1:
        nl = data.rfind(b"\n", start, start + MAX_LINE + 1)
        if nl < 0:
            return False
        start = nl + 1
    return True


def _pieces(line):
    if len(line) <= MAX_LINE:
        yield line
        return
    for i in range(0, len(line), MAX_LINE):
        yield line[i:i + MAX_LINE]


def normalize_level(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return next((name for floor, name in NUMERIC_LEVELS if value >= floor), "debug")
    if isinstance(value, str):
        return LEVELS.get(value.strip().lower())
    return None


def parse_json_line(text):
    """(level, message, [(key, value), ...]) for a JSON-object log line, else None."""
    stripped = text.strip()
    if not (stripped.startswith("{") and stripped.endswith("}")):
        return None
    try:
        obj = jsontext.loads(stripped)
    except ValueError:                       # not JSON, or {"a":[[[[... nested too deep
        return None
    if not isinstance(obj, dict):
        return None
    level, message = "info", ""
    for key in LEVEL_KEYS:
        if key in obj:
            level = normalize_level(obj.pop(key)) or "info"
            break
    for key in MESSAGE_KEYS:
        if key in obj:
            value = obj.pop(key)
            message = value if isinstance(value, str) else jsontext.dumps(value)
            break
    for key in ("time", "ts", "timestamp"):
        obj.pop(key, None)
    return level, message, list(obj.items())


def _fmt_value(value):
    if isinstance(value, str):
        plain = value and value.isprintable() and " " not in value and '"' not in value
        return value if plain else jsontext.quote(value)     # a newline must not end the record
    return jsontext.dumps(value, compact=True)


def _fmt_key(key):
    """A field name as written in a text record: quoted unless it is one plain word."""
    plain = key and key.isprintable() and not any(c in key for c in ' ="')
    return key if plain else jsontext.quote(key)


def _escape(text):
    """Text with every unprintable character (line breaks of any kind, controls) escaped, so
    one record stays one line that cannot pass for another source's."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else jsontext.quote(c)[1:-1] for c in text)


def _plain_block(block):
    """Service output for the text format: CRLF ends a line like LF; a lone CR, which would
    let the rest of a line overwrite its tag on a terminal, is shown as \\r."""
    if b"\r" in block:
        block = block.replace(b"\r\n", b"\n").replace(b"\r", b"\\r")
    return block


RANK = {"debug": 0, "info": 1, "warn": 2, "error": 3, "fatal": 4}


class Output:
    def __init__(self, fd=1, fmt="text", level="info", clock=time.monotonic):
        self.sink = Sink(fd, clock)
        self.json = fmt == "json"
        self.min_rank = RANK.get(level, 1)
        self.history = None       # a zei.shell.history.History: every line written, kept for `zei logs`

    # --- zei's own events ------------------------------------------------------------
    def event(self, level, source, message, fields=()):
        if RANK.get(level, 1) < self.min_rank:
            return
        if self.json:
            obj = {"time": _now(), "level": level, "source": "zei"}
            if source != "zei":
                obj["service"] = source
            obj["msg"] = message
            obj.update(fields)
            text = jsontext.dumps(obj) + "\n"
        else:
            who = "" if source == "zei" else f"{source}: "
            extra = "".join(f" {k}={_fmt_value(v)}" for k, v in fields)
            text = f"zei[{level}] {who}{message}{extra}\n"
        if self.history is not None:
            who = "" if source == "zei" else f"{source}: "
            self.history.event(level, who + _escape(message)
                               + "".join(f" {k}={_fmt_value(v)}" for k, v in fields))
        self.write_bytes(text.encode("utf-8", "replace"), event=True)

    # --- service output --------------------------------------------------------------
    def lines(self, source, stream, lines, json_logs=False):
        if not lines:
            return
        if json_logs:
            levels = []
            self.write("".join(self._json_log(source, stream, line, levels) for line in lines))
            if self.history is not None:
                self.history.add_levels(source, stream, lines, levels)
            return
        if self.history is not None:
            self.history.add(source, stream, lines)
        if self.json:
            base = {"level": "info", "source": source, "stream": stream}
            ts = _now()
            self.write("".join(jsontext.dumps({"time": ts, **base, "msg": line.decode("utf-8", "replace")})
                               + "\n" for line in lines))
        else:
            prefix = f"{source}[{STREAM_TAG[stream]}] ".encode()
            # one C-level join, not a Python loop per line (the log throughput hot path)
            self.write_bytes(_plain_block(prefix + (b"\n" + prefix).join(lines) + b"\n"))

    def block(self, source, stream, block, json_logs=False):
        """lines() for a block from LineSplitter.feed_block()."""
        if not block:
            return
        if json_logs or self.json:
            self.lines(source, stream, block[:-1].split(b"\n"), json_logs)
            return
        prefix = f"{source}[{STREAM_TAG[stream]}] ".encode()
        plain = _plain_block(block)
        # two copies in all: every newline gains the prefix after it (the last one's is cut
        # off by the view), and the join puts the first line's in front
        tagged = plain.replace(b"\n", b"\n" + prefix)
        self.write_bytes(b"".join((prefix, memoryview(tagged)[:-len(prefix)])))
        if self.history is not None:            # after the write; the line count for free
            self.history.add_block(source, stream, block, (len(tagged) - len(plain)) // len(prefix))

    def _json_log(self, source, stream, line, levels):
        text = line.decode("utf-8", "replace")
        parsed = parse_json_line(text)
        levels.append(parsed and parsed[0])
        if parsed is None:
            if self.json:
                return jsontext.dumps({"time": _now(), "level": "info", "source": source,
                                   "stream": stream, "msg": text}) + "\n"
            plain = _plain_block(line + b"\n").decode("utf-8", "replace")
            return f"{source}[{STREAM_TAG[stream]}] {plain}"
        level, message, fields = parsed
        if self.json:
            obj = {"time": _now(), "level": level, "source": source, "stream": stream, "msg": message}
            for k, v in fields:
                obj.setdefault(k, v)
            return jsontext.dumps(obj) + "\n"
        extra = "".join(f" {_fmt_key(k)}={_fmt_value(v)}" for k, v in fields)
        return f"{source}[{level}] {_escape(message)}{extra}\n"

    # --- the descriptor ----------------------------------------------------------------
    def write(self, text):
        self.write_bytes(text.encode("utf-8", "replace"))

    def write_bytes(self, data, event=False):
        self.sink.write(data, event)

    def close(self):
        self.sink.close()

    def flush(self):
        """The reader has room again: write what waits; report a blocked spell with drops."""
        report = self.sink.flush()
        if report is not None:
            seconds, dropped = report
            self.event("warn", "zei", f"output was blocked for {seconds:.1f}s; "
                                      f"dropped {dropped} line(s)")


def _now():
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"
