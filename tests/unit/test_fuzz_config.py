"""Fuzzing the config parser: random YAML trees, random text, mutations of valid configs.

Whatever the input, zei.core.config.parse either raises ConfigError -- every problem carrying the
file path, a line (>= 1 unless it is a YAML error without a position) and printable on one
line -- or returns a Config every service of which can really be started: strings that
os.fsencode takes with no NUL, names that match NAME_RE whole, ids in range, finite bounded
durations, dependencies that exist and form no cycle, and a JSON round trip that is exact.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zei.core import model

from zei.shell import users
from zei.core.config import (
    MAX_DURATION, NAME_RE, RESTART_POLICIES, SERVICE_KEYS, TOP_KEYS, Config, ConfigError, parse, warnings,
)

PATH = "/etc/zei/zei.yaml"
# ZEI_FUZZ_EXAMPLES=20000 for a long hunt; `make test` keeps the default (a few seconds).
FUZZ = settings(max_examples=int(os.environ.get("ZEI_FUZZ_EXAMPLES", 300)), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])
EXAMPLE = (Path(__file__).resolve().parents[2] / "example" / "zei.yaml").read_text()


# ---- the properties --------------------------------------------------------------------

def _fs_ok(text):
    assert isinstance(text, str)
    assert b"\0" not in os.fsencode(text)       # raises on what execve/open could not take
    text.encode("utf-8")


def check_problems(error, text):
    assert error.problems, "a ConfigError with no problem"
    last_line = text.count("\n") + 1
    for p in error.problems:
        assert p.path == PATH
        assert isinstance(p.line, int) and 0 <= p.line <= last_line + 1, p
        if not p.message.startswith("YAML"):
            assert p.line >= 1, p                # it came from a node or a known line
        shown = str(p)
        assert shown.isprintable(), repr(shown)  # one line: no newline, no control character
        shown.encode("utf-8")
    assert str(error) == "\n".join(str(p) for p in error.problems)


def check_config(cfg):
    assert isinstance(cfg, Config) and cfg.path == PATH and cfg.services
    assert isinstance(cfg.shutdown_timeout, float)
    assert math.isfinite(cfg.shutdown_timeout) and 0 <= cfg.shutdown_timeout <= MAX_DURATION
    assert isinstance(cfg.version, str)
    _fs_ok(cfg.version)
    names = [s.name for s in cfg.services]
    assert len(set(names)) == len(names)
    for s in cfg.services:
        assert NAME_RE.fullmatch(s.name) and s.name != "all"
        assert s.name.isascii() and s.name.isprintable()
        assert isinstance(s.command, tuple) and s.command
        for arg in s.command:
            _fs_ok(arg)
        for key, value in s.environment:
            _fs_ok(key)
            _fs_ok(value)
            assert key and "=" not in key and key.isprintable()
        for path in (s.working_dir, s.stdout, s.stderr):
            if path is not None:
                _fs_ok(path)
                assert path.startswith("/")
        for ident in (s.user, s.group):
            if ident is not None:
                _fs_ok(ident)
                model.numeric_id(ident)          # raises for an id out of range
        assert s.restart in RESTART_POLICIES
        assert isinstance(s.max_restarts, int) and not isinstance(s.max_restarts, bool) and s.max_restarts >= 0
        assert isinstance(s.restart_delay, float) and 0 <= s.restart_delay <= MAX_DURATION
        if s.interval is not None:
            assert isinstance(s.interval, float) and 0 < s.interval <= MAX_DURATION and s.oneshot
        assert isinstance(s.oneshot, bool) and isinstance(s.json_logs, bool)
        assert all(d in names and d != s.name for d in s.depends_on)
        assert isinstance(s.line, int) and s.line >= 1
        assert isinstance(s.essential, bool)
        assert isinstance(s.success_exit_codes, tuple) and s.success_exit_codes
        assert len(set(s.success_exit_codes)) == len(s.success_exit_codes)
        assert all(type(c) is int and 0 <= c <= 255 for c in s.success_exit_codes)
        assert type(s.stop_signal) is int and 1 <= s.stop_signal <= 64
        for seconds in (s.stop_grace_period, s.restart_delay_max):
            if seconds is not None:
                assert type(seconds) is float and 0 <= seconds <= MAX_DURATION
        if s.restart_delay_max is not None:
            assert s.restart_delay_max >= s.restart_delay
    order = model.dependency_order(cfg.services)
    assert sorted(order) == sorted(names)
    position = {n: i for i, n in enumerate(order)}
    for s in cfg.services:
        for d in s.depends_on:
            assert position[d] < position[s.name]    # no cycle got through
    assert model.from_json(json.loads(json.dumps(model.to_json(cfg)))) == cfg
    for line in warnings(cfg):                   # `zei check` prints them: one printable line each
        assert isinstance(line, str) and line.startswith(PATH + ":") and line.isprintable(), line


def check(text):
    """parse() with permissive lookups and with the real ones: only ConfigError, or a usable Config."""
    results = []
    for lookups in ((lambda n: True, lambda n: True), (users.lookup_user, users.lookup_group)):
        try:
            cfg = parse(text, PATH, *lookups)
        except ConfigError as e:
            check_problems(e, text)
            results.append(None)
        else:
            check_config(cfg)
            results.append(cfg)
    if results[1] is not None:                   # the real lookups only ever refuse more
        assert results[0] == results[1]
    return results[0]


# ---- values: odd strings, numbers, YAML look-alikes --------------------------------------

ODD_TEXT = [
    "", " ", "\n", "web\n", "\0", "a\0b", "\udc80", "\ud800", "x\udfff", "\x85", "\u2028", "\x1b[31m",
    "²", "١٢٣", "4294967295", "4294967294", "-1", "0", "00", "18446744073709551616", "9" * 400,
    "root", "nobody", "all", "web", "db", "~", "null", "yes", "no", "on", "true", "1e400", ".inf",
    "-.inf", ".nan", "1_000", "0x1F", "0o17", "2024-02-30", "2001-12-14t21:59:43.10-05:00", "5s", "-5s",
    "100ms", "1.5m", "87600h", "87601h", "315360001", "٥s", "/", "/tmp", "relative", "/dev/stdout",
    "/dev/stderr", "A=B", "=", "<<", "&a", "*a", "!!binary", "%TAG", "---", "...", "é", "😀", "\t",
    "\ufeff", "x" * 70,
]
odd_text = st.sampled_from(ODD_TEXT) | st.text(max_size=8) | st.text(
    st.sampled_from("aZ9_.-=/ \0\n\r\t\x85\u2028\udc80\ud800é"), max_size=6)
numbers = (st.integers(-10, 10) | st.integers() | st.sampled_from([2**32 - 2, 2**32 - 1, 2**32, 2**64, 10**400])
           | st.floats(allow_nan=True, allow_infinity=True))
scalars = st.none() | st.booleans() | numbers | odd_text
def _containers(inner):
    keys = scalars.filter(lambda k: not (isinstance(k, float) and math.isnan(k)))
    return st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4)


trees = st.recursive(scalars, _containers, max_leaves=8)

GOOD = {                                         # values that fit, so that many configs get through
    "command": st.lists(st.sampled_from(["sleep", "5", "sh", "-c", "é", "a b", "\n"]) | st.integers(0, 9),
                        min_size=1, max_size=3),
    "user": st.sampled_from(["root", "nobody", "0", "1000", "4294967294", "daemon"]),
    "group": st.sampled_from(["root", "nogroup", "0", "1000", "4294967294"]),
    "restart": st.sampled_from(RESTART_POLICIES),
    "max_restarts": st.integers(0, 10) | st.just(10**30),
    "restart_delay": st.sampled_from(["1s", "100ms", "2m", 0, 1.5, "87600h", " 5s "]),
    "interval": st.sampled_from(["1s", "30s", 1, 0.5]),
    "oneshot": st.booleans(), "json_logs": st.booleans(),
    "depends_on": st.lists(st.sampled_from(["a", "b", "web", "db"]), max_size=2),
    "environment": st.dictionaries(st.sampled_from(["PORT", "A", "PATH", "Ä"]),
                                   st.none() | st.booleans() | st.integers() | st.text(max_size=5), max_size=3),
    "working_dir": st.sampled_from(["/", "/tmp", "/srv/é"]),
    "stdout": st.sampled_from(["/dev/stdout", "/tmp/x.log"]), "stderr": st.sampled_from(["/dev/stderr", "/e"]),
    "essential": st.booleans(),
    "success_exit_codes": st.lists(st.integers(0, 255) | st.sampled_from([0, 143, 256, -1]), min_size=1, max_size=3),
    "stop_signal": st.sampled_from(["TERM", "SIGINT", "sigquit", "KILL", "STOP", "IOT", 1, 9, 15, 34, 64, "15",
                                    "SIGTREM", 0, 65, "RTMIN"]),
    "stop_grace_period": st.sampled_from(["10s", "100ms", "40s", 0, 2.5, "87600h", "1m30s"]),
    "restart_delay_max": st.sampled_from(["30s", "1s", "100ms", 0, 60, "87600h"]),
}
ODD = {                                          # values meant to be refused (or to find a hole)
    "command": st.lists(scalars, max_size=4), "depends_on": st.lists(scalars, max_size=3),
    "environment": st.dictionaries(odd_text, scalars, max_size=3),
    "success_exit_codes": st.lists(scalars, max_size=4),
}


@st.composite
def services_trees(draw):
    """Config-shaped trees: mostly known keys with fitting values, some odd ones, sometimes anything."""
    def rarely():                        # one time in eight (0, which Hypothesis favours, is "no")
        return draw(st.integers(0, 7)) == 5

    def mostly(good, odd):
        return draw(odd if rarely() else good)

    services = {}
    for _ in range(draw(st.integers(0, 4))):
        name = mostly(st.sampled_from(["a", "b", "web", "db", "x.y-z_1"]), odd_text | st.just("all"))
        opts = {} if rarely() else {"command": ["x"]}
        keys = SERVICE_KEYS + (("restrat", "\x85") if rarely() else ())
        for key in draw(st.lists(st.sampled_from(keys), max_size=5, unique=True)):
            opts[key] = mostly(GOOD.get(key, scalars), ODD.get(key, scalars | trees))
        services[name] = draw(trees) if rarely() else opts
    top = {"services": services}
    for key in draw(st.lists(st.sampled_from(TOP_KEYS + (("versoin",) if rarely() else ())), max_size=3,
                             unique=True)):
        if key != "services":
            top[key] = mostly(st.sampled_from(["1.0", "5s", 1, 1.5]), scalars)
    return draw(trees) if rarely() else top


def dump(tree, flow):
    return yaml.safe_dump(tree, default_flow_style=flow, allow_unicode=True, sort_keys=False)


@FUZZ
@given(services_trees(), st.booleans())
def test_config_shaped_trees(tree, flow):
    check(dump(tree, flow))


@FUZZ
@given(trees, st.booleans())
def test_any_yaml_tree(tree, flow):
    check(dump(tree, flow))


YAML_CHARS = st.sampled_from(list("[]{}:-,#&*!|>'\"%@`?~ \n\t\\0aAz9._/=") + ["\\0", "\\udc80", "\\x85", "\\n",
                                                                             "  ", "\n  ", "\n    ", ": "])


deep = st.builds(lambda n, opener, tail: opener * n + tail, st.integers(1, 1000),
                 st.sampled_from(["[", "{", "{a: ", "- ", "[{a: ", "services:\n  web:\n    command: ["]),
                 st.text(max_size=5))


@FUZZ
@given(st.text(max_size=200) | st.lists(YAML_CHARS, max_size=80).map("".join) | deep)
def test_any_text(text):
    check(text)


# ---- mutations of valid configs ----------------------------------------------------------

VALID = [
    EXAMPLE,
    "services:\n  web:\n    command: [echo]\n",
    "version: '1.0'\nshutdown_timeout: 5s\nservices:\n  db:\n    command: [postgres]\n"
    "  web:\n    command: [\"node\", \"server.js\"]\n    user: \"1000\"\n    group: 1000\n"
    "    depends_on: [db]\n    environment: {A: 1, B: \"x\"}\n    stdout: /tmp/web.log\n",
    "services:\n  a: {command: [x], depends_on: [b]}\n  b: {command: [x], oneshot: true, interval: 5s}\n",
]
TOKENS = st.sampled_from([
    '"\\udc80"', '"\\ud800"', '"\\0"', '"a\\0b"', '"\\x85"', '"\\u2028"', '"web\\n"', "4294967295", "4294967294",
    "18446744073709551615", "9" * 400, "1" + "0" * 400, "1.0e+308", ".inf", ".nan", "-1", "²", "'١٢٣'",
    "all", "~", "[]", "{}", "[a, b]", "{a: 1}", "&x", "*x", "&x [*x]", "!!int", "!!str", "!env X", "!<x%0Ay>",
    "<<: *x", "\n", "\n  ", "\n    ", "\t", "- ", ": ", "#", "'", '"', "[", "]", "{", "}", ",", "---\n", "...",
    "depends_on: [web]", "depends_on: [ghost]", "oneshot: true", "interval: 0", "user: 4294967295",
    "group: '4294967295'", "restart_delay: 87601h", "environment: {\"A\\nB\": 1}", "  x:\n    command: [y]\n",
    "stop_signal: SIGTREM", "stop_signal: 0", "success_exit_codes: []", "success_exit_codes: [256]",
    "restart_delay_max: 1ms", "stop_grace_period: 1h", "essential: true",
])


@st.composite
def mutated(draw):
    text = draw(st.sampled_from(VALID))
    for _ in range(draw(st.integers(1, 6))):
        lines = text.split("\n")
        op = draw(st.sampled_from(["del", "dup", "replace", "insert", "del_line", "dup_line", "swap_lines",
                                   "value"]))
        i = draw(st.integers(0, max(0, len(text) - 1)))
        if op == "del":
            text = text[:i] + text[i + draw(st.integers(1, 8)):]
        elif op == "dup":
            text = text[:i] + text[i:i + draw(st.integers(1, 20))] + text[i:]
        elif op == "replace":
            text = text[:i] + draw(st.characters(codec="utf-8") | YAML_CHARS) + text[i + 1:]
        elif op == "insert":
            text = text[:i] + draw(TOKENS | YAML_CHARS) + text[i:]
        elif op in ("del_line", "dup_line", "swap_lines"):
            j = draw(st.integers(0, len(lines) - 1))
            k = draw(st.integers(0, len(lines) - 1))
            if op == "del_line":
                del lines[j]
            elif op == "dup_line":
                lines.insert(j, lines[j])
            else:
                lines[j], lines[k] = lines[k], lines[j]
            text = "\n".join(lines)
        else:                                    # change a value after "key: "
            candidates = [n for n, line in enumerate(lines) if ": " in line]
            if candidates:
                n = draw(st.sampled_from(candidates))
                key = lines[n].split(": ", 1)[0]
                lines[n] = f"{key}: {draw(TOKENS)}"
                text = "\n".join(lines)
    return text


@FUZZ
@given(mutated())
def test_mutations_of_valid_configs(text):
    check(text)


def test_the_seeds_are_valid():
    for text in VALID:
        assert check(text) is not None


def test_json_round_trip_of_the_example():
    cfg = parse(EXAMPLE, PATH)
    assert model.from_json(json.loads(json.dumps(model.to_json(cfg)))) == cfg
