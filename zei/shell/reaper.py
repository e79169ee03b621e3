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


def descendants(root=None):
    """Every living descendant of `root` (default: zei), from the kernel's per-thread
    `children` lists in /proc. What zei signals for "everything" when it is not PID 1: as
    a child subreaper, orphans of its services are its children, and kill(-1) would reach
    every process the user can signal outside zei's tree."""
    root = os.getpid() if root is None else root
    seen, todo = set(), [root]
    while todo:
        pid = todo.pop()
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                    kids = f.read().split()
            except OSError:
                continue
            for kid in map(int, kids):
                if kid not in seen and kid != root:
                    seen.add(kid)
                    todo.append(kid)
    return sorted(seen)
