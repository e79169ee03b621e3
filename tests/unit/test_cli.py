"""CLI: signal names, rendering, the docopt usage, and exit codes (the client is faked)."""
from __future__ import annotations

import io
import json
import re
import signal

import pytest
from docopt import DocoptExit, docopt

from fakes import FakeShell, spec, supervisor
from zei import __version__, cli, render

# ---- parse_signal --------------------------------------------------------------------------
from zei.core import protocol
from zei.shell import client


@pytest.mark.parametrize("text,number", [
    ("HUP", 1), ("SIGHUP", 1), ("hup", 1), ("sighup", 1), ("SigHup", 1), (" HUP ", 1), ("1", 1),
    ("TERM", 15), ("KILL", 9), ("USR1", 10), ("USR2", 12), ("INT", 2), ("QUIT", 3), ("CONT", 18),
    ("STOP", 19), ("WINCH", 28), ("SIGWINCH", 28), ("9", 9), ("64", 64), ("34", 34),
])
def test_parse_signal(text, number):
    assert cli.parse_signal(text) == number


@pytest.mark.parametrize("text", ["FOO", "SIGFOO", "SIG", "", "0", "65", "-1", "1.5", "HUP1", "SIG_DFL",
                                  "RTMIN", "SIGRTMAX"])
def test_parse_signal_rejects_and_lists_the_valid_names(text):
    with pytest.raises(ValueError) as e:
        cli.parse_signal(text)
    message = str(e.value)
    assert message.startswith(f"unknown signal {text!r}; use a name (with or without SIG) or a number: ")
    names = message.split(": ", 1)[1].split(", ")
    assert names[:3] == ["HUP", "INT", "QUIT"]
    assert {"TERM", "KILL", "USR1", "USR2", "CONT", "STOP", "WINCH"} <= set(names)
    assert all(not n.startswith("SIG") for n in names)


def test_every_listed_name_is_accepted():
    for name, number in render.signal_numbers().items():
        assert cli.parse_signal(name) == cli.parse_signal("SIG" + name) == number == signal.Signals["SIG" + name]


# ---- rendering -----------------------------------------------------------------------------

@pytest.mark.parametrize("seconds,text", [
    (None, "-"), (0, "0.0s"), (3.25, "3.2s"), (12.9, "12s"), (59, "59s"), (60, "1m00s"), (61.5, "1m01s"),
    (3599, "59m59s"), (3600, "1h00m"), (3661, "1h01m"), (86399, "23h59m"), (86400, "1d00h"),
    (90000, "1d01h"),
])
def test_fmt_duration(seconds, text):
    assert cli.fmt_duration(seconds) == text


@pytest.mark.parametrize("last,text", [
    (None, "-"), ({}, "-"), ({"code": 0}, "exit 0"), ({"code": 127}, "exit 127"), ({"signal": 9}, "SIGKILL"),
    ({"signal": 15}, "SIGTERM"), ({"signal": 99}, "signal 99"), ({"error": "exec: ENOENT"}, "error: exec: ENOENT"),
])
def test_fmt_exit(last, text):
    assert cli.fmt_exit(last) == text


def live_rows():
    """Rows as the daemon sends them: from a real Supervisor driven by the fake shell."""
    sup = supervisor(spec("web", restart="always", max_restarts=5, restart_delay=2.0, user="app",
                          group="app", command=("node", "server.js")),
                     spec("healthcheck", oneshot=True, interval=30.0, depends_on=("web",),
                          command=("sh", "-c", "curl -sf localhost")),
                     spec("worker", restart="on-failure", restart_delay=5.0, command=("python", "w.py")))
    shell = FakeShell(sup)
    shell.boot()
    shell.exit("healthcheck", 0, at=1.0)
    shell.exit("worker", None, 9, at=2.0)
    shell.advance(7.0)                  # worker starts again
    shell.advance(31.0)                 # healthcheck runs again
    shell.exit("web", 1, at=100.0)
    shell.advance(102.0)                # web restarts
    return sup.status(125.0)


def test_render_list():
    assert cli.render_list(live_rows()) == (
        "NAME         STATE    HEALTH  PID  UPTIME  RESTARTS  LAST EXIT\n"
        "web          running  -       105  23s     1         exit 1\n"
        "healthcheck  running  -       104  1m34s   0         exit 0\n"
        "worker       running  -       103  1m58s   1         SIGKILL\n"
    )


