"""PID 1's start-up parsing, done in a short-lived child so the daemon never loads it.

The command line (zei.usage, docopt for anything unusual) and the config (PyYAML) are
parsed once, at start-up, and both parsers stay in memory for good once imported: about
4 MB of a daemon that otherwise needs little. So PID 1 forks a child that parses the
arguments and — for the daemon form — reads and validates the config as the app
identity, then sends the outcome back as one JSON document over a pipe and exits.
Meanwhile PID 1 imports the daemon (start() returns at once, its result waits); then it
rebuilds the config records (zei.core.model.from_json) and starts supervising; it has
imported neither parser.

Outcomes: {"mode": "exit", "code": N} (help, version or a usage error, already printed),
{"mode": "cli"} (a command: PID 1 is just the CLI), {"mode": "daemon", "config_path",
"socket" (the socket paths to try, in order: zei.shell.sockpath.for_daemon), and one of
"config" | "problems" | "unreadable" | "privileges"}. Without privileges the config check
is told so (Privileges.confinement): a service user zei cannot become is a problem.

reread() is `zei reload`'s version of the daemon form, run in a child the daemon forks.

The one waitpid outside zei.shell.reaper is here: the child is PID 1's only child at that point.
"""
from __future__ import annotations

import os
import sys

from zei.core import jsontext


def start(argv, priv, priv_error=None):
    """Fork the parsing child; returns a function that waits for its outcome. In between
    PID 1 can import what the daemon needs (two cores: both at once)."""
    rfd, wfd = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        try:
            msg = _parse(argv, priv, priv_error)
        except SystemExit as e:                       # docopt printed --help / --version
            msg = {"mode": "exit", "code": e.code if isinstance(e.code, int) else 0}
        except BaseException as e:                    # never let the child fall back into main
            msg = {"mode": "error", "error": f"{type(e).__name__}: {e}"}
        try:
            sys.stdout.flush()
            sys.stderr.flush()
            data = memoryview(jsontext.dumps(msg).encode())
            while data:
                data = data[os.write(wfd, data):]
        finally:
            os._exit(0)
    os.close(wfd)
    return lambda: _outcome(pid, rfd)


def _outcome(pid, rfd):
    chunks = []
    while True:
        chunk = os.read(rfd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(rfd)
    os.waitpid(pid, 0)
    try:
        return jsontext.loads(b"".join(chunks))
    except ValueError:
        return {"mode": "error", "error": "the start-up child died without an answer"}


def _parse(argv, priv, priv_error):
    from zei import usage
    try:
        args = usage.parse_args(argv)
    except usage.UsageError:
        from zei import cli
        sys.stderr.write(cli.usage_error(argv))
        return {"mode": "exit", "code": cli.EXIT_USAGE}
    if any(args[c] for c in usage.COMMANDS):
        return {"mode": "cli"}
    from zei.shell import sockpath
    msg = {"mode": "daemon", "config_path": os.path.abspath(args["--config"]),
           "socket": sockpath.for_daemon(args["--socket"], priv is None or priv.root,
                                         priv and priv.own[0], os.environ)}
    if priv is None:
        msg["privileges"] = priv_error
        return msg
    command = [args["COMMAND"]] + args["ARG"] if args["--"] else None
    from zei.core import model
    try:
        with priv.as_app():
            if command is not None and not _names_config(argv) and not os.path.exists(msg["config_path"]):
                cfg = model.Config(path="(no config)", services=())   # zei -- CMD: tini's job only
                msg["config_path"] = cfg.path
            else:
                cfg = _read_config(msg["config_path"], priv)    # PyYAML only for a file
        if command is not None:
            who = (str(priv.app_uid), str(priv.app_gid)) if priv.cycling else (None, None)
            cfg = model.with_command(cfg, command, *who)     # CMD runs as the container's USER
        msg["config"] = model.to_json(cfg)
    except model.ConfigError as e:                # PyYAML's module (zei.core.config) raises it too
        msg["problems"] = [str(p) for p in e.problems]
    except OSError as e:
        msg["unreadable"] = e.strerror or str(e)
    return msg


def _read_config(path, priv):
    """The validated config at path (zei.core.config, PyYAML: imported only here)."""
    from zei import cli
    return cli.load_config(path, priv.confinement)


def _names_config(argv):
    """Whether the command line gives a config file (before `--`)."""
    for arg in argv[:argv.index("--")] if "--" in argv else argv:
        if arg in ("-c", "--config") or arg.startswith("--config=") or \
                (arg.startswith("-c") and not arg.startswith("--")):
            return True
    return False


def reread(path, priv, current):
    """`zei reload`, in the daemon's reading child (zei.shell.reloader): the config at
    `path`, validated as the app identity as at start-up, as JSON-ready data; in command
    mode with the running `main`'s COMMAND again. Same outcomes as start()'s daemon form."""
    from zei import cli
    from zei.core import config, model
    try:
        with priv.as_app():
            cfg = cli.load_config(path, priv.confinement)
        if current.command:
            main = current.service(model.MAIN)
            cfg = model.with_command(cfg, main.command, main.user, main.group)
        return {"config": model.to_json(cfg)}
    except config.ConfigError as e:
        return {"problems": [str(p) for p in e.problems]}
    except OSError as e:
        return {"unreadable": e.strerror or str(e)}
