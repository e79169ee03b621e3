"""Config: YAML text -> frozen specs; every problem at once as FILE:LINE: where: problem (got X)."""
from __future__ import annotations

import math
import textwrap

import pytest

from zei.core.config import (
    DEFAULT_SHUTDOWN_TIMEOUT, Config, ConfigError, Problem, ServiceSpec, dependency_order, parse,
    parse_duration,
)

PATH = "/etc/zei/zei.yaml"


def load(text, **lookups):
    return parse(textwrap.dedent(text), PATH, **lookups)


def problems(text, **lookups):
    with pytest.raises(ConfigError) as e:
        load(text, **lookups)
    assert str(e.value) == "\n".join(str(p) for p in e.value.problems)
    return [str(p) for p in e.value.problems]


def one_service(options):
    """A file with service `web` whose options (after command) are the given YAML lines."""
    return "services:\n  web:\n    command: [echo]\n" + textwrap.indent(textwrap.dedent(options), "    ")


# ---- golden messages, one kind of problem each ---------------------------------------------

GOLDEN = {
    "missing command": ("services:\n  web:\n    user: app\n",
                        ["2: services.web.command: missing: every service needs a command list"]),
    "empty command": ("services:\n  web:\n    command: []\n",
                      ["3: services.web.command: must not be empty (got [])"]),
    "command as a string": ("services:\n  web:\n    command: echo hi\n",
                            ["3: services.web.command: expected a list of strings (got 'echo hi')"]),
    "command with nothing": ("services:\n  web:\n    command:\n",
                             ["3: services.web.command: expected a list of strings (got null)"]),
    "command item a mapping": ("services:\n  web:\n    command: [echo, {a: 1}]\n",
                               ["3: services.web.command[1]: expected a string (got a mapping)"]),
    "command item null": ("services:\n  web:\n    command: [echo, ~]\n",
                          ["3: services.web.command[1]: expected a string (got ~)"]),
    "user empty": (one_service("user: ''\n"),
                   ["4: services.web.user: expected a non-empty string (got '')"]),
    "user a list": (one_service("user: [a]\n"),
                    ["4: services.web.user: expected a non-empty string (got a list)"]),
    "oneshot quoted": (one_service("oneshot: 'yes'\n"),
                       ["4: services.web.oneshot: expected true or false (got 'yes')"]),
    "json_logs number": (one_service("json_logs: 1\n"),
                         ["4: services.web.json_logs: expected true or false (got 1)"]),
    "max_restarts decimal": (one_service("max_restarts: 1.5\n"),
                             ["4: services.web.max_restarts: expected a whole number (got 1.5)"]),
    "max_restarts bool": (one_service("max_restarts: true\n"),
                          ["4: services.web.max_restarts: expected a whole number (got true)"]),
    "max_restarts negative": (one_service("max_restarts: -1\n"),
                              ["4: services.web.max_restarts: must not be negative (got -1)"]),
    "unknown option": (one_service("restrat: always\n"),
                       ["4: services.web.restrat: unknown option; did you mean 'restart'?"]),
    "unknown option, nothing close": (one_service("xyz: 1\n"),
                                      ["4: services.web.xyz: unknown option"]),
    "unknown top-level key": ("versoin: 1\nservices:\n  web:\n    command: [echo]\n",
                              ["1: versoin: unknown top-level key; did you mean 'version'?"]),
    "bad enum, close": (one_service("restart: alway\n"),
                        ["4: services.web.restart: expected always, on-failure or never; "
                         "did you mean 'always'? (got 'alway')"]),
    "bad enum": (one_service("restart: sometimes\n"),
                 ["4: services.web.restart: expected always, on-failure or never (got 'sometimes')"]),
    "bad duration": (one_service("restart_delay: 5x\n"),
                     ["4: services.web.restart_delay: expected a duration like 5s, 100ms, 2m or 1h "
                      "(got '5x')"]),
    "duration a list": (one_service("restart_delay: [1]\n"),
                        ["4: services.web.restart_delay: expected a duration like 5s, 100ms, 2m or 1h "
                         "(got a list)"]),
    "negative duration": (one_service("restart_delay: -5s\n"),
                          ["4: services.web.restart_delay: must not be negative (got '-5s')"]),
    "negative bare duration": (one_service("restart_delay: -2\n"),
                               ["4: services.web.restart_delay: must not be negative (got -2)"]),
    "infinite duration": (one_service("restart_delay: .inf\n"),
                          ["4: services.web.restart_delay: expected a duration like 5s, 100ms, 2m or 1h "
                           "(got .inf)"]),
    "not-a-number duration": ("shutdown_timeout: .nan\nservices:\n  web:\n    command: [echo]\n",
                              ["1: shutdown_timeout: expected a duration like 5s, 100ms, 2m or 1h "
                               "(got .nan)"]),
    "bad shutdown_timeout": ("shutdown_timeout: soon\nservices:\n  web:\n    command: [echo]\n",
                             ["1: shutdown_timeout: expected a duration like 5s, 100ms, 2m or 1h "
                              "(got 'soon')"]),
    "interval without oneshot": (one_service("interval: 5s\n"),
                                 ["4: services.web.interval: only oneshot services can have an "
                                  "interval; add 'oneshot: true'"]),
    "zero interval": (one_service("oneshot: true\ninterval: 0\n"),
                      ["5: services.web.interval: must be greater than zero (got 0)"]),
    "relative working_dir": (one_service("working_dir: srv\n"),
                             ["4: services.web.working_dir: expected an absolute path (got 'srv')"]),
    "relative stdout": (one_service("stdout: out.log\n"),
                        ["4: services.web.stdout: expected an absolute path (got 'out.log')"]),
    "environment a list": (one_service("environment: [A=1]\n"),
                           ["4: services.web.environment: expected a mapping of NAME: value (got a list)"]),
    "environment value a list": (one_service("environment: {A: [1]}\n"),
                                 ["4: services.web.environment.A: expected a string, number or "
                                  "boolean (got a list)"]),
    "environment name with =": (one_service("environment: {'A=B': 1}\n"),
                                ["4: services.web.environment.A=B: not a valid variable name"]),
    "unknown depends_on": ("services:\n  web:\n    command: [echo]\n    depends_on: [dbb]\n"
                           "  db:\n    command: [x]\n",
                           ["4: services.web.depends_on: unknown service 'dbb'; did you mean 'db'?"]),
    "self depends_on": (one_service("depends_on: [web]\n"),
                        ["4: services.web.depends_on: a service cannot depend on itself"]),
    "cyclic depends_on": ("services:\n  a:\n    command: [x]\n    depends_on: [b]\n"
                          "  b:\n    command: [x]\n    depends_on: [c]\n"
                          "  c:\n    command: [x]\n    depends_on: [a]\n",
                          ["4: services.a.depends_on: dependency cycle: a -> b -> c -> a"]),
    "depends_on a string": (one_service("depends_on: db\n"),
                            ["4: services.web.depends_on: expected a list of strings (got 'db')"]),
    "service not a mapping": ("services:\n  web: [echo]\n",
                              ["2: services.web: expected a mapping of options (got a list)"]),
    "bad service name": ("services:\n  'bad name':\n    command: [echo]\n",
                         ["2: services.bad name: service names use letters, digits, '.', '_' and '-', "
                          "start with a letter or digit, at most 64 characters, not 'all'"]),
    "service named all": ("services:\n  all:\n    command: [echo]\n",
                          ["2: services.all: service names use letters, digits, '.', '_' and '-', "
                           "start with a letter or digit, at most 64 characters, not 'all'"]),
    "duplicate service": ("services:\n  web:\n    command: [echo]\n  web:\n    command: [x]\n",
                          ["4: services.web: duplicate key (first defined on line 2)"]),
    "duplicate option": ("services:\n  web:\n    command: [echo]\n    command: [x]\n",
                         ["4: services.web.command: duplicate key (first defined on line 3)"]),
    "duplicate top-level key": ("services:\n  web:\n    command: [echo]\nservices:\n  db:\n    command: [x]\n",
                                ["4: services: duplicate key (first defined on line 1)"]),
    "empty file": ("", ["1: the file is empty; it needs a 'services' mapping"]),
    "only comments": ("# nothing here\n\n", ["1: the file is empty; it needs a 'services' mapping"]),
    "no services key": ("version: '1.0'\n", ["1: services: missing: the config needs a 'services' mapping"]),
    "services empty": ("services:\n",
                       ["1: services: expected a non-empty mapping of service name to options (got null)"]),
    "services {}": ("services: {}\n",
                    ["1: services: expected a non-empty mapping of service name to options (got {})"]),
    "top level a list": ("- a\n", ["1: the top level must be a mapping with a 'services' key (got a list)"]),
    "YAML syntax error": ("services:\n  web:\n    command: [echo\n",
                          ["4: YAML syntax error, column 1: expected ',' or ']', but got '<stream end>'"]),
    "YAML tab": ("services:\n  web:\n    command: [echo]\n\tuser: x\n",
                 ["4: YAML syntax error, column 1: found character '\\t' that cannot start any token"]),
    "YAML bad indentation": ("services:\n  web:\n    command: [echo]\n   user: x\n",
                             ["4: YAML syntax error, column 4: expected <block end>, but found "
                              "'<block mapping start>'"]),
    "control character": ("services:\n  web:\n    command: [ec\x00ho]\n",
                          ["3: YAML error: unacceptable character #x0000: special characters are "
                           "not allowed"]),
    "unknown tag": (one_service("user: !env APP_USER\n"),
                    ["4: services.web.user: expected a non-empty string (got !env APP_USER)"]),
    "unknown tag in command": ("services:\n  web:\n    command: [echo, !secret x]\n",
                               ["3: services.web.command[1]: expected a string (got !secret x)"]),
    "unknown tag in environment": (one_service("environment: {TOKEN: !vault db/token}\n"),
                                   ["4: services.web.environment.TOKEN: expected a string, number or "
                                    "boolean (got !vault db/token)"]),
    "explicit tag that does not fit": (one_service("max_restarts: !!int many\n"),
                                       ["4: services.web.max_restarts: expected a whole number (got many)"]),
    "explicit bool tag that does not fit": (one_service("oneshot: !!bool maybe\n"),
                                            ["4: services.web.oneshot: expected true or false (got maybe)"]),
    "uid that means unchanged": (one_service("user: 4294967295\n"),
                                 ["4: services.web.user: a numeric uid must be at most 4294967294 "
                                  "(got 4294967295)"]),
    "gid out of range": (one_service("group: '99999999999'\n"),
                         ["4: services.web.group: a numeric gid must be at most 4294967294 "
                          "(got '99999999999')"]),
    "NUL escape in command": ('services:\n  web:\n    command: ["ec\\0ho"]\n',
                              ["3: services.web.command[0]: must not contain a NUL character (got 'ec\\x00ho')"]),
    "surrogate escape in environment": (one_service('environment: {A: "\\udc80"}\n'),
                                        ["4: services.web.environment.A: must be valid UTF-8 text (a lone "
                                         "surrogate such as \\udc80 is not) (got '\\udc80')"]),
    "service name with a newline": ('services:\n  "web\\n":\n    command: [echo]\n',
                                    ["2: services.'web\\n': service names use letters, digits, '.', '_' and "
                                     "'-', start with a letter or digit, at most 64 characters, not 'all'"]),
    "duration too long": (one_service("restart_delay: 87601h\n"),
                          ["4: services.web.restart_delay: must be at most 10 years (87600h) (got '87601h')"]),
    "nested too deeply": ("services:\n  web:\n    command: " + "[" * 1000 + "\n",
                          ["3: YAML error: nested too deeply"]),
    "essential not a boolean": (one_service("essential: 1\n"),
                                ["4: services.web.essential: expected true or false (got 1)"]),
    "success_exit_codes empty": (one_service("success_exit_codes: []\n"),
                                 ["4: services.web.success_exit_codes: must not be empty (got [])"]),
    "success_exit_codes a number": (one_service("success_exit_codes: 0\n"),
                                    ["4: services.web.success_exit_codes: expected a list of exit codes "
                                     "from 0 to 255 (got 0)"]),
    "exit code out of range": (one_service("success_exit_codes: [0, 256]\n"),
                               ["4: services.web.success_exit_codes[1]: expected an exit code from 0 to 255 "
                                "(got 256)"]),
    "unknown stop_signal, close": (one_service("stop_signal: SIGTREM\n"),
                                   ["4: services.web.stop_signal: unknown signal; did you mean 'SIGTERM'? "
                                    "(got 'SIGTREM')"]),
    "unknown stop_signal": (one_service("stop_signal: FOO\n"),
                            ["4: services.web.stop_signal: unknown signal; expected a signal name like TERM or "
                             "SIGINT, or a number from 1 to 64 (got 'FOO')"]),
    "stop_signal 0": (one_service("stop_signal: 0\n"),
                      ["4: services.web.stop_signal: must be a signal number from 1 to 64 (got 0)"]),
    "stop_signal a list": (one_service("stop_signal: [TERM]\n"),
                           ["4: services.web.stop_signal: expected a signal name like TERM or SIGINT, or a "
                            "number from 1 to 64 (got a list)"]),
    "bad stop_grace_period": (one_service("stop_grace_period: 1m30\n"),
                              ["4: services.web.stop_grace_period: expected a duration like 5s, 100ms, 2m or 1h "
                               "(got '1m30')"]),
    "restart_delay_max below restart_delay": (one_service("restart_delay: 5s\nrestart_delay_max: 2s\n"),
                                              ["5: services.web.restart_delay_max: must be at least "
                                               "restart_delay (5s) (got '2s')"]),
    "unknown option, close to a lifecycle one": (one_service("stop_signals: INT\n"),
                                                 ["4: services.web.stop_signals: unknown option; did you mean "
                                                  "'stop_signal'?"]),
}