def test_render_list_of_nothing_is_just_the_header():
    assert cli.render_list([]) == "NAME  STATE  HEALTH  PID  UPTIME  RESTARTS  LAST EXIT\n"


def test_render_status():
    sup = supervisor(spec("web", restart="always", max_restarts=5, restart_delay=2.0, user="app",
                          group="app", command=("node", "server.js")),
                     spec("job", oneshot=True, interval=30.0, depends_on=("web",), command=("sh", "-c", "true")))
    shell = FakeShell(sup)
    shell.boot()
    shell.exit("job", 0, at=1.0)
    shell.exit("web", 1, at=2.0)
    assert cli.render_status(sup.status(2.5)) == (
        "web: backoff\n"
        "  next start: in 1.5s\n"
        "  command:    node server.js\n"
        "  user:       app (group app)\n"
        "  restart:    always, max 5\n"
        "  restarts:   1\n"
        "  backoff:    2.0s\n"
        "  stop:       SIGTERM, SIGKILL after 10s\n"
        "  last exit:  exit 1\n"
        "job: scheduled\n"
        "  next start: in 28s\n"
        "  command:    sh -c true\n"
        "  user:       zei's own user\n"
        "  restart:    never\n"
        "  restarts:   0\n"
        "  stop:       SIGTERM, SIGKILL after 10s\n"
        "  oneshot:    yes, every 30s\n"
        "  depends on: web\n"
        "  last exit:  exit 0\n"
    )


def test_render_status_of_a_running_and_a_blocked_service():
    sup = supervisor(spec("db", oneshot=True, restart="never"), spec("api", depends_on=("db",)),
                     spec("web", command=("nginx",)))
    shell = FakeShell(sup)
    shell.boot()
    shell.exit("db", 1, at=1.0)
    text = cli.render_status(sup.status(75.0, "api") + sup.status(75.0, "web"))
    assert text == (
        "api: blocked (dependency failed: db)\n"
        "  command:    /bin/true\n"
        "  user:       zei's own user\n"
        "  restart:    never\n"
        "  restarts:   0\n"
        "  stop:       SIGTERM, SIGKILL after 10s\n"
        "  depends on: db\n"
        "  last exit:  -\n"
        "web: running\n"
        "  pid:        101\n"
        "  uptime:     1m15s\n"
        "  command:    nginx\n"
        "  user:       zei's own user\n"
        "  restart:    never\n"
        "  restarts:   0\n"
        "  stop:       SIGTERM, SIGKILL after 10s\n"
        "  last exit:  -\n"
    )


# ---- the docopt usage ----------------------------------------------------------------------

COMMANDS = ("list", "status", "start", "stop", "restart", "signal", "check")
FORMS = {
    "": {},
    "-c /x.yaml --socket /tmp/s": {"--config": "/x.yaml", "--socket": "/tmp/s"},
    "list": {"list": True},
    "list --json": {"list": True, "--json": True},
    "-c /x.yaml list": {"list": True, "--config": "/x.yaml"},
    "--config=/x.yaml --socket /s list --json": {"list": True, "--config": "/x.yaml", "--socket": "/s",
                                                 "--json": True},
    "status": {"status": True},
    "status web": {"status": True, "SERVICE": "web"},
    "status web --json": {"status": True, "SERVICE": "web", "--json": True},
    "status --json": {"status": True, "--json": True},
    "start web": {"start": True, "SERVICE": "web"},
    "stop web": {"stop": True, "SERVICE": "web"},
    "restart worker": {"restart": True, "SERVICE": "worker"},
    "--socket /s restart worker": {"restart": True, "SERVICE": "worker", "--socket": "/s"},
    "signal web:HUP": {"signal": True, "SERVICE:SIGNAL": "web:HUP"},
    "-c /x.yaml signal web:9": {"signal": True, "SERVICE:SIGNAL": "web:9", "--config": "/x.yaml"},
    "check": {"check": True},
    "logs": {"logs": True, "--lines": "100"},
    "logs web db -n 5 -f -t --since 5m --json": {"logs": True, "NAME": ["web", "db"], "--lines": "5",
                                                 "--follow": True, "--time": True, "--since": "5m",
                                                 "--json": True},
    "-c /x.yaml check": {"check": True, "--config": "/x.yaml"},
}
DEFAULTS = {c: False for c in COMMANDS} | {"--config": "/etc/zei/zei.yaml", "--socket": None,
                                           "--json": False, "SERVICE": None, "SERVICE:SIGNAL": None}


