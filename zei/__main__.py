"""Entry point of the zei binary.

Run as PID 1 with no command, zei is the daemon (zei.shell.daemon). Every other invocation is the
CLI (zei.cli), and the CLI first drops to the caller's real uid/gid with no supplementary
groups — before it parses anything, reads a config, touches the socket or prints — so the
suid bit gives a CLI caller nothing.
"""
from __future__ import annotations

import os
import sys

# Variables that could change how zei or its services load code, scrubbed when zei runs
# through the suid bit (glibc's own list for secure-mode programs, plus interpreters').
UNSAFE_PREFIXES = ("PYTHON", "LD_", "NUITKA_", "MALLOC_", "GLIBC_TUNABLES")
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


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    from zei.shell import privileges
    if os.getpid() != 1:
        privileges.drop_to_caller()
        return command_line(argv)
    # PID 1: arguments and config are parsed in a throwaway child (zei.prelude), so the
    # daemon never holds docopt or PyYAML in memory.
    from zei import prelude
    try:
        priv, priv_error = privileges.Privileges(), None
    except (LookupError, OSError, privileges.PrivilegeError) as e:
        priv, priv_error = None, str(e)
    start = prelude.run(argv, priv, priv_error)
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
    from zei.shell import daemon
    return daemon.main(start, priv)


def command_line(argv):
    """Every path but the daemon: privileges are already dropped to the caller."""
    from docopt import DocoptExit, docopt

    from zei import __version__, cli
    try:
        args = docopt(cli.__doc__, argv, version=f"zei {__version__}")
    except DocoptExit:
        sys.stderr.write(cli.usage_error(argv))
        return cli.EXIT_USAGE
    if any(args[c] for c in cli.COMMANDS):
        return cli.run(args)
    sys.stderr.write(cli.NOT_PID1.format(pid=os.getpid()))
    return cli.EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
