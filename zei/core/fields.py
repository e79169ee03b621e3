"""Reading one YAML node as one config value, with its problem when it is not one.

The scalar helpers (durations, signal names, how a value is shown in a message, which
strings cannot reach execve) and Fields, the typed readers zei.core.config's checker is
built on: each reader returns the value, or reports `FILE:LINE: WHERE: problem (got X)`
and returns None. Pure: no system calls.
"""
from __future__ import annotations

import bisect
import math
import re

import yaml

from zei.core.model import MAX_SIGNAL, SIGNAL_NAMES, Problem, span  # noqa: F401

DEFAULT_PATH = "/etc/zei/zei.yaml"
RESTART_POLICIES = ("always", "on-failure", "never")
SERVICE_KEYS = (
    "command", "user", "group", "restart", "max_restarts", "restart_delay", "oneshot",
    "interval", "depends_on", "environment", "working_dir", "stdout", "stderr", "json_logs",
    "essential", "success_exit_codes", "stop_signal", "stop_grace_period", "restart_delay_max",
    "healthcheck", "ready", "env_file", "schedule",
)
TOP_KEYS = ("version", "shutdown_timeout", "services")
# Patterns match whole strings only: \A...\Z (with fullmatch) -- `$` would also match before a
# trailing newline, and a name with a newline would split every log line it prefixes.
NAME_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")
_DURATION_RE = re.compile(r"\A\s*([0-9]+(?:\.[0-9]+)?|\.[0-9]+)\s*(ms|s|m|h)?\s*\Z", re.ASCII)
# docker-compose's (Go's) compound form: 1m30s, 1h30m, 2h45m30.5s, 1s500ms
_COMPOUND_RE = re.compile(r"\A\s*(?:(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)(?:us|ms|s|m|h)){1,8}\s*\Z", re.ASCII)
_PART_RE = re.compile(r"([0-9]+(?:\.[0-9]+)?|\.[0-9]+)(us|ms|s|m|h)", re.ASCII)
_UNITS = {"us": 1e-6, "ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
# Far beyond any sensible timer, far below what overflows a deadline: now + 1e308 s is finite,
# but the daemon's poll timeout (deadline - now) * 1000 would be inf.
MAX_DURATION = 10 * 365 * 86400.0
_NOT_A_DURATION = "expected a duration like 5s, 100ms, 2m or 1h"
_TOO_LONG = "must be at most 10 years (87600h)"
# Signal names without SIG, the Linux aliases too (as docker and Python take them).
SIGNAL_NUMBERS = {name: number for number, name in SIGNAL_NAMES.items()} | {"IOT": 6, "CLD": 17, "POLL": 29}
_NOT_A_SIGNAL = "expected a signal name like TERM or SIGINT, or a number from 1 to 64"
DOCKER_STOP_TIMEOUT = 10.0      # what `docker stop` (and podman stop) wait before SIGKILL by default


def parse_duration(value):
    """'100ms' '5s' '2m' '1h' '1.5s', compose's compound '1m30s', or a bare non-negative
    number of seconds -> float.

    Raises ValueError (only) with a short reason; at most MAX_DURATION."""
    if isinstance(value, bool):
        raise ValueError(_NOT_A_DURATION)
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):   # .inf/.nan break every deadline
            raise ValueError(_NOT_A_DURATION)
        if value < 0:
            raise ValueError("must not be negative")
        if value > MAX_DURATION:                 # compared exactly: 10**400 never becomes a float
            raise ValueError(_TOO_LONG)
        return float(value)
    if not isinstance(value, str):
        raise ValueError(_NOT_A_DURATION)
    m = _DURATION_RE.fullmatch(value)
    if m:
        seconds = float(m.group(1)) * _UNITS[m.group(2)]   # float('9' * 400) is inf
    elif _COMPOUND_RE.fullmatch(value):
        seconds = sum(float(n) * _UNITS[u] for n, u in _PART_RE.findall(value))
    else:
        if value.strip().startswith("-"):
            raise ValueError("must not be negative")
        raise ValueError(_NOT_A_DURATION)
    if not seconds <= MAX_DURATION:
        raise ValueError(_TOO_LONG)
    return seconds


def _unusable(text):
    """Why a string from the config cannot be handed to execve/open (or printed), or None.

    The file is read as UTF-8, but double-quoted YAML can still spell a NUL ("\\0") or a lone
    surrogate ("\\udc80"): execve and open raise ValueError on the one, encoding the other
    raises UnicodeEncodeError (or, for \\udc80-\\udcff, turns into raw bytes) -- long after
    validation, in the daemon. So both are refused here."""
    if "\0" in text:
        return "must not contain a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid UTF-8 text (a lone surrogate such as \\udc80 is not)"
    return None