@pytest.mark.parametrize("name", GOLDEN)
def test_golden_message(name):
    text, want = GOLDEN[name]
    assert problems(text) == [f"{PATH}:{line}" for line in want]


def test_unknown_users_and_groups_use_the_lookups():
    asked = []

    def lookup_user(name):
        asked.append(("user", name))
        return {"app": object()}.get(name)

    def lookup_group(name):
        asked.append(("group", name))
        return {"staff": object()}.get(name)

    text = """\
        services:
          ok:
            command: [x]
            user: app
            group: staff
          bad:
            command: [x]
            user: nobodyx
            group: nogroupx
          default:
            command: [x]
        """
    assert problems(text, lookup_user=lookup_user, lookup_group=lookup_group) == [
        f"{PATH}:8: services.bad.user: no such user (got 'nobodyx')",
        f"{PATH}:9: services.bad.group: no such group (got 'nogroupx')",
    ]
    # the default user is not looked up here, and a missing group means the primary group
    assert sorted(asked) == [("group", "nogroupx"), ("group", "staff"), ("user", "app"), ("user", "nobodyx")]


def test_every_problem_at_once_sorted_by_line():
    text = """\
        version: "1.0"
        shutdown_timout: 5s
        services:
          web:
            command: []
            restart: alwys
            max_restarts: -3
            depends_on: [db, cache]
          db:
            user: ghost
            interval: 1m
          worker:
            command: [w]
            restart_delay: fast
        """
    assert problems(text, lookup_user=lambda n: None) == [
        f"{PATH}:2: shutdown_timout: unknown top-level key; did you mean 'shutdown_timeout'?",
        f"{PATH}:5: services.web.command: must not be empty (got [])",
        f"{PATH}:6: services.web.restart: expected always, on-failure or never; did you mean 'always'? "
        "(got 'alwys')",
        f"{PATH}:7: services.web.max_restarts: must not be negative (got -3)",
        f"{PATH}:8: services.web.depends_on: unknown service 'cache'",
        f"{PATH}:9: services.db.command: missing: every service needs a command list",
        f"{PATH}:10: services.db.user: no such user (got 'ghost')",
        f"{PATH}:11: services.db.interval: only oneshot services can have an interval; add 'oneshot: true'",
        f"{PATH}:14: services.worker.restart_delay: expected a duration like 5s, 100ms, 2m or 1h "
        "(got 'fast')",
    ]


