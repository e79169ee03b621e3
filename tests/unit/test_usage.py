"""zei.usage (the CLI's fast path) against docopt on zei.cli's usage: wherever parse() gives
an answer it is docopt's, and the everyday command lines do get one."""
from __future__ import annotations

import pytest
from docopt import DocoptExit, docopt
from hypothesis import given, settings
from hypothesis import strategies as st

from zei import cli, usage

WORDS = ["list", "status", "start", "stop", "restart", "signal", "ready", "reload", "logs",
         "check", "web", "db:HUP", "-", "--", "x", "5", "5m", "-c", "-cX", "--config", "--config=Y",
         "--socket", "--socket=/s", "--socket=", "--sock", "--json", "--json=1", "-n", "-n5", "--lines",
         "--lines=7", "-f", "-t", "-ft", "-tf", "-fn3", "--follow", "--time", "--since", "--since=1h",
         "-h", "--help", "--version", "-x", "--bogus", "-c=Z", "help", "true"]


def reference(argv):
    try:
        return dict(docopt(cli.USAGE, argv, version="zei test"))
    except DocoptExit:
        return "usage error"
    except SystemExit:
        return "exit"


@settings(max_examples=4000, deadline=None)
@given(st.lists(st.sampled_from(WORDS), max_size=7))
def test_wherever_parse_answers_it_is_docopts_answer(argv):
    got = usage.parse(argv)
    if got is not None:
        assert got == reference(argv), argv


@pytest.mark.parametrize("argv", [
    ["list"], ["list", "--json"], ["--socket", "/s", "list"], ["-c", "/etc/x.yaml", "check"],
    ["status"], ["status", "web"], ["status", "web", "--json"], ["start", "web"], ["stop", "web"],
    ["restart", "web"], ["signal", "web:HUP"], ["ready"], ["ready", "a", "b"], ["reload"],
    ["logs"], ["logs", "web", "-n", "5", "-f"], ["logs", "-t", "--since", "5m", "--json"],
    ["--socket=/s", "logs", "--lines=20", "a"], ["list", "--socket", "/s"], ["-cX", "list"],
    [], ["-c", "/x.yaml"], ["--", "true"], ["--", "sh", "-c", "exit 7"], ["-cX", "--", "a", "--", "-b"],
])
def test_everyday_command_lines_take_the_fast_path(argv):
    got = usage.parse(argv)
    assert got is not None, argv
    assert got == reference(argv)


@pytest.mark.parametrize("argv", [
    ["--help"], ["-h"], ["--version"], ["--"], ["list", "--", "x"], ["lst"], ["list", "extra"],
    ["start"], ["logs", "-ft"], ["--sock", "/s", "list"], ["list", "--json", "--json"],
    ["status", "-n", "3"], ["--json", "list"],
])
def test_the_rest_is_left_to_docopt(argv):
    assert usage.parse(argv) is None


VALUES = ["web", "a:b", "-x", "5", "", "=q", "--json", "list"]
OPTION_FORMS = {
    "--config": [["-c", "V"], ["-cV"], ["--config", "V"], ["--config=V"]],
    "--socket": [["--socket", "V"], ["--socket=V"]],
    "--json": [["--json"]], "--follow": [["-f"], ["--follow"]], "--time": [["-t"], ["--time"]],
    "--lines": [["-n", "V"], ["-nV"], ["--lines", "V"], ["--lines=V"]],
    "--since": [["--since", "V"], ["--since=V"]],
}


@st.composite
def command_lines(draw):
    """Well-formed shapes (a command, its options in any order and spelling, positionals),
    with a slip now and then: an option of another command, one word too many."""
    command = draw(st.sampled_from(sorted(usage.COMMANDS)))
    options = ["--config", "--socket"] + sorted(set(usage.COMMANDS[command][3].values()))
    if draw(st.integers(0, 9)) == 0:
        options.append(draw(st.sampled_from(sorted(OPTION_FORMS))))
    chosen = draw(st.lists(st.sampled_from(options), unique=True, max_size=len(options)))
    tokens = []
    for key in chosen:
        form = draw(st.sampled_from(OPTION_FORMS[key]))
        value = draw(st.sampled_from(VALUES))
        tokens.append([t.replace("V", value) if "V" in t else t for t in form])
    _, fewest, most, _ = usage.COMMANDS[command]
    count = draw(st.integers(fewest, (most if most is not None else 3) + 1))
    positionals = [[draw(st.sampled_from(["web", "db", "w:HUP", "list"]))] for _ in range(count)]
    parts = draw(st.permutations(tokens + positionals))
    argv = [command] + [t for part in parts for t in part]
    if draw(st.booleans()) and tokens:
        argv = tokens[0] + [command] + [t for part in parts if part is not tokens[0] for t in part]
    return argv


@settings(max_examples=3000, deadline=None)
@given(command_lines())
def test_well_formed_shapes_agree_with_docopt(argv):
    got = usage.parse(argv)
    if got is not None:
        assert got == reference(argv), argv
