"""The validated config as plain immutable records, and the little logic on them.

Kept apart from zei.core.config (which needs PyYAML) so that PID 1 never imports the YAML
parser: the daemon parses its config in a short-lived child (zei.prelude) and rebuilds
these records from JSON with from_json(). Pure: no system calls.
"""
from __future__ import annotations

from zei.core.records import record

DEFAULT_SHUTDOWN_TIMEOUT = 30.0
MAX_ID = 2**32 - 2          # (uid_t)-1 = 4294967295 means "unchanged" to setresuid/setresgid
# Linux signal numbers (x86, arm, the generic ABI) without the SIG prefix. The core may not
# import `signal`; tests/unit/test_config_lifecycle.py checks this table against it.
SIGNAL_NAMES = {
    1: "HUP", 2: "INT", 3: "QUIT", 4: "ILL", 5: "TRAP", 6: "ABRT", 7: "BUS", 8: "FPE",
    9: "KILL", 10: "USR1", 11: "SEGV", 12: "USR2", 13: "PIPE", 14: "ALRM", 15: "TERM",
    16: "STKFLT", 17: "CHLD", 18: "CONT", 19: "STOP", 20: "TSTP", 21: "TTIN", 22: "TTOU",
    23: "URG", 24: "XCPU", 25: "XFSZ", 26: "VTALRM", 27: "PROF", 28: "WINCH", 29: "IO",
    30: "PWR", 31: "SYS",
}
MAX_SIGNAL = 64             # SIGRTMAX: 32..64 are the real-time signals, given by number

ServiceSpec = record("ServiceSpec", [
    "name", "command", "user", "group", "restart", "max_restarts", "restart_delay", "oneshot",
    "interval", "depends_on", "environment", "working_dir", "stdout", "stderr", "json_logs", "line",
    "essential", "success_exit_codes", "stop_signal", "stop_grace_period", "restart_delay_max",
    "healthcheck", "ready", "conditions", "foreground", "env_files", "schedule",
], defaults=(
    None,        # user: None = zei's own user (root when zei holds root)
    None,        # group: None = the user's primary group
    "never",     # restart
    0,           # max_restarts: 0 = unlimited
    1.0,         # restart_delay
    False,       # oneshot
    None,        # interval
    (),          # depends_on
    (),          # environment: ((key, value), ...) in file order
    None,        # working_dir
    None,        # stdout: None = captured and tagged by zei
    None,        # stderr
    False,       # json_logs
    0,           # line
    False,       # essential: when it ends for good, zei stops everything and exits with its code
    (0,),        # success_exit_codes: exit codes that count as success everywhere
    15,          # stop_signal: SIGTERM
    None,        # stop_grace_period: None = the config's shutdown_timeout
    None,        # restart_delay_max: None = restart_delay (a fixed delay, no backoff)
    None,        # healthcheck: a Healthcheck, or None (none, or disabled)
    None,        # ready: a Ready, or None (ready once running)
    (),          # conditions: ((dependency, condition, required), ...), one per depends_on name
    False,       # foreground: command mode's `main`: zei's stdin/stdout/stderr (and its terminal)
    (),          # env_files: ((path, (name, ...)), ...): env_file's files, read into environment
    None,        # schedule: a cron expression (zei.core.cron) for a oneshot, exclusive with interval
), doc="One service's options, validated.")

MAIN = "main"               # the service that runs COMMAND in command mode (`zei -- COMMAND`)

# depends_on conditions, compose's names. The short list means service_started.
STARTED, HEALTHY, COMPLETED = "service_started", "service_healthy", "service_completed_successfully"
CONDITIONS = (STARTED, HEALTHY, COMPLETED)

Healthcheck = record("Healthcheck", [
    "kind", "command", "host", "port", "path", "interval", "timeout", "retries", "start_period",
    "start_interval", "on_unhealthy",
], defaults=(
    (),          # command: the argv of an exec check (CMD-SHELL and strings: /bin/sh -c TEXT)
    None,        # host: an IP address (http, tcp); 'localhost' is 127.0.0.1
    None,        # port (http, tcp)
    "/",         # path: the request target of an http check, query included
    30.0,        # interval
    30.0,        # timeout
    3,           # retries: consecutive failures that make it unhealthy
    0.0,         # start_period
    5.0,         # start_interval: between checks during start_period
    "restart",   # on_unhealthy: restart | none
), doc="A service's health check: kind is exec, http or tcp (docker-compose's keys and defaults).")

Ready = record("Ready", "notify log_line timeout", defaults=(False, None, None),
               doc="Readiness without a probe: READY=1 on NOTIFY_SOCKET, or an output line "
                   "matching the regular expression log_line; timeout None = wait forever.")


def span(seconds):
    """A duration as people write it in the config: 100ms, 1.5s, 2m, 720h."""
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    if 0 < seconds < 1:
        return f"{seconds * 1000:g}ms"
    return f"{seconds:g}s"


