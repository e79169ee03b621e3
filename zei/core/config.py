"""Configuration: YAML text in, frozen service specs out, every problem reported at once.

How it works: the text is composed (PyYAML safe loader) into a node tree, which keeps the
line of every key and value. We walk that tree ourselves instead of constructing Python
objects first, so each problem can name `FILE:LINE: services.NAME.FIELD: problem (got X)`.
Nothing here touches the system: user and group lookups arrive as a function argument, so
the same code serves the daemon, `zei check` and the unit tests.

Invariants: `parse()` either returns a Config with no errors, or raises ConfigError holding
every problem found (sorted by line). A Config is immutable.
"""
from __future__ import annotations

import bisect
import math
import re

import yaml

from zei.core.model import (DEFAULT_SHUTDOWN_TIMEOUT, MAX_ID, MAX_SIGNAL, SIGNAL_NAMES,  # noqa: F401
                            Config, ConfigError, Problem, ServiceSpec, dependency_order, numeric_id)

DEFAULT_PATH = "/etc/zei/zei.yaml"
RESTART_POLICIES = ("always", "on-failure", "never")
SERVICE_KEYS = (
    "command", "user", "group", "restart", "max_restarts", "restart_delay", "oneshot",
    "interval", "depends_on", "environment", "working_dir", "stdout", "stderr", "json_logs",
    "essential", "success_exit_codes", "stop_signal", "stop_grace_period", "restart_delay_max",
)
TOP_KEYS = ("version", "shutdown_timeout", "services")
# Patterns match whole strings only: \A...\Z (with fullmatch) -- `$` would also match before a
# trailing newline, and a name with a newline would split every log line it prefixes.
NAME_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")
_DURATION_RE = re.compile(r"\A\s*([0-9]+(?:\.[0-9]+)?|\.[0-9]+)\s*(ms|s|m|h)?\s*\Z", re.ASCII)
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
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
    """'100ms' '5s' '2m' '1h' '1.5s', or a bare non-negative number of seconds -> float.

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
    if not m:
        if value.strip().startswith("-"):
            raise ValueError("must not be negative")
        raise ValueError(_NOT_A_DURATION)
    seconds = float(m.group(1)) * _UNITS[m.group(2)]   # float('9' * 400) is inf
    if not seconds <= MAX_DURATION:
        raise ValueError(_TOO_LONG)
    return seconds


def span(seconds):
    """A duration as people write it in the config: 100ms, 1.5s, 40s, 2m, 1h."""
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    if 0 < seconds < 1:
        return f"{seconds * 1000:g}ms"
    return f"{seconds:g}s"


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


class _Checker:
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
        out = []
        for i, item in enumerate(node.value):
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

    # --- the document -----------------------------------------------------------------
    def document(self, root):
        top = {}
        if root is None:
            self.bad(1, "", "the file is empty; it needs a 'services' mapping")
            return None
        if not isinstance(root, yaml.MappingNode):
            self.bad(root, "", "the top level must be a mapping with a 'services' key", root)
            return None
        for key, knode, vnode in self.mapping_items(root, ""):
            if key not in TOP_KEYS:
                self.bad(knode, _label(key), "unknown top-level key" + suggest(key, TOP_KEYS))
                continue
            top[key] = vnode
        version = "1.0"
        if "version" in top:
            v = self.string(top["version"], "version")
            if v is not None:
                version = v
        timeout = DEFAULT_SHUTDOWN_TIMEOUT
        if "shutdown_timeout" in top:
            t = self.duration(top["shutdown_timeout"], "shutdown_timeout")
            if t is not None:
                timeout = t
        if "services" not in top:
            self.bad(self.lines.of(root), "services", "missing: the config needs a 'services' mapping")
            return None
        snode = top["services"]
        if not isinstance(snode, yaml.MappingNode) or not snode.value:
            self.bad(snode, "services", "expected a non-empty mapping of service name to options", snode)
            return None
        services = []
        self.deps = {}
        for name, knode, vnode in self.mapping_items(snode, "services"):
            where = f"services.{_label(name)}"
            if not NAME_RE.fullmatch(name) or name in ("all",):
                self.bad(knode, where, "service names use letters, digits, '.', '_' and '-', "
                         "start with a letter or digit, at most 64 characters, not 'all'")
                continue
            spec = self.service(name, vnode, where, knode)
            if spec is not None:
                services.append(spec)
        self.dependencies()
        return Config(path=self.path, services=tuple(services), shutdown_timeout=timeout,
                      version=version)

    def service(self, name, node, where, key_node):
        if not isinstance(node, yaml.MappingNode):
            self.bad(node, where, "expected a mapping of options", node)
            return None
        before = len(self.problems)
        opts = {}
        lines = {}
        for key, knode, vnode in self.mapping_items(node, where):
            if key not in SERVICE_KEYS:
                self.bad(knode, f"{where}.{_label(key)}", "unknown option" + suggest(key, SERVICE_KEYS))
                continue
            lines[key] = vnode
            f = f"{where}.{key}"
            if key == "command":
                opts[key] = self.string_list(vnode, f)
            elif key in ("user", "group"):
                opts[key] = self.string(vnode, f)
            elif key == "restart":
                value = self.string(vnode, f)
                if value is not None and value not in RESTART_POLICIES:
                    self.bad(vnode, f, "expected always, on-failure or never"
                             + suggest(value, RESTART_POLICIES), vnode)
                    value = None
                opts[key] = value
            elif key == "max_restarts":
                opts[key] = self.count(vnode, f)
            elif key in ("restart_delay", "interval", "stop_grace_period", "restart_delay_max"):
                opts[key] = self.duration(vnode, f)
            elif key in ("oneshot", "json_logs", "essential"):
                opts[key] = self.boolean(vnode, f)
            elif key == "depends_on":
                opts[key] = self.string_list(vnode, f, allow_empty=True)
                if opts[key] is not None:
                    self.deps[name] = (vnode, opts[key])
            elif key == "environment":
                opts[key] = self.environment(vnode, f)
            elif key == "success_exit_codes":
                opts[key] = self.exit_codes(vnode, f)
            elif key == "stop_signal":
                opts[key] = self.signal(vnode, f)
            elif key in ("working_dir", "stdout", "stderr"):
                value = self.string(vnode, f)
                if value is not None and not value.startswith("/"):
                    self.bad(vnode, f, "expected an absolute path", vnode)
                    value = None
                opts[key] = value
        if "command" not in lines:
            self.bad(key_node, f"{where}.command", "missing: every service needs a command list")
        self.deps.setdefault(name, (node, ()))
        if "interval" in lines and opts.get("interval") is not None and not opts.get("oneshot"):
            self.bad(lines["interval"], f"{where}.interval",
                     "only oneshot services can have an interval; add 'oneshot: true'")
        if opts.get("interval") == 0.0:
            self.bad(lines["interval"], f"{where}.interval", "must be greater than zero",
                     lines["interval"])
        self.backoff(opts, lines, where)
        self.identity(opts, lines, where)
        if len(self.problems) != before:
            return None
        spec = ServiceSpec(name=name, line=self.lines.of(key_node), **opts)
        return spec

    def environment(self, node, where):
        if not isinstance(node, yaml.MappingNode):
            self.bad(node, where, "expected a mapping of NAME: value", node)
            return None
        out = []
        for key, knode, vnode in self.mapping_items(node, where):
            at = f"{where}.{_label(key)}"
            # execve takes any bytes but '=' and NUL; a control character (a newline, ESC) or a
            # surrogate in a name is refused too: no program could look such a name up.
            if not key or "=" in key or not key.isprintable():
                self.bad(knode, at, "not a valid variable name")
                return None
            value = _scalar(vnode) if isinstance(vnode, yaml.ScalarNode) else _UNSUPPORTED
            if value is _UNSUPPORTED:
                self.bad(vnode, at, "expected a string, number or boolean", vnode)
                return None
            if value is None:
                text = ""
            elif isinstance(value, bool):
                text = "true" if value else "false"
            else:
                text = str(vnode.value) if not isinstance(value, str) else value
            if self.usable(text, vnode, at) is None:
                return None
            out.append((key, text))
        return tuple(out)

    def backoff(self, opts, lines, where):
        """restart_delay_max is the cap of a delay that starts at restart_delay: not below it.
        (With restart: never it is simply unused.)"""
        cap = opts.get("restart_delay_max")
        if cap is None or ("restart_delay" in lines and opts.get("restart_delay") is None):
            return                              # unset, or a problem reported already
        delay = opts.get("restart_delay", ServiceSpec._field_defaults["restart_delay"])
        if cap < delay:
            shown = span(delay) + ("" if "restart_delay" in lines else ", the default")
            self.bad(lines["restart_delay_max"], f"{where}.restart_delay_max",
                     f"must be at least restart_delay ({shown})", lines["restart_delay_max"])

    def identity(self, opts, lines, where):
        for field, kind, lookup in (("user", "uid", self.lookup_user), ("group", "gid", self.lookup_group)):
            value = opts.get(field)
            if value is None:
                continue
            try:
                numeric_id(value)           # ASCII digits: a uid/gid, whatever the lookup says
            except ValueError:
                # 4294967295 is (uid_t)-1: setresuid(-1, ...) leaves the ids unchanged, i.e. root
                self.bad(lines[field], f"{where}.{field}", f"a numeric {kind} must be at most {MAX_ID}",
                         lines[field])
                continue
            if lookup(value) is None:
                self.bad(lines[field], f"{where}.{field}", f"no such {field}", lines[field])

    def dependencies(self):
        for name, (node, deps) in self.deps.items():
            where = f"services.{name}.depends_on"
            for dep in deps:
                if dep == name:
                    self.bad(node, where, "a service cannot depend on itself")
                elif dep not in self.deps:
                    self.bad(node, where, f"unknown service {dep!r}" + suggest(dep, list(self.deps)))
        graph = {n: [d for d in deps if d in self.deps and d != n]
                 for n, (_, deps) in self.deps.items()}
        cycle = find_cycle(graph)
        if cycle:
            node = self.deps[cycle[0]][0]
            self.bad(node, f"services.{cycle[0]}.depends_on",
                     "dependency cycle: " + " -> ".join(cycle + [cycle[0]]))


def find_cycle(graph):
    """One cycle of a {node: [deps]} graph as a list of nodes, or None.

    Depth-first with an explicit stack (a chain of thousands of services must not hit the
    recursion limit); finds the same cycle the recursive walk would."""
    WHITE, GREY, BLACK = 0, 1, 2
    color = {n: WHITE for n in graph}
    for start in graph:
        if color[start] != WHITE:
            continue
        color[start] = GREY
        path = [start]                              # the GREY nodes, in order
        stack = [iter(graph.get(start, ()))]
        while stack:
            for d in stack[-1]:
                c = color.get(d)
                if c == GREY:
                    return path[path.index(d):]
                if c == WHITE:
                    color[d] = GREY
                    path.append(d)
                    stack.append(iter(graph.get(d, ())))
                    break
            else:
                stack.pop()
                color[path.pop()] = BLACK
    return None


def warnings(config):
    """What `zei check` points out in a valid config, as printable lines (not errors).

    A stop_grace_period beyond shutdown_timeout is cut at shutdown (the global deadline
    bounds the whole stop); and a shutdown budget beyond docker stop's default 10s wait
    means docker kills the container -- zei and every service -- before zei is done."""
    out = []
    timeout = config.shutdown_timeout
    for s in config.services:
        if s.stop_grace_period is not None and s.stop_grace_period > timeout:
            loc = f"{config.path}:{s.line}" if s.line else config.path
            out.append(f"{loc}: services.{s.name}.stop_grace_period: {span(s.stop_grace_period)} is longer "
                       f"than shutdown_timeout ({span(timeout)}); at shutdown it gets at most {span(timeout)}")
    # The budget is shutdown_timeout whatever the graces: shorter ones still add up along the
    # stop order, and orphans get until the deadline. zei exits at most 2s after it; 5s of slack.
    if timeout > DOCKER_STOP_TIMEOUT:
        n = math.ceil(timeout) + 5
        out.append(f"{config.path}: note: shutdown_timeout is {span(timeout)}, but docker stop waits only "
                   f"{span(DOCKER_STOP_TIMEOUT)} by default before it kills the container; give it "
                   f"{n}s (docker stop -t {n}, stop_grace_period: {n}s in compose, "
                   f"terminationGracePeriodSeconds: {n} in Kubernetes) or lower shutdown_timeout")
    return out


def parse(text, path, lookup_user=lambda name: True, lookup_group=lambda name: True):
    """Parse config text. lookup_user/lookup_group return None for unknown names.

    Returns a Config; raises ConfigError listing every problem."""
    lines = _Lines(text)
    loader = None
    try:
        loader = yaml.SafeLoader(text)          # (checks the characters already)
        root = loader.get_single_node()
    except RecursionError:                     # PyYAML composes recursively: [[[[... or - - - -...
        # At the next token not yet composed (the scanner itself reads ahead). Where the stack
        # runs out depends on the caller's depth: so the line, but no column.
        mark = (loader.tokens[0].start_mark if loader.tokens else loader.get_mark()) if loader else None
        index = mark.index if mark else 0
        raise ConfigError([Problem(lines.line(index), "", "YAML error: nested too deeply", path)]) from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = lines.line(mark.index) if mark else 0
        col = f", column {lines.column(mark.index)}" if mark else ""
        what = e.problem or e.context or "invalid YAML"
        what = what if what.isprintable() else repr(what)
        raise ConfigError([Problem(line, "", f"YAML syntax error{col}: {what}", path)]) from None
    except yaml.reader.ReaderError as e:      # a character YAML does not allow, e.g. NUL
        char = f"#x{e.character:04x}" if isinstance(e.character, int) else repr(e.character)
        raise ConfigError([Problem(lines.line(e.position), "", f"YAML error: unacceptable character "
                                   f"{char}: {e.reason}", path)]) from None
    except yaml.YAMLError as e:
        raise ConfigError([Problem(0, "", f"YAML error: {e}" if str(e).isprintable() else
                                   f"YAML error: {str(e)!r}", path)]) from None
    finally:
        if loader is not None:
            loader.dispose()
    checker = _Checker(path, lookup_user, lookup_group, lines)
    config = checker.document(root)
    if checker.problems:
        raise ConfigError(checker.problems)
    return config