def parse(argv):
    return docopt(cli.USAGE, argv.split(), version=f"zei {__version__}")


@pytest.mark.parametrize("argv", FORMS)
def test_usage_parses(argv):
    args = parse(argv)
    want = DEFAULTS | FORMS[argv]
    assert {k: args[k] for k in want} == want


def test_every_usage_line_has_a_tested_form():
    usage = cli.USAGE.split("Usage:")[1].split("\n\n")[0]
    lines = [line.strip() for line in usage.strip().splitlines()]
    words = [next((c for c in COMMANDS if re.search(rf"\b{c}\b", line)), None) for line in lines]
    tested = {next((c for c in COMMANDS if FORMS[f].get(c)), None) for f in FORMS}
    assert set(words) - {None} == set(COMMANDS)
    assert set(COMMANDS) <= tested


@pytest.mark.parametrize("argv", ["start", "stop", "restart", "signal", "list web", "bogus",
                                  "status a b", "--nope", "check extra"])
def test_bad_command_lines_are_refused(argv):
    with pytest.raises(DocoptExit):
        parse(argv)


@pytest.mark.parametrize("argv", ["--help", "-h", "--version"])
def test_help_and_version_exit(argv, capsys):
    with pytest.raises(SystemExit):
        parse(argv)
    out = capsys.readouterr().out
    assert ("Usage:" in out) if argv != "--version" else (out.strip() == f"zei {__version__}")


# ---- run(): what the commands do with the daemon's answers ----------------------------------

class FakeClient:
    def __init__(self, reply=None, error=None):
        self.reply, self.error, self.requests = reply, error, []

    def __call__(self, path, payload, timeout=10.0):
        self.requests.append((path, payload))
        if self.error is not None:
            raise self.error
        return self.reply


def run(argv, monkeypatch, reply=None, error=None):
    fake = FakeClient(reply, error)
    monkeypatch.setattr(client, "request", fake)
    monkeypatch.delenv("ZEI_SOCKET", raising=False)
    out, err = io.StringIO(), io.StringIO()
    code = cli.run(parse(argv), out, err)
    return code, out.getvalue(), err.getvalue(), fake.requests


@pytest.mark.parametrize("target", ["web", "web:", ":HUP"])
def test_signal_needs_service_and_signal(target, monkeypatch):
    code, out, err, sent = run(f"signal {target}", monkeypatch)
    assert (code, out, sent) == (cli.EXIT_USAGE, "", [])
    assert err == f"zei: expected SERVICE:SIGNAL, e.g. web:HUP (got {target!r})\n"


def test_signal_with_an_unknown_name_sends_nothing(monkeypatch):
    code, _, err, sent = run("signal web:BOGUS", monkeypatch)
    assert code == cli.EXIT_USAGE and sent == []
    assert err.startswith("zei: unknown signal 'BOGUS'; use a name")


def test_signal_request(monkeypatch):
    code, out, _, sent = run("--socket /s signal web:sigusr1", monkeypatch,
                             reply={"ok": True, "message": "sent SIGUSR1 to web (pid 7)"})
    assert sent == [("/s", {"cmd": "signal", "service": "web", "signal": 10})]
    assert (code, out) == (0, "sent SIGUSR1 to web (pid 7)\n")


def test_socket_from_the_environment(monkeypatch):
    fake = FakeClient({"ok": True, "message": "ok"})
    monkeypatch.setattr(client, "request", fake)
    monkeypatch.setenv("ZEI_SOCKET", "/env/sock")
    assert cli.run(parse("stop web"), io.StringIO(), io.StringIO()) == 0
    assert fake.requests == [("/env/sock", {"cmd": "stop", "service": "web"})]


@pytest.mark.parametrize("verb", ["start", "stop", "restart"])
def test_actions_and_their_exit_codes(verb, monkeypatch):
    code, out, _, sent = run(f"{verb} web", monkeypatch, reply={"ok": True, "message": "done"})
    assert (code, out, sent) == (0, "done\n", [(client.DEFAULT_SOCKET, {"cmd": verb, "service": "web"})])
    code, _, err, _ = run(f"{verb} nope", monkeypatch,
                          reply={"ok": False, "code": "unknown-service", "error": "unknown service 'nope'"})
    assert (code, err) == (cli.EXIT_UNKNOWN, "zei: unknown service 'nope'\n")
    code, _, err, _ = run(f"{verb} web", monkeypatch, reply={"ok": False, "error": "zei is shutting down"})
    assert (code, err) == (cli.EXIT_ERROR, "zei: zei is shutting down\n")
    code, _, err, _ = run(f"{verb} web", monkeypatch, error=client.NoDaemon("no daemon socket at /s"))
    assert (code, err) == (cli.EXIT_ERROR, f"zei: {verb} needs the running daemon: no daemon socket at /s\n")
    code, _, err, _ = run(f"{verb} web", monkeypatch, error=protocol.ProtocolError("reply too large"))
    assert (code, err) == (cli.EXIT_ERROR, "zei: reply too large\n")


