# zei's command line. Its usage text is a plain constant, not the module docstring: the
# binary is built without docstrings (resident memory, docs/build.md), and docopt and
# `zei --help` need this text.
from __future__ import annotations

import os
import sys

from zei.core import jsontext, protocol   # the YAML side (zei.core.config) only when needed
from zei.render import fmt_duration, fmt_exit, render_line, render_list, render_status  # noqa: F401
from zei.shell import client

USAGE = """zei - an init system for containers: runs your services as PID 1.

Usage:
  zei [-c PATH] [--socket PATH]
  zei [-c PATH] [--socket PATH] -- COMMAND [ARG...]
  zei [-c PATH] [--socket PATH] list [--json]
  zei [-c PATH] [--socket PATH] status [SERVICE] [--json]
  zei [-c PATH] [--socket PATH] start SERVICE
  zei [-c PATH] [--socket PATH] stop SERVICE
  zei [-c PATH] [--socket PATH] restart SERVICE
  zei [-c PATH] [--socket PATH] signal SERVICE:SIGNAL
  zei [-c PATH] [--socket PATH] ready [NAME...]
  zei [-c PATH] [--socket PATH] reload
  zei [-c PATH] [--socket PATH] logs [NAME...] [-n N] [-f] [-t] [--since DURATION] [--json]
  zei [-c PATH] [--socket PATH] check
  zei -h | --help
  zei --version

Run with no command (the container's entrypoint), zei starts and supervises the services
of its config: as PID 1, or as a child subreaper anywhere else. With `-- COMMAND`, zei
runs COMMAND as the essential service `main` once the config's services are ready (with
no config file given and none at /etc/zei/zei.yaml: no other services), passes every
signal but TERM/INT/QUIT on to it, gives it the terminal, and exits with its code: a
drop-in for tini. Every command
below talks to a running daemon over its socket.

Commands:
  list              One row per service: state, health, pid, uptime, restarts, last exit.
  status [SERVICE]  Details of one service (or all), its health checks and readiness.
                    Exit 0 running, 3 not running, 4 unknown service, 1 other error.
  ready [NAME...]   Exit 0 when the named services (default: every long-running one)
                    are ready, else 1 naming the first that is not and why (1 too when
                    no daemon answers): for HEALTHCHECK and Kubernetes exec probes.
  logs [NAME...]    The last lines (-n, default 100) the named services (default: all, and
                    zei's own events as `zei`) wrote, merged in order, from the daemon's
                    buffer (the newest 10000 lines / 256 KiB per service). -f then prints
                    new lines as they come until Ctrl-C; a reader too slow loses lines
                    and is told how many.
  start SERVICE     Start a stopped service.
  stop SERVICE      Stop a service (its stop_signal, SIGTERM by default, then SIGKILL
                    after its stop_grace_period); it stays stopped until started.
  restart SERVICE   Stop the service gracefully and start it again.
  signal SVC:SIG    Send a signal (HUP, SIGHUP, 1, ...) to the service's process group.
  reload            Make the daemon re-read its config file: on any problem it changes
                    nothing and lists them all (exit 1); else changed services restart,
                    new ones start, removed ones stop, unchanged ones are left alone.
  check             Validate the config file and report every problem; exit 0 or 1
                    (warnings, such as a grace longer than docker stop waits, exit 0).

Options:
  -c PATH, --config PATH  Config file [default: /etc/zei/zei.yaml].
  --socket PATH           Control socket (default: $ZEI_SOCKET, else /run/zei/zei.sock;
                          without root: $XDG_RUNTIME_DIR/zei/zei.sock or /tmp/zei-UID/zei.sock).
  --json                  Machine-readable output (logs: one JSON object per line).
  -n N, --lines N         logs: how many lines, at most 10000 [default: 100].
  -f, --follow            logs: keep printing new lines.
  -t, --time              logs: start each line with its time (UTC).
  --since DURATION        logs: only lines of the last DURATION (30s, 5m, 1h).
  -h, --help              Show this help.
  --version               Show the version.

Exit codes: 0 success; 1 error (invalid config, daemon unreachable, request refused,
not ready); 2 bad usage; 3 service not running (status); 4 unknown service (status).
"""
__doc__ = USAGE

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_NOT_RUNNING, EXIT_UNKNOWN = 0, 1, 2, 3, 4
NO_COMMAND = "zei: no command; see: zei --help\n"
COMMANDS = ("list", "status", "start", "stop", "restart", "signal", "ready", "reload", "logs", "check")