def test_problem_formatting():
    assert str(Problem(3, "services.web.user", "no such user (got 'x')", "f.yaml")) == \
        "f.yaml:3: services.web.user: no such user (got 'x')"
    assert str(Problem(0, "", "YAML error: oops", "f.yaml")) == "f.yaml: YAML error: oops"
    assert str(Problem(1, "", "the file is empty", "f.yaml")) == "f.yaml:1: the file is empty"
    e = ConfigError([Problem(9, "b", "x", "f"), Problem(2, "a", "y", "f")])
    assert [p.line for p in e.problems] == [2, 9]


def test_a_long_value_is_shortened():
    long = "x" * 100
    got = problems(one_service(f"restart: {long}\n"))[0]
    assert got.endswith("(got '" + "x" * 56 + "...)")


def test_many_parses_do_not_grow_the_shared_constructor():
    from zei.core import fields as mod
    for _ in range(3):
        load("services:\n  web:\n    command: [a, b, c]\n    user: app\n")
    assert not mod._CONSTRUCTOR.constructed_objects


# ---- values --------------------------------------------------------------------------------

@pytest.mark.parametrize("text,seconds", [
    ("100ms", 0.1), ("5s", 5.0), ("2m", 120.0), ("1h", 3600.0), ("1.5s", 1.5), ("0.25s", 0.25),
    (".5s", 0.5), ("250ms", 0.25), ("10", 10.0), (" 7s ", 7.0), ("0", 0.0), ("1.5m", 90.0),
    (5, 5.0), (2.5, 2.5), (0, 0.0),
])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)
    assert isinstance(parse_duration(text), float)


