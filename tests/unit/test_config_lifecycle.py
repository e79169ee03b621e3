"""Config: the lifecycle options (essential, success_exit_codes, stop_signal,
stop_grace_period, restart_delay_max) and the warnings of `zei check`."""
from __future__ import annotations

import textwrap

import pytest

from zei.core import config as config_mod
from zei.core import model
from zei.core.config import SERVICE_KEYS, ConfigError, parse, warnings

PATH = "/etc/zei/zei.yaml"


def load(text):
    return parse(textwrap.dedent(text), PATH)


def web(options, top=""):
    """A file with service `web` (line 2 + the top lines) whose options follow its command."""
    return top + "services:\n  web:\n    command: [echo]\n" + textwrap.indent(textwrap.dedent(options), "    ")


def problems(text):
    with pytest.raises(ConfigError) as e:
        parse(text, PATH)
    return [str(p) for p in e.value.problems]


def spec(options, top=""):
    return parse(web(options, top), PATH).service("web")


# ---- the record ----------------------------------------------------------------------------

def test_the_new_keys_are_options():
    assert {"essential", "success_exit_codes", "stop_signal", "stop_grace_period",
            "restart_delay_max"} <= set(SERVICE_KEYS)


def test_defaults():
    s = spec("")
    assert (s.essential, s.success_exit_codes, s.stop_signal, s.stop_grace_period, s.restart_delay_max) == \
        (False, (0,), 15, None, None)


def test_every_lifecycle_option_set():
    s = spec("""\
        essential: true
        success_exit_codes: [0, 143]
        stop_signal: SIGQUIT
        stop_grace_period: 1m
        restart: on-failure
        restart_delay: 500ms
        restart_delay_max: 30s
        """)
    assert (s.essential, s.success_exit_codes, s.stop_signal, s.stop_grace_period, s.restart_delay,
            s.restart_delay_max) == (True, (0, 143), 3, 60.0, 0.5, 30.0)
    assert isinstance(s.stop_grace_period, float) and isinstance(s.restart_delay_max, float)


def test_json_round_trip():
    cfg = parse(web("essential: true\nsuccess_exit_codes: [1, 0]\nstop_signal: INT\n"
                    "stop_grace_period: 3\nrestart_delay_max: 1m\n"), PATH)
    import json
    assert model.from_json(json.loads(json.dumps(model.to_json(cfg)))) == cfg


# ---- essential -----------------------------------------------------------------------------

@pytest.mark.parametrize("value,want", [("true", True), ("false", False), ("yes", True), ("off", False)])
def test_essential(value, want):
    assert spec(f"essential: {value}\n").essential is want


@pytest.mark.parametrize("value,shown", [("1", "1"), ("'true'", "'true'"), ("[true]", "a list"), ("", "null")])
def test_essential_must_be_a_boolean(value, shown):
    assert problems(web(f"essential: {value}\n")) == [
        f"{PATH}:4: services.web.essential: expected true or false (got {shown})"]


# ---- success_exit_codes ----------------------------------------------------------------------

@pytest.mark.parametrize("value,codes", [
    ("[0]", (0,)), ("[0, 143]", (0, 143)), ("[143, 0]", (143, 0)), ("[1, 1, 0, 1]", (1, 0)),
    ("[255]", (255,)), ("[0x8f]", (143,)), ("\n  - 0\n  - 2", (0, 2)),
])
def test_success_exit_codes(value, codes):
    got = spec(f"success_exit_codes: {value}\n").success_exit_codes
    assert got == codes and type(got) is tuple and all(type(c) is int for c in got)


@pytest.mark.parametrize("value,message", [
    ("[]", "4: services.web.success_exit_codes: must not be empty (got [])"),
    ("0", "4: services.web.success_exit_codes: expected a list of exit codes from 0 to 255 (got 0)"),
    ("", "4: services.web.success_exit_codes: expected a list of exit codes from 0 to 255 (got null)"),
    ("{a: 1}", "4: services.web.success_exit_codes: expected a list of exit codes from 0 to 255 (got a mapping)"),
    ("[0, 256]", "4: services.web.success_exit_codes[1]: expected an exit code from 0 to 255 (got 256)"),
    ("[-1]", "4: services.web.success_exit_codes[0]: expected an exit code from 0 to 255 (got -1)"),
    ("['0']", "4: services.web.success_exit_codes[0]: expected an exit code from 0 to 255 (got '0')"),
    ("[true]", "4: services.web.success_exit_codes[0]: expected an exit code from 0 to 255 (got true)"),
    ("[1.0]", "4: services.web.success_exit_codes[0]: expected an exit code from 0 to 255 (got 1.0)"),
    ("[[0]]", "4: services.web.success_exit_codes[0]: expected an exit code from 0 to 255 (got a list)"),
    ("[~]", "4: services.web.success_exit_codes[0]: expected an exit code from 0 to 255 (got ~)"),
    ("[" + "9" * 400 + "]", "4: services.web.success_exit_codes[0]: expected an exit code from 0 to 255 (got "
     + "9" * 57 + "...)"),
])
def test_success_exit_codes_rejects(value, message):
    assert problems(web(f"success_exit_codes: {value}\n")) == [f"{PATH}:{message}"]


