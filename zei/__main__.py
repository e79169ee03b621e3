"""Entry point of the zei binary.

With no command (or with `-- COMMAND`), zei is the daemon (zei.shell.daemon): as PID 1, or
anywhere else as a child subreaper (zei.shell.subreaper). Every other invocation is the CLI
(zei.cli), and the CLI first drops to the caller's real uid/gid with no supplementary
groups — before it parses anything, reads a config, touches the socket or prints — so the
suid bit gives a CLI caller nothing.

Not PID 1 and started through the suid bit, the daemon keeps root only for a config that
only root can change (zei.shell.trust): PID 1 is the container's own entrypoint, but any
user who can run the binary can start a second daemon, and must not thereby run a
service as root. With any other config it drops to the caller first, as the CLI does.
"""
from __future__ import annotations

import os
import sys

# Variables that could change how zei or its services load code, scrubbed when zei runs
# through the suid bit (glibc's own list for secure-mode programs, plus interpreters').
UNSAFE_PREFIXES = ("PYTHON", "LD_", "NUITKA_", "MALLOC_", "GLIBC_TUNABLES")
DEFAULT_CONFIG = "/etc/zei/zei.yaml"
UNSAFE_NAMES = {"GCONV_PATH", "GETCONF_DIR", "HOSTALIASES", "LOCALDOMAIN", "LOCPATH",
                "NIS_PATH", "NLSPATH", "RESOLV_HOST_CONF", "RES_OPTIONS", "TMPDIR", "TZDIR",
                "PERL5LIB", "PERL5OPT", "RUBYLIB", "RUBYOPT", "NODE_OPTIONS", "BASH_ENV", "ENV"}


def is_setuid():
    ruid, euid, _ = os.getresuid()
    rgid, egid, _ = os.getresgid()
    return ruid != euid or rgid != egid


def scrub_environment(environ):
    for key in list(environ):
        if key.startswith(UNSAFE_PREFIXES) or key in UNSAFE_NAMES:
            del environ[key]


OPTIONS_WITH_VALUE = ("-c", "--config", "--socket")


def daemon_form(argv):
    """(True if argv asks for the daemon, the config path it names or None). The daemon
    form has no command word: nothing but options, or options then `--` COMMAND."""
    config, i = None, 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            return True, config
        if arg in OPTIONS_WITH_VALUE:
            if i + 1 >= len(argv):
                return False, config          # the CLI's usage error says what is missing
            if arg != "--socket":
                config = argv[i + 1]
            i += 2
            continue
        if arg.startswith("--config=") or arg.startswith("--socket="):
            config = arg.split("=", 1)[1] if arg.startswith("--config=") else config
        elif arg.startswith("-c") and len(arg) > 2:
            config = arg[2:]
        else:
            return False, config              # a command, --help, or something to refuse
        i += 1
    return True, config


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    from zei.shell import privileges
    subreaper = untrusted = None
    if os.getpid() != 1:
        daemon, config = daemon_form(argv)
        if not daemon:
            privileges.drop_to_caller()
            return command_line(argv)
        from zei.shell import subreaper as subreaper_mod, trust
        subreaper = subreaper_mod.become()
        if is_setuid():
            untrusted = trust.untrusted(config or DEFAULT_CONFIG)
            if untrusted:
                privileges.drop_to_caller()
    # Arguments and config are parsed in a throwaway child (zei.prelude), so the daemon
    # never holds docopt or PyYAML in memory.
    from zei import prelude
    try:
        priv, priv_error = privileges.Privileges(), None
    except (LookupError, OSError, privileges.PrivilegeError) as e:
        priv, priv_error = None, str(e)
    outcome = prelude.start(argv, priv, priv_error)
    if priv is not None:      # the daemon comes next (unless PID 1 was given a CLI command):
        from zei.shell import daemon   # noqa: F401  import it while the child parses
    start = outcome()
    if start["mode"] == "exit":
        return start["code"]
    if start["mode"] == "error":
        sys.stderr.write(f"zei: cannot start: {start['error']}\n")
        return 1
    if start["mode"] == "cli":
        privileges.drop_to_caller()
        return command_line(argv)
    if is_setuid():
        scrub_environment(os.environ)
    os.umask(0o022)
    os.chdir("/")
    start["subreaper"] = subreaper
    start["untrusted"] = untrusted
    from zei.shell import daemon
    return daemon.main(start, priv, prelude.reread)


def command_line(argv):
    """Every path but the daemon: privileges are already dropped to the caller."""
    from zei import cli, usage
    try:
        args = usage.parse_args(argv)
    except usage.UsageError:
        sys.stderr.write(cli.usage_error(argv))
        return cli.EXIT_USAGE
    if any(args[c] for c in cli.COMMANDS):
        return cli.run(args)
    sys.stderr.write(cli.NO_COMMAND)
    return cli.EXIT_USAGE


def _exit(code):
    """Exit without the interpreter's teardown (freeing every module and object one by one:
    milliseconds a CLI call or `zei -- true` would spend for nothing); zei has nothing left
    to close by then but its buffered output."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        sys.exit(code)                 # the usual path reports a broken stdout as Python does
    os._exit(code if isinstance(code, int) else 0 if code is None else 1)


if __name__ == "__main__":
    _exit(main())