@pytest.mark.parametrize("value,reason", [
    ("5x", "expected a duration like 5s, 100ms, 2m or 1h"),
    ("s", "expected a duration like 5s, 100ms, 2m or 1h"),
    ("", "expected a duration like 5s, 100ms, 2m or 1h"),
    ("1.2.3s", "expected a duration like 5s, 100ms, 2m or 1h"),
    ("5 seconds", "expected a duration like 5s, 100ms, 2m or 1h"),
    ("1e3", "expected a duration like 5s, 100ms, 2m or 1h"),
    (True, "expected a duration like 5s, 100ms, 2m or 1h"),
    (None, "expected a duration like 5s, 100ms, 2m or 1h"),
    (math.inf, "expected a duration like 5s, 100ms, 2m or 1h"),
    (math.nan, "expected a duration like 5s, 100ms, 2m or 1h"),
    ("-1s", "must not be negative"),
    (-1, "must not be negative"),
    (-0.5, "must not be negative"),
])
def test_parse_duration_rejects(value, reason):
    with pytest.raises(ValueError) as e:
        parse_duration(value)
    assert str(e.value) == reason


@pytest.mark.parametrize("yaml_value,seconds", [
    ("100ms", 0.1), ("5s", 5.0), ("2m", 120.0), ("1h", 3600.0), ("1.5s", 1.5), ("3", 3.0), ("0.75", 0.75),
])
def test_durations_in_the_file(yaml_value, seconds):
    cfg = load(f"shutdown_timeout: {yaml_value}\n" + one_service(
        f"restart_delay: {yaml_value}\noneshot: true\ninterval: {yaml_value}\n"))
    web = cfg.service("web")
    assert cfg.shutdown_timeout == web.restart_delay == web.interval == pytest.approx(seconds)


