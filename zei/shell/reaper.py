"""The only caller of waitpid: collect every exited child, services and orphans alike.

SIGCHLD coalesces, so the rule is to reap on every loop wakeup until waitpid says there is
nothing more: `waitpid(-1, WNOHANG)` returns (0, 0) while children still run, and raises
ChildProcessError (ECHILD) when none is left at all — which tells shutdown it is done.
"""
from __future__ import annotations

import os


def reap():
    """Returns ([(pid, code, signal)], none_left). Exactly one of code/signal is set."""
    exits = []
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return exits, True
        if pid == 0:
            return exits, False
        if os.WIFSIGNALED(status):
            exits.append((pid, None, os.WTERMSIG(status)))
        elif os.WIFEXITED(status):
            exits.append((pid, os.WEXITSTATUS(status), None))
