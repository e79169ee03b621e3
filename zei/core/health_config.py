"""Reading `healthcheck:`, `ready:` and the long form of `depends_on:` (HealthFields, the
readers zei.core.config's checker inherits), and the strict address parsers they need.

healthcheck takes docker-compose's keys, so a compose healthcheck can be pasted, plus
`http: URL` and `tcp: HOST:PORT` probes. A host is an IP address literal or `localhost`:
PID 1 never resolves a name (a lookup could block it), and the checks are written here in
a few lines rather than with ipaddress (heavy to import in PID 1's prelude). Each reader
returns its value, or reports `FILE:LINE: services.NAME.FIELD: problem (got X)` and
returns None. Pure: no system calls.
"""
from __future__ import annotations

import re
import warnings

import yaml

from zei.core.fields import Fields, _label, _scalar, suggest
from zei.core.model import CONDITIONS, STARTED, Healthcheck, Ready

HEALTH_KEYS = ("test", "http", "tcp", "interval", "timeout", "start_period", "start_interval",
               "retries", "on_unhealthy", "disable")
PROBES = ("test", "http", "tcp")
TIMING = ("interval", "timeout", "start_period", "start_interval", "retries", "on_unhealthy")
TEST_KINDS = ("CMD", "CMD-SHELL", "NONE")
ON_UNHEALTHY = ("restart", "none")
READY_KEYS = ("notify", "log_line", "timeout")
DEPENDENCY_KEYS = ("condition", "required")
_HEX = frozenset("0123456789abcdefABCDEF")
_DIGITS = frozenset("0123456789")
_NOT_A_TEST = "expected [CMD, program, args...], [CMD-SHELL, command], [NONE] or a shell command string"
_NOT_A_URL = "expected a URL like http://127.0.0.1:8080/health"
_NOT_TCP = "expected HOST:PORT like 127.0.0.1:5432 or [::1]:5432"
_BAD_PORT = "the port must be a number from 1 to 65535"
_HTTPS = "https is not supported; use an exec check (test: [CMD, curl, -fsS, URL])"
_NO_NAMES = ("zei does not resolve host names (it would block PID 1); use an IP address "
             "such as 127.0.0.1 or [::1], or localhost")
_ONESHOT = "a oneshot is ready once it exits with a success code"


# --- addresses --------------------------------------------------------------------------------

def is_ipv4(text):
    """A dotted quad, each part 0..255 in ASCII digits without leading zeros ('010' is octal
    to inet_aton, decimal to others: refused)."""
    parts = text.split(".")
    return len(parts) == 4 and all(
        0 < len(p) <= 3 and set(p) <= _DIGITS and (p == "0" or p[0] != "0") and int(p) <= 255
        for p in parts)


def is_ipv6(text):
    """An IPv6 address as RFC 4291 writes it: eight groups of 1-4 hex digits, at most one '::'
    standing for one or more zero groups, the last 32 bits optionally as a dotted quad. No
    zone (%eth0)."""
    if "." in text:                                 # ::ffff:192.0.2.1: the quad is the tail
        quad = text[text.rfind(":") + 1:]
        if ":" not in text or not is_ipv4(quad):
            return False
        text = text[:-len(quad)] + "0:0"
    if text.count("::") > 1:
        return False
    head, sep, tail = text.partition("::")
    groups = (head.split(":") if head else []) + (tail.split(":") if tail else [])
    if not all(0 < len(g) <= 4 and set(g) <= _HEX for g in groups):
        return False
    return len(groups) < 8 if sep else len(groups) == 8


def split_address(text, default_port=None):
    """'HOST[:PORT]' -> (ip, port): HOST an IPv4 literal, a bracketed IPv6 literal or
    localhost (127.0.0.1). Raises ValueError with the reason."""
    if "@" in text:
        raise ValueError("no user:password@ in the address: zei sends no credentials")
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError("an IPv6 address in brackets needs the closing ']'")
        host, rest = text[1:end], text[end + 1:]
        if not is_ipv6(host):
            raise ValueError("not an IPv6 address inside the brackets")
        if rest and not rest.startswith(":"):
            raise ValueError("expected ':PORT' after the ']'")
    else:
        if text.count(":") > 1:
            raise ValueError("an IPv6 address goes in brackets, e.g. [::1]:8080")
        host, colon, port = text.partition(":")
        rest = colon + port
        if not host:
            raise ValueError("the host is missing")
        if host.lower() == "localhost":
            host = "127.0.0.1"
        elif not is_ipv4(host):
            if set(host) <= _DIGITS | {"."}:
                raise ValueError("not an IPv4 address: four numbers from 0 to 255, without leading zeros")
            raise ValueError(_NO_NAMES)
    if not rest:
        if default_port is None:
            raise ValueError("the port is missing: HOST:PORT")
        return host, default_port
    port = rest[1:]
    if not (0 < len(port) <= 5 and set(port) <= _DIGITS and 1 <= int(port) <= 65535):
        raise ValueError(_BAD_PORT)
    return host, int(port)