def test_environment_values_become_strings_in_file_order():
    cfg = load(one_service("""\
        environment:
          PORT: 8080
          DEBUG: true
          QUIET: no
          RATIO: 1.50
          EMPTY: ~
          NAME: web
          CODE: "007"
          RELEASED: 2024-01-05
          NOT_A_DATE: 2024-02-30
        """))
    assert cfg.service("web").environment == (
        ("PORT", "8080"), ("DEBUG", "true"), ("QUIET", "false"), ("RATIO", "1.50"), ("EMPTY", ""),
        ("NAME", "web"), ("CODE", "007"), ("RELEASED", "2024-01-05"), ("NOT_A_DATE", "2024-02-30"))


def test_numbers_in_a_command_are_arguments():
    assert load("services:\n  s:\n    command: [sleep, 5, 1.5]\n").service("s").command == ("sleep", "5", "1.5")


def test_defaults_of_every_option():
    cfg = load("services:\n  web:\n    command: [node, server.js]\n")
    assert cfg == Config(path=PATH, services=(ServiceSpec(name="web", command=("node", "server.js"), line=2),),
                         shutdown_timeout=DEFAULT_SHUTDOWN_TIMEOUT, version="1.0")
    web = cfg.service("web")
    assert (web.user, web.group, web.restart, web.max_restarts, web.restart_delay, web.oneshot,
            web.interval, web.depends_on, web.environment, web.working_dir, web.stdout, web.stderr,
            web.json_logs) == (None, None, "never", 0, 1.0, False, None, (), (), None, None, None, False)
    assert (web.essential, web.success_exit_codes, web.stop_signal, web.stop_grace_period,
            web.restart_delay_max) == (False, (0,), 15, None, None)
    assert cfg.shutdown_timeout == 30.0


