"""Configuration: YAML text in, frozen service specs out, every problem reported at once.

How it works: the text is composed (PyYAML safe loader) into a node tree, which keeps the
line of every key and value. We walk that tree ourselves instead of constructing Python
objects first, so each problem can name `FILE:LINE: services.NAME.FIELD: problem (got X)`.
Nothing here touches the system: user and group lookups arrive as a function argument (and,
when zei has no privileges, a zei.core.confinement.Confinement), so the same code serves the
daemon, `zei check` and the unit tests. The typed readers live in
zei.core.fields, those of healthcheck, ready and depends_on in zei.core.health_config.

Invariants: `parse()` either returns a Config with no errors, or raises ConfigError holding
every problem found (sorted by line). A Config is immutable.
"""
from __future__ import annotations

import math

import yaml

from zei.core.model import (DEFAULT_SHUTDOWN_TIMEOUT, MAX_ID, MAX_SIGNAL, SIGNAL_NAMES,  # noqa: F401
                            Config, ConfigError, Problem, ServiceSpec, dependency_order, numeric_id)

from zei.core.fields import (  # noqa: F401  (part of this module's interface)
    DEFAULT_PATH, RESTART_POLICIES, SERVICE_KEYS, TOP_KEYS, NAME_RE, MAX_DURATION,
    SIGNAL_NUMBERS, DOCKER_STOP_TIMEOUT, parse_duration, span, suggest, closest,
    _Lines, _show, _scalar, _UNSUPPORTED, _Unsupported, _unusable,
    _label, _DURATION_RE,
)
from zei.core.health_config import HealthFields
from zei.core.schedule_config import ScheduleFields
from zei.core.envfile_config import EnvFileFields, merge as merge_env_files
from zei.core import confinement as confinement_mod


class _Checker(ScheduleFields, HealthFields, EnvFileFields):
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
        lines = {}                                  # key -> value node
        keys = {}                                   # key -> key node
        for key, knode, vnode in self.mapping_items(node, where):
            if key not in SERVICE_KEYS:
                self.bad(knode, f"{where}.{_label(key)}", "unknown option" + suggest(key, SERVICE_KEYS))
                continue
            lines[key] = vnode
            keys[key] = knode
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
                got = self.depends(vnode, f)
                opts[key] = got and got[0]
                if got is not None:
                    opts["conditions"] = got[1]
                    self.deps[name] = (vnode, got[0], got[2])
            elif key == "environment":
                opts[key] = self.environment(vnode, f)
            elif key == "env_file":                  # merged into environment below
                opts["env_files"] = self.env_files(vnode, f)
            elif key == "success_exit_codes":
                opts[key] = self.exit_codes(vnode, f)
            elif key == "stop_signal":
                opts[key] = self.signal(vnode, f)
            elif key == "schedule":
                opts[key] = self.schedule(vnode, f)
            elif key in ("working_dir", "stdout", "stderr"):
                value = self.string(vnode, f)
                if value is not None and not value.startswith("/"):
                    self.bad(vnode, f, "expected an absolute path", vnode)
                    value = None
                opts[key] = value
            # healthcheck and ready: read below, once oneshot, stdout and stderr are known
        if "command" not in lines:
            self.bad(key_node, f"{where}.command", "missing: every service needs a command list")
        self.deps.setdefault(name, (node, (), {}))
        if "interval" in lines and opts.get("interval") is not None and not opts.get("oneshot"):
            self.bad(lines["interval"], f"{where}.interval",
                     "only oneshot services can have an interval; add 'oneshot: true'")
        if opts.get("interval") == 0.0:
            self.bad(lines["interval"], f"{where}.interval", "must be greater than zero",
                     lines["interval"])
        self.periodic(opts, lines, where)
        self.backoff(opts, lines, where)
        self.identity(opts, lines, where)
        self.health(opts, lines, keys, where)
        if len(self.problems) != before:
            return None
        if "env_files" in opts:
            opts["environment"], opts["env_files"] = merge_env_files(opts["env_files"], opts.get("environment"))
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

    confinement = None              # a zei.core.confinement.Confinement: zei has no privileges

    def identity(self, opts, lines, where):
        before = len(self.problems)
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
        if len(self.problems) == before and self.confinement is not None:
            found = confinement_mod.problem(self.confinement, opts.get("user"), opts.get("group"))
            if found is not None:
                field, message = found
                self.bad(lines[field], f"{where}.{field}", message)

    def dependencies(self):
        for name, (node, deps, nodes) in self.deps.items():
            where = f"services.{name}.depends_on"
            for dep in deps:                        # the long form: at the dependency's own line
                if dep == name:
                    self.bad(nodes.get(dep, node), where, "a service cannot depend on itself")
                elif dep not in self.deps:
                    self.bad(nodes.get(dep, node), where, f"unknown service {dep!r}"
                             + suggest(dep, list(self.deps)))
        graph = {n: [d for d in deps if d in self.deps and d != n]
                 for n, (_, deps, _) in self.deps.items()}
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

    A ready: beside a healthcheck is unused (the healthcheck decides readiness). A
    stop_grace_period beyond shutdown_timeout is cut at shutdown (the global deadline
    bounds the whole stop); and a grace beyond docker stop's default 10s wait means docker
    kills the container -- zei and every service -- before that service is done."""
    out = []
    timeout = config.shutdown_timeout
    for s in config.services:
        loc = f"{config.path}:{s.line}" if s.line else config.path
        if s.healthcheck is not None and s.ready is not None:
            out.append(f"{loc}: services.{s.name}.ready: not used for readiness: the healthcheck decides "
                       "(a service with a healthcheck is ready when healthy)")
        if s.stop_grace_period is not None and s.stop_grace_period > timeout:
            out.append(f"{loc}: services.{s.name}.stop_grace_period: {span(s.stop_grace_period)} is longer "
                       f"than shutdown_timeout ({span(timeout)}); at shutdown it gets at most {span(timeout)}")
    # A service that asks for more than docker stop's 10s is killed by docker first. The
    # budget to give the engine is the whole shutdown_timeout (graces add up along the stop
    # order, orphans get until the deadline); zei exits at most 2s after it: 5s of slack.
    longest = max((min(s.stop_grace_period, timeout) for s in config.services
                   if s.stop_grace_period is not None), default=0.0)
    if longest > DOCKER_STOP_TIMEOUT:
        n = math.ceil(timeout) + 5
        out.append(f"{config.path}: note: a service may take up to {span(longest)} to stop, but docker "
                   f"stop waits only {span(DOCKER_STOP_TIMEOUT)} by default before it kills the "
                   f"container; give it {n}s (docker stop -t {n}, stop_grace_period: {n}s in compose, "
                   f"terminationGracePeriodSeconds: {n} in Kubernetes) or shorten the grace")
    return out


def parse(text, path, lookup_user=lambda name: True, lookup_group=lambda name: True,
          confinement=None, read_file=None):
    """Parse config text. lookup_user/lookup_group return None for unknown names; a
    `confinement` (zei without privileges) makes a user/group other than zei's own a problem.
    read_file(path) -> str reads an env_file, raising OSError (None: each reads as empty).

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
    checker.confinement = confinement
    if read_file is not None:               # else every env_file reads as empty (EnvFileFields)
        checker.read_file = read_file
    config = checker.document(root)
    if checker.problems:
        raise ConfigError(checker.problems)
    return config
