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

import math
import re

import yaml

from zei.model import (DEFAULT_SHUTDOWN_TIMEOUT, Config, ConfigError, Problem, ServiceSpec,  # noqa: F401
                       dependency_order)

DEFAULT_PATH = "/etc/zei/zei.yaml"
RESTART_POLICIES = ("always", "on-failure", "never")
SERVICE_KEYS = (
    "command", "user", "group", "restart", "max_restarts", "restart_delay", "oneshot",
    "interval", "depends_on", "environment", "working_dir", "stdout", "stderr", "json_logs",
)
TOP_KEYS = ("version", "shutdown_timeout", "services")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value):
    """'100ms' '5s' '2m' '1h' '1.5s', or a bare non-negative number of seconds -> float.

    Raises ValueError with a short reason."""
    if isinstance(value, bool):
        raise ValueError("expected a duration like 5s, 100ms, 2m or 1h")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):           # .inf/.nan would break every deadline
            raise ValueError("expected a duration like 5s, 100ms, 2m or 1h")
        if value < 0:
            raise ValueError("must not be negative")
        return float(value)
    if not isinstance(value, str):
        raise ValueError("expected a duration like 5s, 100ms, 2m or 1h")
    m = _DURATION_RE.match(value)
    if not m:
        if value.strip().startswith("-"):
            raise ValueError("must not be negative")
        raise ValueError("expected a duration like 5s, 100ms, 2m or 1h")
    return float(m.group(1)) * _UNITS[m.group(2)]


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
    return text if len(text) <= 60 else text[:57] + "..."


def _line(node):
    return node.start_mark.line + 1


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


def suggest(word, choices):
    import difflib                       # only when something is wrong
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


class _Checker:
    def __init__(self, path, lookup_user, lookup_group):
        self.path = path
        self.problems = []
        self.lookup_user = lookup_user
        self.lookup_group = lookup_group

    def bad(self, node_or_line, where, message, got=None):
        line = node_or_line if isinstance(node_or_line, int) else _line(node_or_line)
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
                self.bad(knode, f"{where}.{key}" if where else key,
                         f"duplicate key (first defined on line {seen[key]})")
                continue
            seen[key] = _line(knode)
            out.append((key, knode, vnode))
        return out

    # --- typed field readers: each returns the value or None after reporting -------------
    def string(self, node, where):
        if isinstance(node, yaml.ScalarNode):
            value = _scalar(node)
            if isinstance(value, str) and value != "":
                return value
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return str(node.value)
        self.bad(node, where, "expected a non-empty string", node)
        return None

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
                self.bad(knode, key, "unknown top-level key" + suggest(key, TOP_KEYS))
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
            self.bad(_line(root), "services", "missing: the config needs a 'services' mapping")
            return None
        snode = top["services"]
        if not isinstance(snode, yaml.MappingNode) or not snode.value:
            self.bad(snode, "services", "expected a non-empty mapping of service name to options", snode)
            return None
        services = []
        self.deps = {}
        for name, knode, vnode in self.mapping_items(snode, "services"):
            where = f"services.{name}"
            if not NAME_RE.match(name) or name in ("all",):
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
                self.bad(knode, f"{where}.{key}", "unknown option" + suggest(key, SERVICE_KEYS))
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
            elif key in ("restart_delay", "interval"):
                opts[key] = self.duration(vnode, f)
            elif key in ("oneshot", "json_logs"):
                opts[key] = self.boolean(vnode, f)
            elif key == "depends_on":
                opts[key] = self.string_list(vnode, f, allow_empty=True)
                if opts[key] is not None:
                    self.deps[name] = (vnode, opts[key])
            elif key == "environment":
                opts[key] = self.environment(vnode, f)
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
        self.identity(opts, lines, where)
        if len(self.problems) != before:
            return None
        spec = ServiceSpec(name=name, line=_line(key_node), **opts)
        return spec

    def environment(self, node, where):
        if not isinstance(node, yaml.MappingNode):
            self.bad(node, where, "expected a mapping of NAME: value", node)
            return None
        out = []
        for key, knode, vnode in self.mapping_items(node, where):
            if not key or "=" in key or "\0" in key:
                self.bad(knode, f"{where}.{key}", "not a valid variable name")
                return None
            value = _scalar(vnode) if isinstance(vnode, yaml.ScalarNode) else _UNSUPPORTED
            if value is _UNSUPPORTED:
                self.bad(vnode, f"{where}.{key}", "expected a string, number or boolean", vnode)
                return None
            if value is None:
                text = ""
            elif isinstance(value, bool):
                text = "true" if value else "false"
            else:
                text = str(vnode.value) if not isinstance(value, str) else value
            out.append((key, text))
        return tuple(out)

    def identity(self, opts, lines, where):
        user = opts.get("user")
        group = opts.get("group")
        if user is not None and self.lookup_user(user) is None:
            self.bad(lines["user"], f"{where}.user", "no such user", lines["user"])
        if group is not None and self.lookup_group(group) is None:
            self.bad(lines["group"], f"{where}.group", "no such group", lines["group"])

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
    """One cycle of a {node: [deps]} graph as a list of nodes, or None."""
    WHITE, GREY, BLACK = 0, 1, 2
    color = {n: WHITE for n in graph}
    stack = []

    def visit(n):
        color[n] = GREY
        stack.append(n)
        for d in graph.get(n, ()):
            if color.get(d) == GREY:
                return stack[stack.index(d):]
            if color.get(d) == WHITE:
                found = visit(d)
                if found:
                    return found
        stack.pop()
        color[n] = BLACK
        return None

    for n in graph:
        if color[n] == WHITE:
            found = visit(n)
            if found:
                return found
    return None


def parse(text, path, lookup_user=lambda name: True, lookup_group=lambda name: True):
    """Parse config text. lookup_user/lookup_group return None for unknown names.

    Returns a Config; raises ConfigError listing every problem."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else 0
        col = f", column {mark.column + 1}" if mark else ""
        what = e.problem or e.context or "invalid YAML"
        raise ConfigError([Problem(line, "", f"YAML syntax error{col}: {what}", path)]) from None
    except yaml.reader.ReaderError as e:      # a character YAML does not allow, e.g. NUL
        line = text.count("\n", 0, e.position) + 1
        char = f"#x{e.character:04x}" if isinstance(e.character, int) else repr(e.character)
        raise ConfigError([Problem(line, "", f"YAML error: unacceptable character {char}: {e.reason}",
                                   path)]) from None
    except yaml.YAMLError as e:
        raise ConfigError([Problem(0, "", f"YAML error: {e}", path)]) from None
    checker = _Checker(path, lookup_user, lookup_group)
    config = checker.document(root)
    if checker.problems:
        raise ConfigError(checker.problems)
    return config