def test_every_option_set():
    cfg = load("""\
        version: "1.0"
        shutdown_timeout: 5s
        services:
          db:
            command: ["postgres"]
          web:
            command: ["node", "server.js"]
            user: app
            group: staff
            restart: on-failure
            max_restarts: 5
            restart_delay: 2s
            depends_on: [db]
            environment: {NODE_ENV: production}
            working_dir: /srv/app
            stdout: /dev/stdout
            stderr: /var/log/web.err
            json_logs: true
            essential: true
            success_exit_codes: [0, 143]
            stop_signal: SIGINT
            stop_grace_period: 20s
            restart_delay_max: 1m
          health:
            command: [curl, -sf, "http://localhost:3000/"]
            oneshot: true
            interval: 30s
        """)
    assert [s.name for s in cfg.services] == ["db", "web", "health"]
    assert cfg.service("web") == ServiceSpec(
        name="web", command=("node", "server.js"), user="app", group="staff", restart="on-failure",
        max_restarts=5, restart_delay=2.0, depends_on=("db",), environment=(("NODE_ENV", "production"),),
        working_dir="/srv/app", stdout="/dev/stdout", stderr="/var/log/web.err", json_logs=True, line=6,
        essential=True, success_exit_codes=(0, 143), stop_signal=2, stop_grace_period=20.0,
        restart_delay_max=60.0, conditions=(("db", "service_started", True),))
    assert cfg.service("health").oneshot and cfg.service("health").interval == 30.0
    assert cfg.service("nope") is None
    assert cfg.shutdown_timeout == 5.0


def test_version_may_be_a_number():
    assert load("version: 1.0\nservices:\n  a:\n    command: [x]\n").version == "1.0"


def test_config_is_immutable():
    cfg = load("services:\n  a:\n    command: [x]\n")
    with pytest.raises(AttributeError):
        cfg.service("a").restart = "always"


def test_dependency_order_of_a_parsed_config():
    cfg = load("""\
        services:
          web: {command: [w], depends_on: [api]}
          api: {command: [a], depends_on: [db, migrate]}
          migrate: {command: [m], oneshot: true, depends_on: [db]}
          db: {command: [d]}
        """)
    assert dependency_order(cfg.services) == ["db", "migrate", "api", "web"]