def test_every_bad_exit_code_is_reported():
    assert problems(web("success_exit_codes: [0, 300, x, 2]\n")) == [
        f"{PATH}:4: services.web.success_exit_codes[1]: expected an exit code from 0 to 255 (got 300)",
        f"{PATH}:4: services.web.success_exit_codes[2]: expected an exit code from 0 to 255 (got 'x')",
    ]


# ---- stop_signal -----------------------------------------------------------------------------

@pytest.mark.parametrize("value,number", [
    ("TERM", 15), ("SIGTERM", 15), ("INT", 2), ("SIGINT", 2), ("sigquit", 3), ("quit", 3), ("SigHup", 1),
    ("KILL", 9), ("SIGKILL", 9), ("STOP", 19), ("USR1", 10), ("SIGUSR2", 12), ("WINCH", 28), ("SYS", 31),
    ("PWR", 30), ("IOT", 6), ("SIGCLD", 17), ("poll", 29), ("1", 1), ("9", 9), ("15", 15), ("'15'", 15),
    ("34", 34), ("64", 64), ("' INT '", 2),
])
def test_stop_signal(value, number):
    s = spec(f"stop_signal: {value}\n")
    assert s.stop_signal == number and type(s.stop_signal) is int


def test_stop_signal_names_are_the_linux_table():
    assert model.SIGNAL_NAMES[1] == "HUP" and model.SIGNAL_NAMES[15] == "TERM" and model.SIGNAL_NAMES[31] == "SYS"
    assert sorted(model.SIGNAL_NAMES) == list(range(1, 32))
    for number, name in model.SIGNAL_NAMES.items():
        assert spec(f"stop_signal: {name}\n").stop_signal == number
        assert spec(f"stop_signal: SIG{name.lower()}\n").stop_signal == number


def test_the_signal_table_matches_the_system():
    import signal
    for number, name in model.SIGNAL_NAMES.items():
        assert signal.Signals["SIG" + name] == number


SIGNAL_TYPE = "expected a signal name like TERM or SIGINT, or a number from 1 to 64"


@pytest.mark.parametrize("value,message", [
    ("SIGTREM", "unknown signal; did you mean 'SIGTERM'? (got 'SIGTREM')"),
    ("TREM", "unknown signal; did you mean 'TERM'? (got 'TREM')"),
    ("sigint2", "unknown signal; did you mean 'SIGINT'? (got 'sigint2')"),
    ("FOO", f"unknown signal; {SIGNAL_TYPE} (got 'FOO')"),
    ("SIG", f"unknown signal; {SIGNAL_TYPE} (got 'SIG')"),
    ("RTMIN", "unknown signal; give a real-time signal as its number, 34 to 64 (got 'RTMIN')"),
    ("SIGRTMAX-1", "unknown signal; give a real-time signal as its number, 34 to 64 (got 'SIGRTMAX-1')"),
    ("SIG_DFL", f"unknown signal; {SIGNAL_TYPE} (got 'SIG_DFL')"),
    ("0", "must be a signal number from 1 to 64 (got 0)"),
    ("'0'", "must be a signal number from 1 to 64 (got '0')"),
    ("65", "must be a signal number from 1 to 64 (got 65)"),
    ("-15", "must be a signal number from 1 to 64 (got -15)"),
    ("9" * 400, "must be a signal number from 1 to 64 (got " + "9" * 57 + "...)"),
    ("15.0", f"{SIGNAL_TYPE} (got 15.0)"),
    ("true", f"{SIGNAL_TYPE} (got true)"),
    ("''", f"{SIGNAL_TYPE} (got '')"),
    ("", f"{SIGNAL_TYPE} (got null)"),
    ("[TERM]", f"{SIGNAL_TYPE} (got a list)"),
    ("!sig TERM", f"{SIGNAL_TYPE} (got !sig TERM)"),
    ('"TE\\0RM"', "unknown signal; did you mean 'TERM'? (got 'TE\\x00RM')"),
])
def test_stop_signal_rejects(value, message):
    assert problems(web(f"stop_signal: {value}\n")) == [f"{PATH}:4: services.web.stop_signal: {message}"]


# ---- stop_grace_period ------------------------------------------------------------------------