@pytest.mark.parametrize("state,code", [("running", 0), ("stopping", 0), ("stopped", 3), ("failed", 3),
                                        ("backoff", 3), ("exited", 3)])
def test_status_exit_code_is_a_probe(state, code, monkeypatch):
    row = {"name": "web", "state": state, "pid": None, "command": ["x"], "user": "root", "restart": "never"}
    got, out, _, sent = run("status web", monkeypatch, reply={"ok": True, "services": [row]})
    assert got == code and out.startswith(f"web: {state}")
    assert sent[0][1] == {"cmd": "status", "service": "web"}


def test_status_json(monkeypatch):
    row = {"name": "web", "state": "running", "pid": 5}
    code, out, _, _ = run("status web --json", monkeypatch, reply={"ok": True, "services": [row]})
    assert code == 0 and json.loads(out) == {"daemon": True, "shutting_down": False,
                                             "shutdown_reason": None, "services": [row]}


def test_list_and_status_fall_back_to_the_config(tmp_path, monkeypatch):
    path = tmp_path / "zei.yaml"
    path.write_text("services:\n  web:\n    command: [node, s.js]\n  db:\n    command: [pg]\n")
    down = client.NoDaemon("no daemon socket at /run/zei/zei.sock")
    code, out, err, _ = run(f"-c {path} list", monkeypatch, error=down)
    assert code == 0
    assert err == f"zei: daemon not running (no daemon socket at /run/zei/zei.sock); showing {path}\n"
    assert out == ("NAME  STATE    HEALTH  PID  UPTIME  RESTARTS  LAST EXIT\n"
                   "web   unknown  -       -    -       -         -\n"
                   "db    unknown  -       -    -       -         -\n")
    code, out, _, _ = run(f"-c {path} status web", monkeypatch, error=down)
    assert code == cli.EXIT_NOT_RUNNING and out.startswith("web: unknown (daemon not running)\n")
    code, _, err, _ = run(f"-c {path} status nope", monkeypatch, error=down)
    assert (code, err) == (cli.EXIT_UNKNOWN, f"zei: unknown service 'nope' in {path}\n")
    code, out, _, _ = run(f"-c {path} list --json", monkeypatch, error=down)
    assert json.loads(out)["daemon"] is False and [s["name"] for s in json.loads(out)["services"]] == ["web", "db"]


# ---- usage errors say what is wrong, in zei's words (issue: hardening) ---------------------

@pytest.mark.parametrize("argv, reason", [
    (["frobnicate"], "unknown command 'frobnicate'; commands: list, status, start, stop, restart, signal, ready, "
                     "reload, logs, check"),
    (["lsit"], "unknown command 'lsit'; did you mean 'list'?"),
    (["list", "extra"], "too many arguments for list: 'extra'"),
    (["-c", "x.yaml", "status", "a", "b"], "too many arguments for status: 'b'"),
    (["stop"], "stop needs SERVICE"),
    (["signal"], "signal needs SERVICE:SIGNAL"),
    (["--bogus"], "unknown option '--bogus'"),
    (["list", "--socket"], "option --socket needs a value"),
])
def test_usage_errors_name_the_problem(argv, reason, capsys):
    from zei import __main__
    assert __main__.command_line(argv) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert err.splitlines()[0] == f"zei: {reason}"
    assert "Usage:" in err and "zei --help" in err
    assert "Warning" not in err and "Argument(" not in err and "Option(" not in err


# ---- check: problems, the ok line and warnings -------------------------------------------

def check(tmp_path, monkeypatch, text):
    path = tmp_path / "zei.yaml"
    path.write_text(text)
    code, out, err, sent = run(f"-c {path} check", monkeypatch)
    assert sent == []                               # check never talks to a daemon
    return path, code, out, err