class Config(record("Config", "path services shutdown_timeout version command",
                    defaults=(DEFAULT_SHUTDOWN_TIMEOUT, "1.0", False))):
    """A whole validated config; `services` in file order. `command`: command mode, whose
    last service is `main` (with_command)."""
    __slots__ = ()

    def service(self, name):
        for s in self.services:
            if s.name == name:
                return s
        return None


class Problem(record("Problem", "line where message path", defaults=("",))):
    """One config problem; sorts by line."""
    __slots__ = ()

    def __str__(self):
        loc = f"{self.path}:{self.line}" if self.line else self.path
        return f"{loc}: {self.where}: {self.message}" if self.where else f"{loc}: {self.message}"


class ConfigError(Exception):
    """Every problem found in one config file."""

    def __init__(self, problems):
        self.problems = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def dependency_order(services):
    """Service names with every dependency before its dependents (file order otherwise).

    Iterative (a chain of thousands of services must not hit the recursion limit); names
    that are not services are skipped, and a cycle cannot make it loop."""
    by_name = {s.name: s for s in services}
    done, out = set(), []
    for s in services:
        if s.name in done:
            continue
        done.add(s.name)
        stack = [(s.name, iter(s.depends_on))]       # depth-first, post-order
        while stack:
            name, deps = stack[-1]
            for d in deps:
                if d in by_name and d not in done:
                    done.add(d)
                    stack.append((d, iter(by_name[d].depends_on)))
                    break
            else:
                stack.pop()
                out.append(name)
    return out


def numeric_id(text):
    """The value of a numeric uid/gid ('1000', '0'), None if `text` is a name.

    Numeric means ASCII digits only ('²' and '١٢٣' are names). Raises ValueError for a
    number beyond MAX_ID: 4294967295 is (uid_t)-1, which setresuid takes as "leave
    unchanged" (the service would keep root), and larger ones wrap or overflow."""
    if not isinstance(text, str) or not text.isascii() or not text.isdigit():
        return None
    digits = text.lstrip("0") or "0"
    if len(digits) > len(str(MAX_ID)) or int(digits) > MAX_ID:
        raise ValueError(f"a numeric id must be at most {MAX_ID}")
    return int(digits)


def with_command(config, argv, user=None, group=None):
    """Command mode (`zei -- COMMAND [ARG...]`): COMMAND becomes the essential service
    `main`, with zei's own stdin, stdout and stderr (and its terminal), started once every
    other service is ready; zei exits with its code. Raises ConfigError if the config has a
    service named main already. user/group: who runs it (default: ServiceSpec's)."""
    clash = config.service(MAIN)
    if clash is not None:
        raise ConfigError([Problem(clash.line, f"services.{MAIN}", "command mode (zei -- COMMAND) "
                                   "runs COMMAND as the service 'main'; rename this one", config.path)])
    others = tuple(s.name for s in config.services)
    who = {"user": user, "group": group} if user is not None else {}
    main = ServiceSpec(name=MAIN, command=tuple(argv), essential=True, restart="never", **who,
                       stdout="/dev/stdout", stderr="/dev/stderr", foreground=True,
                       depends_on=others, conditions=tuple((n, HEALTHY, True) for n in others))
    return config._replace(services=config.services + (main,), command=True)


def to_json(config):
    """A Config as JSON-ready data (lists for tuples)."""
    return {"path": config.path, "shutdown_timeout": config.shutdown_timeout,
            "version": config.version, "command": config.command,
            "services": [dict(s._asdict(), command=list(s.command), depends_on=list(s.depends_on),
                              environment=[list(kv) for kv in s.environment],
                              success_exit_codes=list(s.success_exit_codes),
                              healthcheck=s.healthcheck and dict(s.healthcheck._asdict(),
                                                                 command=list(s.healthcheck.command)),
                              ready=s.ready and s.ready._asdict(),
                              conditions=[list(c) for c in s.conditions],
                              env_files=[[p, list(names)] for p, names in s.env_files])
                         for s in config.services]}


def from_json(data):
    """The inverse of to_json()."""
    def check(h):
        return h and Healthcheck(**dict(h, command=tuple(h["command"])))
    services = tuple(ServiceSpec(**dict(s, command=tuple(s["command"]),
                                        depends_on=tuple(s["depends_on"]),
                                        environment=tuple(tuple(kv) for kv in s["environment"]),
                                        success_exit_codes=tuple(s["success_exit_codes"]),
                                        healthcheck=check(s["healthcheck"]),
                                        ready=s["ready"] and Ready(**s["ready"]),
                                        conditions=tuple(tuple(c) for c in s["conditions"]),
                                        env_files=tuple((p, tuple(n)) for p, n in s.get("env_files", ()))))
                     for s in data["services"])
    return Config(path=data["path"], services=services, shutdown_timeout=data["shutdown_timeout"],
                  version=data["version"], command=data.get("command", False))