@pytest.mark.parametrize("value,seconds", [("10s", 10.0), ("100ms", 0.1), ("2m", 120.0), ("0", 0.0), ("3", 3.0),
                                           ("1.5", 1.5), ("1m30s", 90.0), ("1h30m", 5400.0),
                                           ("2h45m30.5s", 9930.5), ("1s500ms", 1.5), ("500us", 0.0005)])
def test_stop_grace_period(value, seconds):
    got = spec(f"stop_grace_period: {value}\n").stop_grace_period
    assert got == pytest.approx(seconds) and type(got) is float


@pytest.mark.parametrize("value,message", [
    ("soon", "expected a duration like 5s, 100ms, 2m or 1h (got 'soon')"),
    ("1m30", "expected a duration like 5s, 100ms, 2m or 1h (got '1m30')"),
    ("1m-30s", "expected a duration like 5s, 100ms, 2m or 1h (got '1m-30s')"),
    ("m30s", "expected a duration like 5s, 100ms, 2m or 1h (got 'm30s')"),
    ("-1s", "must not be negative (got '-1s')"),
    ("87601h", "must be at most 10 years (87600h) (got '87601h')"),
    ("[1]", "expected a duration like 5s, 100ms, 2m or 1h (got a list)"),
    ("", "expected a duration like 5s, 100ms, 2m or 1h (got null)"),
])
def test_stop_grace_period_rejects(value, message):
    assert problems(web(f"stop_grace_period: {value}\n")) == [
        f"{PATH}:4: services.web.stop_grace_period: {message}"]


# ---- restart_delay_max ------------------------------------------------------------------------

@pytest.mark.parametrize("options,delay,cap", [
    ("restart: always\nrestart_delay_max: 30s\n", 1.0, 30.0),
    ("restart: on-failure\nrestart_delay: 2s\nrestart_delay_max: 2s\n", 2.0, 2.0),
    ("restart: always\nrestart_delay_max: 1s\n", 1.0, 1.0),
    ("restart_delay_max: 1m\n", 1.0, 60.0),                  # restart: never -- unused, not an error
    ("restart: always\nrestart_delay: 0\nrestart_delay_max: 0\n", 0.0, 0.0),
])
def test_restart_delay_max(options, delay, cap):
    s = spec(options)
    assert (s.restart_delay, s.restart_delay_max) == (delay, cap) and type(s.restart_delay_max) is float


@pytest.mark.parametrize("options,message", [
    ("restart: always\nrestart_delay: 5s\nrestart_delay_max: 1s\n",
     "6: services.web.restart_delay_max: must be at least restart_delay (5s) (got '1s')"),
    ("restart_delay_max: 1s\nrestart_delay: 1m\n",
     "4: services.web.restart_delay_max: must be at least restart_delay (1m) (got '1s')"),
    ("restart: always\nrestart_delay_max: 500ms\n",
     "5: services.web.restart_delay_max: must be at least restart_delay (1s, the default) (got '500ms')"),
    ("restart_delay: 1.5s\nrestart_delay_max: 0.2\n",
     "5: services.web.restart_delay_max: must be at least restart_delay (1.5s) (got 0.2)"),
    ("restart_delay_max: later\n",
     "4: services.web.restart_delay_max: expected a duration like 5s, 100ms, 2m or 1h (got 'later')"),
])
def test_restart_delay_max_rejects(options, message):
    assert problems(web(options)) == [f"{PATH}:{message}"]


def test_a_bad_restart_delay_is_reported_once():
    assert problems(web("restart_delay: fast\nrestart_delay_max: 1s\n")) == [
        f"{PATH}:4: services.web.restart_delay: expected a duration like 5s, 100ms, 2m or 1h (got 'fast')"]


# ---- all at once, and unknown keys --------------------------------------------------------------

def test_every_problem_at_once():
    text = textwrap.dedent("""\
        services:
          web:
            command: [node]
            essential: maybe
            success_exit_codes: [0, 999]
            stop_signal: SIGTREM
            stop_grace_period: 5 minutes
            restart_delay: 10s
            restart_delay_max: 2s
          db:
            command: [pg]
            stop_signals: INT
            grace_period: 5s
            success_codes: [0]
        """)
    assert problems(text) == [
        f"{PATH}:4: services.web.essential: expected true or false (got 'maybe')",
        f"{PATH}:5: services.web.success_exit_codes[1]: expected an exit code from 0 to 255 (got 999)",
        f"{PATH}:6: services.web.stop_signal: unknown signal; did you mean 'SIGTERM'? (got 'SIGTREM')",
        f"{PATH}:7: services.web.stop_grace_period: expected a duration like 5s, 100ms, 2m or 1h "
        "(got '5 minutes')",
        f"{PATH}:9: services.web.restart_delay_max: must be at least restart_delay (10s) (got '2s')",
        f"{PATH}:12: services.db.stop_signals: unknown option; did you mean 'stop_signal'?",
        f"{PATH}:13: services.db.grace_period: unknown option; did you mean 'stop_grace_period'?",
        f"{PATH}:14: services.db.success_codes: unknown option; did you mean 'success_exit_codes'?",
    ]