def test_check_ok_without_warnings(tmp_path, monkeypatch):
    path, code, out, err = check(tmp_path, monkeypatch, "shutdown_timeout: 8s\nservices:\n  web:\n"
                                 "    command: [node]\n    stop_grace_period: 5s\n  db:\n    command: [pg]\n")
    assert (code, out, err) == (0, f"{path}: ok, 2 service(s): web, db\n", "")


def test_check_warnings_go_to_stderr_and_exit_0(tmp_path, monkeypatch):
    path, code, out, err = check(tmp_path, monkeypatch, "services:\n  web:\n    command: [node]\n"
                                 "    stop_grace_period: 40s\n    stop_signal: INT\n")
    assert (code, out) == (0, f"{path}: ok, 1 service(s): web\n")
    assert err == (
        f"{path}:2: services.web.stop_grace_period: 40s is longer than shutdown_timeout (30s); "
        "at shutdown it gets at most 30s\n"
        f"{path}: note: a service may take up to 30s to stop, but docker stop waits only 10s by default "
        "before it kills the container; give it 35s (docker stop -t 35, stop_grace_period: 35s in compose, "
        "terminationGracePeriodSeconds: 35 in Kubernetes) or shorten the grace\n")


def test_check_problems_exit_1_and_give_no_warnings(tmp_path, monkeypatch):
    path, code, out, err = check(tmp_path, monkeypatch, "services:\n  web:\n    command: [node]\n"
                                 "    stop_signal: SIGTREM\n    stop_grace_period: 40s\n")
    assert (code, out) == (cli.EXIT_ERROR, "")
    assert err == (f"{path}:4: services.web.stop_signal: unknown signal; did you mean 'SIGTERM'? "
                   "(got 'SIGTREM')\n"
                   f"zei: 1 problem(s) in {path}\n")


def test_check_of_a_missing_file(tmp_path, monkeypatch):
    code, out, err, _ = run(f"-c {tmp_path}/nope.yaml check", monkeypatch)
    assert (code, out) == (cli.EXIT_ERROR, "")
    assert err == f"zei: cannot read {tmp_path}/nope.yaml: No such file or directory\n"


def test_check_of_the_example_is_clean(monkeypatch):
    from pathlib import Path
    example = Path(__file__).resolve().parents[2] / "example" / "zei.yaml"
    code, out, err, _ = run(f"-c {example} check", monkeypatch)
    assert code == 0 and out.startswith(f"{example}: ok, ") and err == ""


def test_status_shows_essential_stop_and_backoff_and_why_zei_is_stopping():
    svc = {"name": "web", "state": "backoff", "pid": None, "uptime": None, "next_in": 1.5,
           "command": ["web"], "user": "root", "group": None, "restart": "always", "max_restarts": 5,
           "restart_delay": 1.0, "restart_delay_max": 60.0, "restarts": 2, "failures": 2, "delay": 2.0,
           "essential": True, "stop_signal": 2, "stop_grace_period": 5.0, "oneshot": False,
           "depends_on": [], "last_exit": {"code": 1}, "reason": ""}
    text = cli.render_status([svc])
    assert "  restart:    always, max 5, backoff 1.0s to 1m00s" in text
    assert "  restarts:   2 (2 failed in a row)" in text and "  backoff:    2.0s" in text
    assert "  essential:  yes" in text and "  stop:       SIGINT, SIGKILL after 5.0s" in text


def test_status_during_an_essential_shutdown_says_why(monkeypatch):
    row = {"name": "web", "state": "exited", "pid": None, "command": ["web"], "user": "root",
           "restart": "never", "last_exit": {"code": 3}}
    why = "essential service web exited (exit code 3); zei exits with 3"
    code, out, _, _ = run("list", monkeypatch, reply={"ok": True, "services": [row],
                                                      "shutting_down": True, "shutdown_reason": why})
    assert code == 0 and out.splitlines()[0] == f"zei is stopping: {why}"


def test_signal_names_are_the_enum_members_names():
    assert {int(s): s.name for s in signal.Signals} == render.SIGNAL_NAMES


def test_signal_name_of_an_unknown_number():
    assert render.signal_name(15) == "SIGTERM"
    assert render.signal_name(200) == "signal 200"


def test_signal_numbers_are_the_cli_names():
    expected = {s.name[3:]: int(s) for s in signal.Signals if s.name.startswith("SIG")
                and not s.name.startswith("SIG_") and s.name not in ("SIGRTMIN", "SIGRTMAX")}
    assert render.signal_numbers() == expected