def parse_signal(text):
    """'HUP', 'SIGHUP', 'hup', '1' -> 1. Raises ValueError listing the valid names."""
    import _signal

    from zei.render import signal_numbers
    numbers = signal_numbers()
    t = text.strip().upper()
    if t.isdigit():
        n = int(t)
        if 1 <= n <= _signal.SIGRTMAX:
            return n
    else:
        name = t[3:] if t.startswith("SIG") else t
        if name in numbers:
            return numbers[name]
    valid = ", ".join(sorted(numbers, key=numbers.get))
    raise ValueError(f"unknown signal {text!r}; use a name (with or without SIG) or a number: {valid}")


USAGE_ARITY = {"list": (0, 0), "status": (0, 1), "start": (1, 1), "stop": (1, 1),
               "restart": (1, 1), "signal": (1, 1), "ready": (0, 256), "reload": (0, 0), "logs": (0, 256),
               "check": (0, 0)}
OPTIONS_WITH_VALUE = ("-c", "--config", "--socket", "-n", "--lines", "--since")
FLAGS = ("--json", "-h", "--help", "--version", "-f", "--follow", "-t", "--time")


def usage_error(argv):
    """One line saying what is wrong with a command line docopt refused, then the usage."""
    words, i = [], 0
    reason = None
    while i < len(argv):
        arg = argv[i]
        if arg in OPTIONS_WITH_VALUE:
            if i + 1 >= len(argv):
                reason = f"option {arg} needs a value"
                break
            i += 2
            continue
        if arg.startswith("--") and "=" in arg and arg.split("=", 1)[0] in OPTIONS_WITH_VALUE:
            i += 1
            continue
        if arg.startswith("-") and arg != "-" and arg not in FLAGS and not (
                arg.startswith("-c") and len(arg) > 2):
            reason = f"unknown option {arg!r}"
            break
        if not arg.startswith("-"):
            words.append(arg)
        i += 1
    if reason is None and words:
        cmd, rest = words[0], words[1:]
        if cmd not in USAGE_ARITY:
            reason = f"unknown command {cmd!r}" + _did_you_mean(cmd)
        else:
            low, high = USAGE_ARITY[cmd]
            if len(rest) > high:
                reason = f"too many arguments for {cmd}: {' '.join(rest[high:])!r}"
            elif len(rest) < low:
                reason = f"{cmd} needs {'SERVICE:SIGNAL' if cmd == 'signal' else 'SERVICE'}"
    if reason is None:
        reason = "invalid command line"
    usage = USAGE.split("Usage:")[1].split("\n\n")[0].rstrip()
    return f"zei: {reason}\nUsage:{usage}\nSee: zei --help\n"