def parse_http(text):
    """'http://HOST[:PORT][/path][?query]' -> (ip, port, request target). Raises ValueError."""
    scheme, sep, rest = text.partition("://")
    if sep and scheme.lower() == "https":
        raise ValueError(_HTTPS)
    if not sep or scheme.lower() != "http":
        raise ValueError(_NOT_A_URL)
    if "#" in rest:
        raise ValueError("no #fragment: it is never sent to the server")
    cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    host, port = split_address(rest[:cut], 80)
    target = rest[cut:]
    target = "/" + target if target.startswith("?") or not target else target
    if not all("!" <= c <= "~" for c in target):     # it goes on the request line as it is
        raise ValueError("the path must be printable ASCII without spaces; percent-encode the rest")
    return host, port, target


def parse_tcp(text):
    """'HOST:PORT' -> (ip, port). Raises ValueError."""
    if "://" in text:
        raise ValueError(_NOT_TCP + ", without a scheme")
    if ":" not in text:
        raise ValueError(_NOT_TCP)
    return split_address(text)


# --- the readers ------------------------------------------------------------------------------

class HealthFields(Fields):
    def health(self, opts, lines, keys, where):
        """healthcheck and ready, read once the other options are: they depend on oneshot,
        ready also on stdout and stderr. `lines` holds value nodes, `keys` key nodes."""
        oneshot = opts.get("oneshot") is True
        if "healthcheck" in lines:
            f = f"{where}.healthcheck"
            check, on = self.healthcheck(lines["healthcheck"], keys["healthcheck"], f)
            if on and oneshot:
                self.bad(keys["healthcheck"], f, f"health checks are for long-running services; {_ONESHOT}")
            opts["healthcheck"] = check
        if "ready" in lines:
            captured = not ("stdout" in lines and "stderr" in lines)
            opts["ready"] = self.ready(lines["ready"], keys["ready"], f"{where}.ready", oneshot, captured)

    def healthcheck(self, node, key_node, where):
        """-> (a Healthcheck or None, on): on is False for a check turned off (disable: true,
        test: [NONE]), whose other keys are still checked but unused -- as compose does."""
        if not isinstance(node, yaml.MappingNode):
            self.bad(node, where, "expected a mapping with test, http or tcp and the timing options", node)
            return None, False
        before = len(self.problems)
        items, values = {}, {}
        for key, knode, vnode in self.mapping_items(node, where):
            if key not in HEALTH_KEYS:
                self.bad(knode, f"{where}.{_label(key)}", "unknown option" + suggest(key, HEALTH_KEYS))
                continue
            items[key] = knode
            f = f"{where}.{key}"
            if key == "test":
                values[key] = self.test(vnode, f)
            elif key in ("http", "tcp"):
                values[key] = self.address(vnode, f, parse_http if key == "http" else parse_tcp)
            elif key in ("interval", "timeout", "start_interval"):
                values[key] = self.positive(vnode, f)
            elif key == "start_period":
                values[key] = self.duration(vnode, f)
            elif key == "retries":
                values[key] = self.count(vnode, f)
                if values[key] == 0:
                    self.bad(vnode, f, "must be at least 1", vnode)
            elif key == "on_unhealthy":
                values[key] = self.choice(vnode, f, ON_UNHEALTHY)
            else:
                values[key] = self.boolean(vnode, f)
        on = values.get("disable") is not True and values.get("test") != ()
        probes = [k for k in items if k in PROBES]     # in file order
        if on and not probes:
            self.bad(key_node, where, "needs one of test, http or tcp (or disable: true)")
        elif on and len(probes) > 1:
            self.bad(items[probes[1]], where, "give only one of test, http and tcp (got "
                     + ", ".join(probes[:-1]) + " and " + probes[-1] + ")")
        if not on or len(self.problems) != before:
            return None, on
        kind = probes[0]
        timing = {k: values[k] for k in TIMING if k in values}
        if kind == "test":
            return Healthcheck(kind="exec", command=values["test"], **timing), True
        host, port, *path = values[kind]
        return Healthcheck(kind=kind, host=host, port=port, path=path[0] if path else "/", **timing), True

    def test(self, node, where):
        """compose's test -> the argv; () for [NONE]; None after a problem."""
        if isinstance(node, yaml.ScalarNode) and isinstance(_scalar(node), str):
            text = self.string(node, where)
            return None if text is None else ("/bin/sh", "-c", text)
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            self.bad(node, where, _NOT_A_TEST, node)
            return None
        first, rest = node.value[0], node.value[1:]
        kind = _scalar(first) if isinstance(first, yaml.ScalarNode) else None
        if not isinstance(kind, str) or kind not in TEST_KINDS:
            hint = suggest(kind.upper(), TEST_KINDS) if isinstance(kind, str) else ""
            self.bad(first, f"{where}[0]", "expected CMD, CMD-SHELL or NONE" + hint, first)
            return None
        if kind == "NONE":
            if rest:
                self.bad(rest[0], f"{where}[1]", "NONE takes nothing after it", rest[0])
                return None
            return ()
        if kind == "CMD-SHELL":
            if len(rest) != 1:
                self.bad(node, where, "CMD-SHELL takes exactly one string after it: the shell command", node)
                return None
            text = self.string(rest[0], f"{where}[1]")
            return None if text is None else ("/bin/sh", "-c", text)
        if not rest:
            self.bad(node, where, "CMD needs the program after it: [CMD, program, args...]", node)
            return None
        return self.strings(node.value, where, start=1)

    def address(self, node, where, parser):
        text = self.string(node, where)
        if text is None:
            return None
        try:
            return parser(text)
        except ValueError as e:
            self.bad(node, where, str(e), node)
            return None

    def choice(self, node, where, choices):
        value = _scalar(node) if isinstance(node, yaml.ScalarNode) else None
        if isinstance(value, str) and value in choices:
            return value
        hint = suggest(value, choices) if isinstance(value, str) else ""
        self.bad(node, where, "expected " + " or ".join(choices) + hint, node)
        return None

    def ready(self, node, key_node, where, oneshot, captured):
        """-> a Ready, or None after a problem."""
        if not isinstance(node, yaml.MappingNode):
            self.bad(node, where, "expected a mapping with notify or log_line, and timeout", node)
            return None
        before = len(self.problems)
        items, values = {}, {}
        for key, knode, vnode in self.mapping_items(node, where):
            if key not in READY_KEYS:
                self.bad(knode, f"{where}.{_label(key)}", "unknown option" + suggest(key, READY_KEYS))
                continue
            items[key] = vnode
            f = f"{where}.{key}"
            if key == "notify":
                values[key] = self.boolean(vnode, f)
            elif key == "log_line":
                values[key] = self.pattern(vnode, f)
            else:
                values[key] = self.positive(vnode, f)
        notify = values.get("notify")             # None: not given, or reported
        if oneshot:
            self.bad(key_node, where, f"ready is for long-running services; {_ONESHOT}")
        elif notify and "log_line" in items:
            self.bad(key_node, where, "give notify: true or log_line, not both")
        elif "log_line" not in items and (notify is False or "notify" not in items):
            self.bad(key_node, where, "ready needs notify: true or log_line")
        if "log_line" in items and not captured:
            self.bad(items["log_line"], f"{where}.log_line",
                     "log_line needs a captured stream: stdout or stderr must not be redirected")
        if len(self.problems) != before:
            return None
        return Ready(notify=bool(notify), log_line=values.get("log_line"), timeout=values.get("timeout"))

    def pattern(self, node, where):
        """A regular expression (Python's re) that compiles."""
        text = self.string(node, where)
        if text is None:
            return None
        try:
            with warnings.catch_warnings():     # "possible nested set" and the like: not ours
                warnings.simplefilter("ignore")
                re.compile(text)
        except (re.error, OverflowError, RecursionError) as e:
            why = "nested too deeply" if isinstance(e, RecursionError) else str(e)
            why = why if why.isprintable() else repr(why)[1:-1]
            self.bad(node, where, f"not a valid regular expression: {why}", node)
            return None
        return text

    def depends(self, node, where):
        """depends_on: a list of names (each service_started, required), or compose's mapping
        NAME: {condition, required}. -> (names, conditions, {name: key node}) or None."""
        if isinstance(node, yaml.SequenceNode):
            names = self.string_list(node, where, allow_empty=True)
            return None if names is None else (names, tuple((n, STARTED, True) for n in names), {})
        if not isinstance(node, yaml.MappingNode):
            self.bad(node, where, "expected a list of strings", node)   # (or the long form)
            return None
        names, conditions, nodes = [], [], {}
        for dep, knode, vnode in self.mapping_items(node, where):
            at = f"{where}.{_label(dep)}"
            names.append(dep)
            nodes[dep] = knode
            condition, required = STARTED, True
            if isinstance(vnode, yaml.MappingNode):
                for key, k, v in self.mapping_items(vnode, at):
                    f = f"{at}.{_label(key)}"
                    if key == "condition":
                        condition = self.string(v, f)
                        if condition is not None and condition not in CONDITIONS:
                            self.bad(v, f, "expected service_started, service_healthy or "
                                     "service_completed_successfully" + suggest(condition, CONDITIONS), v)
                    elif key == "required":
                        required = self.boolean(v, f)
                    elif key == "restart":
                        self.bad(k, f, "restart: is not supported: zei does not restart dependents "
                                 "when a dependency restarts")
                    else:
                        self.bad(k, f, "unknown option" + suggest(key, DEPENDENCY_KEYS))
            elif not (isinstance(vnode, yaml.ScalarNode) and _scalar(vnode) is None):
                self.bad(vnode, at, "expected a mapping with condition and required, or nothing", vnode)
            conditions.append((dep, condition, required))
        return tuple(names), tuple(conditions), nodes