def _label(key):
    """A key as it appears in a problem's `where`: as written, or quoted (repr) when it holds
    something that does not print -- a newline would split the problem's line."""
    text = key if key.isprintable() else repr(key)
    return text if len(text) <= 80 else text[:77] + "..."


def _show(node):
    """The offending value as the user wrote it, short."""
    if isinstance(node, yaml.ScalarNode):
        if node.tag not in _CONSTRUCTOR.yaml_constructors:
            text = f"{node.tag} {node.value}"
        elif node.style in ("'", '"') or node.tag.endswith(":str"):
            text = repr(node.value)
        else:
            text = node.value or "null"
    elif isinstance(node, yaml.SequenceNode):
        text = "[]" if not node.value else "a list"
    elif isinstance(node, yaml.MappingNode):
        text = "{}" if not node.value else "a mapping"
    else:
        text = "?"
    if not text.isprintable():                 # `!<x%0Ay> "a\nb"`: never a raw newline or control
        text = repr(text)
    return text if len(text) <= 60 else text[:57] + "..."


class _Lines:
    """Line and column of a character index, counting "\n" only -- as editors, grep -n and
    sed do. (PyYAML's own marks also count \r, NEL, U+2028 and U+2029 as line breaks.)"""

    def __init__(self, text):
        self.text = text
        self.breaks = [m.start() for m in re.finditer("\n", text)]

    def line(self, index):
        return bisect.bisect_left(self.breaks, index) + 1

    def column(self, index):
        return index - (self.text.rfind("\n", 0, index) + 1) + 1

    def of(self, node):
        return self.line(node.start_mark.index)


class _Unsupported:
    """The value of a scalar whose tag the safe loader does not know (`!env X`): no field takes it."""


_UNSUPPORTED = _Unsupported()


def _scalar(node):
    """Construct the Python value of one scalar node with the safe constructors.

    A tag the safe loader does not know gives _UNSUPPORTED; a value its own tag cannot build
    (`2024-02-30` looks like a date, `!!int many`) is taken as its text. Never raises."""
    if node.tag not in _CONSTRUCTOR.yaml_constructors:
        return _UNSUPPORTED
    try:
        return _CONSTRUCTOR.construct_object(node, deep=True)
    except Exception:                       # ValueError, KeyError, ConstructorError, ...
        return node.value
    finally:
        _CONSTRUCTOR.constructed_objects.clear()    # keep no node alive between parses
        _CONSTRUCTOR.recursive_objects.clear()


_CONSTRUCTOR = yaml.SafeLoader("")


def closest(word, choices):
    """The choice most like `word`, or None if none is close. The same words in another
    order come first: restart_max_delay is restart_delay_max, not restart_delay."""
    words = sorted(word.lower().split("_"))
    for choice in choices:
        if "_" in choice and sorted(choice.split("_")) == words:
            return choice
    import difflib                       # only when something is wrong
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return close[0] if close else None


def suggest(word, choices):
    close = closest(word, choices)
    return f"; did you mean {close!r}?" if close else ""