def _did_you_mean(word):
    import difflib                       # only when something is wrong
    close = difflib.get_close_matches(word, COMMANDS, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else f"; commands: {', '.join(COMMANDS)}"


def socket_path(args):
    """The socket the CLI talks to: --socket, ZEI_SOCKET, /run/zei/zei.sock, or the fallback
    a daemon without root uses (zei.shell.sockpath)."""
    from zei.shell import sockpath
    return sockpath.for_cli(args.get("--socket"), os.getuid(), os.environ)


def run(args, out=sys.stdout, err=sys.stderr):
    """Carry out a parsed CLI command (privileges already dropped). Returns the exit code."""
    path = args["--config"]
    if args["check"]:
        return cmd_check(path, out, err)
    sock = socket_path(args)
    name = args["SERVICE"]
    if args["signal"]:
        target = args["SERVICE:SIGNAL"]
        name, sep, sig_text = target.rpartition(":")
        if not sep or not name or not sig_text:
            err.write(f"zei: expected SERVICE:SIGNAL, e.g. web:HUP (got {target!r})\n")
            return EXIT_USAGE
        try:
            signum = parse_signal(sig_text)
        except ValueError as e:
            err.write(f"zei: {e}\n")
            return EXIT_USAGE
        return cmd_action(sock, {"cmd": "signal", "service": name, "signal": signum}, out, err)
    if args["ready"]:
        return cmd_ready(sock, args["NAME"], out, err)
    if args["reload"]:
        return cmd_action(sock, {"cmd": "reload"}, out, err)
    if args["logs"]:
        return cmd_logs(sock, args, out, err)
    for verb in ("start", "stop", "restart"):
        if args[verb]:
            return cmd_action(sock, {"cmd": verb, "service": name}, out, err)
    status = bool(args["status"])
    return cmd_show(sock, path, name if status else None, status, args["--json"], out, err)


def load_config(path, confinement=None):
    """Read and validate a config file. Raises ConfigError (every problem) or OSError.
    `confinement` (zei without privileges): users other than zei's own are problems."""
    from zei.core import config
    from zei.shell import envread, users
    with open(path, "rb") as f:
        text = f.read().decode("utf-8", "replace")
    return config.parse(text, path, users.lookup_user, users.lookup_group, confinement,
                        read_file=envread.read_file)


def cmd_check(path, out, err):
    """Validate as the daemon would: started like this CLI was (suid root or not, with or
    without no-new-privileges and capabilities), could it run every service's user?"""
    from zei.core import config as config_mod
    from zei.shell import privileges
    try:
        cfg = load_config(path, privileges.check_confinement())
    except config_mod.ConfigError as e:
        for p in e.problems:
            err.write(f"{p}\n")
        err.write(f"zei: {len(e.problems)} problem(s) in {path}\n")
        return EXIT_ERROR
    except OSError as e:
        err.write(f"zei: cannot read {path}: {e.strerror}\n")
        return EXIT_ERROR
    out.write(f"{path}: ok, {len(cfg.services)} service(s): {', '.join(s.name for s in cfg.services)}\n")
    for line in config_mod.warnings(cfg):        # worth knowing, but not errors: still exit 0
        err.write(f"{line}\n")
    return EXIT_OK


def refused(reply, err):
    """Say why the daemon refused a request; the exit code for it (4: unknown service)."""
    err.write(f"zei: {reply.get('error', 'request refused')}\n")
    return EXIT_UNKNOWN if reply.get("code") == "unknown-service" else EXIT_ERROR


def cmd_action(sock, payload, out, err):
    timeout = 10.0 if payload["cmd"] == "signal" else 600.0
    try:
        reply = client.request(sock, payload, timeout)
    except client.NoDaemon as e:
        err.write(f"zei: {payload['cmd']} needs the running daemon: {e}\n")
        return EXIT_ERROR
    except protocol.ProtocolError as e:
        err.write(f"zei: {e}\n")
        return EXIT_ERROR
    if not reply.get("ok"):
        if isinstance(reply.get("problems"), list):      # a reload's invalid config: as `zei check`
            err.write("".join(f"{p}\n" for p in reply["problems"]))
            err.write(f"zei: {(reply.get('error') or 'invalid config').splitlines()[-1]}\n")
            return EXIT_ERROR
        return refused(reply, err)
    if isinstance(reply.get("changes"), list):           # reload: one line per change
        out.write("reloaded: " + ("no changes" if not reply["changes"] else f"{len(reply['changes'])} change(s)") + "\n")
        out.write("".join(f"  {line}\n" for line in reply["changes"]))
        return EXIT_OK
    out.write(f"{reply.get('message', 'ok')}\n")
    return EXIT_OK


def logs_request(args):
    """The `logs` request for parsed CLI args; raises ValueError with a usage message."""
    try:
        n = int(args["--lines"])
    except (TypeError, ValueError):
        raise ValueError(f"-n needs a whole number (got {args['--lines']!r})") from None
    if not 0 <= n <= protocol.MAX_LOG_LINES:
        raise ValueError(f"-n must be 0-{protocol.MAX_LOG_LINES}")
    since = None
    if args.get("--since") is not None:
        from zei.core.fields import parse_duration     # the config's rules (and PyYAML): only here
        try:
            since = parse_duration(args["--since"])
        except ValueError as e:
            raise ValueError(f"--since {args['--since']!r}: {e}") from None
    return {"cmd": "logs", "services": list(args["NAME"]), "lines": n, "since": since,
            "follow": bool(args["--follow"])}


def cmd_logs(sock, args, out, err):
    """`zei logs`: the tail, then with -f the new lines until Ctrl-C or the daemon exits
    (both exit 0). --json: one object per line; -t: the time first."""
    try:
        payload = logs_request(args)
    except ValueError as e:
        err.write(f"zei: {e}\n")
        return EXIT_USAGE
    as_json, with_time = args["--json"], args["--time"]

    def show(obj):
        out.write(jsontext.dumps(obj) + "\n" if as_json else render_line(obj, with_time))

    if payload["follow"]:
        # Ctrl-C ends a follower even when it was started with SIGINT ignored (a background
        # job of a non-interactive shell, nohup): Python would then keep it ignored.
        import _signal
        _signal.signal(_signal.SIGINT, _signal.default_int_handler)
    frames = client.stream(sock, payload, 10.0)
    try:
        reply = next(frames)
        if not reply.get("ok"):
            return refused(reply, err)
        if reply.get("dropped"):
            err.write(f"zei: {reply['dropped']} older line(s) left out: the reply is limited "
                      f"to {protocol.MAX_REPLY // 1024} KiB\n")
        for obj in reply.get("lines", ()):
            show(obj)
        out.flush()
        if not payload["follow"]:
            return EXIT_OK
        for obj in frames:
            if "ok" in obj and "source" not in obj:
                continue                     # a reply to something else: not a line
            show(obj)
            out.flush()
        err.write("zei: the daemon closed the connection (zei shut down)\n")
        return EXIT_OK
    except KeyboardInterrupt:
        return EXIT_OK
    except BrokenPipeError:                  # `zei logs -f | head`
        return EXIT_OK
    except client.NoDaemon as e:
        err.write(f"zei: logs needs the running daemon: {e}\n")
        return EXIT_ERROR
    except protocol.ProtocolError as e:
        err.write(f"zei: {e}\n")
        return EXIT_ERROR
    finally:
        frames.close()


def cmd_ready(sock, names, out, err):
    """`zei ready`: 0 ready, 1 not (or no daemon), with one line saying why."""
    try:
        reply = client.request(sock, {"cmd": "ready", "services": list(names)}, 10.0)
    except client.NoDaemon as e:
        err.write(f"zei: not ready: no daemon answers ({e})\n")
        return EXIT_ERROR
    except protocol.ProtocolError as e:
        err.write(f"zei: not ready: {e}\n")
        return EXIT_ERROR
    if not reply.get("ok"):
        return refused(reply, err)
    if reply.get("ready"):
        out.write(f"ready: {reply.get('why', '')}\n")
        return EXIT_OK
    err.write(f"not ready: {reply.get('why', '')}\n")
    return EXIT_ERROR


def cmd_show(sock, path, name, status, as_json, out, err):
    payload = {"cmd": "status" if status else "list"}
    if name:
        payload["service"] = name
    try:
        reply = client.request(sock, payload, 10.0)
    except client.NoDaemon as e:
        return show_from_config(path, name, status, as_json, str(e), out, err)
    except protocol.ProtocolError as e:
        err.write(f"zei: {e}\n")
        return EXIT_ERROR
    if not reply.get("ok"):
        return refused(reply, err)
    services = reply["services"]
    stopping = reply.get("shutting_down") and (reply.get("shutdown_reason") or "shutting down")
    if as_json:
        import json                      # indented, for people: the json package's layout
        out.write(json.dumps({"daemon": True, "shutting_down": bool(reply.get("shutting_down")),
                              "shutdown_reason": reply.get("shutdown_reason") or None,
                              "services": services}, indent=2) + "\n")
    else:
        if stopping:
            out.write(f"zei is stopping: {stopping}\n")
        out.write(render_status(services) if status else render_list(services))
    if status:
        return EXIT_OK if all(s["state"] in ("running", "stopping") for s in services) else EXIT_NOT_RUNNING
    return EXIT_OK


def show_from_config(path, name, status, as_json, why, out, err):
    from zei.core import config as config_mod, service as service_mod
    head = "cannot reach the daemon" if why.startswith("permission denied") else "daemon not running"
    try:
        cfg = load_config(path)
    except config_mod.ConfigError as e:
        err.write(f"zei: {head} ({why}), and the config is invalid:\n{e}\n")
        return EXIT_ERROR
    except OSError as e:
        err.write(f"zei: {head} ({why}), and cannot read {path}: {e.strerror}\n")
        return EXIT_ERROR
    specs = cfg.services
    if name:
        spec = cfg.service(name)
        if spec is None:
            err.write(f"zei: unknown service {name!r} in {path}\n")
            return EXIT_UNKNOWN
        specs = (spec,)
    rows = [{"name": s.name, "state": "unknown", "pid": None, "uptime": None, "restarts": None,
             "last_exit": None, "command": list(s.command), "user": s.user, "group": s.group,
             "restart": s.restart, "max_restarts": s.max_restarts, "oneshot": s.oneshot,
             "interval": s.interval, "depends_on": list(s.depends_on),
             "env_files": service_mod.env_files(s), "reason": head} for s in specs]
    if as_json:
        import json
        out.write(json.dumps({"daemon": False, "config": path, "services": rows}, indent=2) + "\n")
    else:
        err.write(f"zei: {head} ({why}); showing {path}\n")
        out.write(render_status(rows) if status else render_list(rows))
    return EXIT_NOT_RUNNING if status else EXIT_OK