@pytest.mark.parametrize("key,close", [("restart_max_delay", "restart_delay_max"), ("esential", "essential"),
                                       ("stopsignal", "stop_signal"), ("success_exit_code", "success_exit_codes"),
                                       ("stop_grace", "stop_grace_period")])
def test_close_keys_are_suggested(key, close):
    assert problems(web(f"{key}: 1\n")) == [f"{PATH}:4: services.web.{key}: unknown option; did you mean {close!r}?"]


# ---- warnings ----------------------------------------------------------------------------------

NOTE = (f"{PATH}: note: a service may take up to {{g}} to stop, but docker stop waits only 10s by "
        "default before it kills the container; give it {n}s (docker stop -t {n}, stop_grace_period: "
        "{n}s in compose, terminationGracePeriodSeconds: {n} in Kubernetes) or shorten the grace")


def test_no_warnings_within_docker_default():
    assert warnings(load("shutdown_timeout: 8s\n" + web("stop_grace_period: 5s\n"))) == []
    assert warnings(load("shutdown_timeout: 10s\n" + web("stop_grace_period: 10s\n"))) == []
    assert warnings(load("shutdown_timeout: 0\n" + web(""))) == []


def test_the_default_timeout_alone_gets_no_note():
    assert warnings(load(web(""))) == []           # `zei check` of a plain config prints nothing more
    assert warnings(load("shutdown_timeout: 2m\n" + web(""))) == []


@pytest.mark.parametrize("grace,shown,n", [("11s", "11s", 125), ("10.5s", "10.5s", 125), ("2m", "2m", 125),
                                           ("1h", "2m", 125), ("90", "90s", 125)])
def test_the_docker_note_names_the_longest_grace(grace, shown, n):
    got = warnings(load("shutdown_timeout: 2m\n" + web(f"stop_grace_period: {grace}\n")))
    assert got[-1] == NOTE.format(g=shown, n=n)


def test_a_grace_longer_than_the_shutdown_timeout():
    text = textwrap.dedent("""\
        shutdown_timeout: 8s
        services:
          db:
            command: [pg]
            stop_grace_period: 8s
          web:
            command: [node]
            stop_grace_period: 40s
          worker:
            command: [w]
            stop_grace_period: 1500ms
          cache:
            command: [c]
            stop_grace_period: 1m
        """)
    assert warnings(load(text)) == [
        f"{PATH}:6: services.web.stop_grace_period: 40s is longer than shutdown_timeout (8s); "
        "at shutdown it gets at most 8s",
        f"{PATH}:12: services.cache.stop_grace_period: 1m is longer than shutdown_timeout (8s); "
        "at shutdown it gets at most 8s",
    ]


def test_grace_warnings_come_before_the_note():
    got = warnings(load(web("stop_grace_period: 45s\n")))
    assert got == [f"{PATH}:2: services.web.stop_grace_period: 45s is longer than shutdown_timeout (30s); "
                   "at shutdown it gets at most 30s", NOTE.format(g="30s", n=35)]


@pytest.mark.parametrize("seconds,text", [(0.1, "100ms"), (0.25, "250ms"), (1.0, "1s"), (1.5, "1.5s"), (40.0, "40s"),
                                          (60.0, "1m"), (90.0, "90s"), (3600.0, "1h"), (7200.0, "2h"),
                                          (0.0, "0s")])
def test_durations_are_shown_as_written(seconds, text):
    assert config_mod.span(seconds) == text


def test_warnings_of_a_hand_built_config():
    cfg = model.Config(path="f.yaml", services=(model.ServiceSpec(name="a", command=("x",), stop_grace_period=3.0),),
                       shutdown_timeout=2.0)
    assert warnings(cfg) == ["f.yaml: services.a.stop_grace_period: 3s is longer than shutdown_timeout (2s); "
                             "at shutdown it gets at most 2s"]


def test_the_example_shows_every_option():
    from pathlib import Path
    import yaml
    text = (Path(__file__).resolve().parents[2] / "example" / "zei.yaml").read_text()
    used = {key for opts in yaml.safe_load(text)["services"].values() for key in opts}
    assert set(SERVICE_KEYS) <= used, sorted(set(SERVICE_KEYS) - used)
    cfg = parse(text, PATH)
    assert warnings(cfg) == []                      # the example stays within docker stop's 10s