class Fields:
    def __init__(self, path, lookup_user, lookup_group, lines):
        self.path = path
        self.lines = lines
        self.problems = []
        self.lookup_user = lookup_user
        self.lookup_group = lookup_group

    def bad(self, node_or_line, where, message, got=None):
        line = node_or_line if isinstance(node_or_line, int) else self.lines.of(node_or_line)
        if got is not None:
            message = f"{message} (got {_show(got)})"
        self.problems.append(Problem(line, where, message, self.path))

    def mapping_items(self, node, where):
        """(key string, key node, value node) of a mapping; reports duplicates and non-string keys."""
        seen = {}
        out = []
        for knode, vnode in node.value:
            if not isinstance(knode, yaml.ScalarNode):
                self.bad(knode, where, "keys must be plain names", knode)
                continue
            key = str(knode.value)
            if key in seen:
                self.bad(knode, f"{where}.{_label(key)}" if where else _label(key),
                         f"duplicate key (first defined on line {seen[key]})")
                continue
            seen[key] = self.lines.of(knode)
            out.append((key, knode, vnode))
        return out

    # --- typed field readers: each returns the value or None after reporting -------------
    def string(self, node, where):
        if isinstance(node, yaml.ScalarNode):
            value = _scalar(node)
            if isinstance(value, str) and value != "":
                return self.usable(value, node, where)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return str(node.value)
        self.bad(node, where, "expected a non-empty string", node)
        return None

    def usable(self, text, node, where):
        """`text`, or None after reporting why it could never reach a system call."""
        why = _unusable(text)
        if why is not None:
            self.bad(node, where, why, node)
            return None
        return text

    def boolean(self, node, where):
        if isinstance(node, yaml.ScalarNode):
            value = _scalar(node)
            if isinstance(value, bool):
                return value
        self.bad(node, where, "expected true or false", node)
        return None

    def count(self, node, where):
        if isinstance(node, yaml.ScalarNode):
            value = _scalar(node)
            if isinstance(value, int) and not isinstance(value, bool):
                if value < 0:
                    self.bad(node, where, "must not be negative", node)
                    return None
                return value
        self.bad(node, where, "expected a whole number", node)
        return None

    def duration(self, node, where):
        if isinstance(node, yaml.ScalarNode):
            try:
                return parse_duration(_scalar(node))
            except ValueError as e:
                self.bad(node, where, str(e), node)
                return None
        self.bad(node, where, "expected a duration like 5s, 100ms, 2m or 1h", node)
        return None

    def positive(self, node, where):
        """A duration greater than zero."""
        seconds = self.duration(node, where)
        if seconds == 0.0:
            self.bad(node, where, "must be greater than zero", node)
            return None
        return seconds

    def signal(self, node, where):
        """A signal name (with or without SIG, any case) or number 1..64 -> its number."""
        value = _scalar(node) if isinstance(node, yaml.ScalarNode) else None
        if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
            value = int(value.strip())
        if isinstance(value, int) and not isinstance(value, bool):
            if 1 <= value <= MAX_SIGNAL:
                return value
            self.bad(node, where, f"must be a signal number from 1 to {MAX_SIGNAL}", node)
            return None
        if not isinstance(value, str) or not value.strip():
            self.bad(node, where, _NOT_A_SIGNAL, node)
            return None
        text = value.strip().upper()
        prefix = "SIG" if text.startswith("SIG") else ""
        name = text[len(prefix):]
        if name in SIGNAL_NUMBERS:
            return SIGNAL_NUMBERS[name]
        if name.startswith(("RTMIN", "RTMAX")):
            why = "give a real-time signal as its number, 34 to 64"
        else:                                   # matched without SIG, shown as written
            close = closest(name, list(SIGNAL_NAMES.values())) if name else None
            why = f"did you mean {prefix + close!r}?" if close else _NOT_A_SIGNAL
        self.bad(node, where, f"unknown signal; {why}", node)
        return None

    def exit_codes(self, node, where):
        """A non-empty list of exit codes 0..255 -> a tuple, duplicates dropped, order kept."""
        if not isinstance(node, yaml.SequenceNode):
            self.bad(node, where, "expected a list of exit codes from 0 to 255", node)
            return None
        if not node.value:
            self.bad(node, where, "must not be empty", node)
            return None
        out, ok = [], True
        for i, item in enumerate(node.value):
            value = _scalar(item) if isinstance(item, yaml.ScalarNode) else None
            if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 255:
                if value not in out:
                    out.append(value)
                continue
            self.bad(item, f"{where}[{i}]", "expected an exit code from 0 to 255", item)
            ok = False
        return tuple(out) if ok else None

    def string_list(self, node, where, allow_empty=False):
        if not isinstance(node, yaml.SequenceNode):
            self.bad(node, where, "expected a list of strings", node)
            return None
        if not node.value and not allow_empty:
            self.bad(node, where, "must not be empty", node)
            return None
        return self.strings(node.value, where)

    def strings(self, items, where, start=0):
        """The items of a list (from index `start`) as argv strings; numbers become text."""
        out = []
        for i, item in enumerate(items[start:], start):
            if isinstance(item, yaml.ScalarNode):
                value = _scalar(item)
                if isinstance(value, str):
                    if self.usable(value, item, f"{where}[{i}]") is None:
                        return None
                    out.append(value)
                    continue
                if value is not None and not isinstance(value, (dict, list, _Unsupported)):
                    out.append(str(item.value))   # numbers in argv are fine: ["sleep", 5]
                    continue
            self.bad(item, f"{where}[{i}]", "expected a string", item)
            return None
        return tuple(out)

