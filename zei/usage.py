"""The CLI's usual command lines, read without docopt; docopt (zei.cli's usage) decides the rest.

docopt parses the usage text on every call, and importing it brings `re`, `typing` and
`enum`: together most of a `zei list` round trip in the frozen binary. Yet nearly every
call is one of a few plain shapes: `zei [-c PATH] [--socket PATH] COMMAND [ARGS]` with the
command's own options spelled out in full, and the daemon's `zei [-c PATH] [-- CMD ARG...]`. parse() reads exactly those shapes and returns
the very dict docopt would; anything else (help, abbreviations such as `--sock`, stacked
short options such as `-ft`, a repeated option, `--`, a word too many or too few, an unknown
command) returns None, and the caller hands the command line to docopt, which accepts it
or prints the usage error. tests/unit/test_usage.py checks parse() against docopt on
generated command lines: wherever parse() answers, it answers what docopt does.
"""
from __future__ import annotations

DEFAULTS = {
    "--config": "/etc/zei/zei.yaml", "--socket": None, "--": False, "COMMAND": None, "ARG": [],
    "list": False, "--json": False, "status": False, "SERVICE": None, "start": False,
    "stop": False, "restart": False, "signal": False, "SERVICE:SIGNAL": None, "ready": False,
    "NAME": [], "reload": False, "logs": False, "--lines": "100", "--follow": False,
    "--time": False, "--since": None, "check": False, "--help": False, "--version": False,
}
GLOBAL = {"-c": "--config", "--config": "--config", "--socket": "--socket"}
# command: (positional key, fewest, most, its own options: spelling -> key)
COMMANDS = {
    "list": (None, 0, 0, {"--json": "--json"}),
    "status": ("SERVICE", 0, 1, {"--json": "--json"}),
    "start": ("SERVICE", 1, 1, {}),
    "stop": ("SERVICE", 1, 1, {}),
    "restart": ("SERVICE", 1, 1, {}),
    "signal": ("SERVICE:SIGNAL", 1, 1, {}),
    "ready": ("NAME", 0, None, {}),
    "reload": (None, 0, 0, {}),
    "logs": ("NAME", 0, None, {"--json": "--json", "-n": "--lines", "--lines": "--lines",
                               "-f": "--follow", "--follow": "--follow", "-t": "--time",
                               "--time": "--time", "--since": "--since"}),
    "check": (None, 0, 0, {}),
}
VALUED = frozenset(("--config", "--socket", "--lines", "--since"))


class UsageError(Exception):
    """docopt refused the command line (zei.cli.usage_error says why)."""


def parse_args(argv):
    """docopt's dict for argv: parse() for the everyday shapes, else docopt itself, which
    prints the help or the version and exits (SystemExit), or refuses (UsageError)."""
    from zei import __version__
    args = parse(argv)
    if args is not None:
        return args
    if argv == ["--version"]:
        import sys
        sys.stdout.write(f"zei {__version__}\n")
        raise SystemExit(0)
    from docopt import DocoptExit, docopt

    from zei import cli
    try:
        return docopt(cli.USAGE, argv, version=f"zei {__version__}")
    except DocoptExit:
        raise UsageError from None


def parse(argv):
    """docopt's dict for argv, or None when docopt must decide."""
    words, found = [], {}
    spellings = GLOBAL
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if not arg.startswith("-") or arg == "-":
            words.append(arg)
            if len(words) == 1:
                if arg not in COMMANDS:
                    return None
                spellings = {**GLOBAL, **COMMANDS[arg][3]}
            continue
        if arg == "--":
            if words or i >= len(argv):
                return None
            return dict(DEFAULTS, **found, **{"--": True, "COMMAND": argv[i], "ARG": argv[i + 1:],
                                              "NAME": []})
        spelling, value = arg, None
        if arg.startswith("--") and "=" in arg:
            spelling, value = arg.split("=", 1)
        elif not arg.startswith("--") and len(arg) > 2:
            spelling, value = arg[:2], arg[2:]            # -cPATH, -n5
        key = spellings.get(spelling)
        if key is None or key in found or (value is not None and key not in VALUED):
            return None                                   # unknown here, repeated, or -ft / --json=x
        if key in VALUED and value is None:
            if i >= len(argv) or argv[i] == "--":
                return None
            value = argv[i]
            i += 1
        found[key] = value if key in VALUED else True
    if not words:
        return dict(DEFAULTS, **found, ARG=[], NAME=[])      # the daemon form: `zei [-c PATH]`
    command, rest = words[0], words[1:]
    positional, fewest, most, _ = COMMANDS[command]
    if len(rest) < fewest or (most is not None and len(rest) > most):
        return None
    args = dict(DEFAULTS, **found)
    args["ARG"], args["NAME"] = [], []
    args[command] = True
    if positional == "NAME":
        args["NAME"] = rest
    elif positional is not None and rest:
        args[positional] = rest[0]
    return args
