"""Becoming a child subreaper when zei is not PID 1 (PR_SET_CHILD_SUBREAPER, Linux 3.4).

Orphans of a subreaper's descendants are reparented to it instead of to PID 1, so zei reaps
them and sees them at shutdown, wherever it runs: under tini or catatonit (`docker run
--init`, compose `init: true`), under Kubernetes' pause with `shareProcessNamespace`, or
under a platform's launcher. The attribute is not inherited by children.

The standard library has no prctl(). The frozen binary makes the call in its C start-up
guard (build/zei_env_guard.c), before Python starts, and leaves the outcome in the
environment variable __ZEI_SUBREAPER ("1", or the error); the source tree makes the call
through ctypes — the one use of ctypes in zei's runtime.

watch_parent() is the other half of not being PID 1: a polled pidfd of zei's parent, so
that zei shuts down gracefully when a launcher that does not wait for it dies.
"""
from __future__ import annotations

import os

PR_SET_CHILD_SUBREAPER = 36


def become():
    """True once zei is a subreaper, else the reason it is not (a string)."""
    mark = os.environ.pop("__ZEI_SUBREAPER", None)
    if mark is not None:
        return True if mark == "1" else f"prctl(PR_SET_CHILD_SUBREAPER): {mark}"
    if "__compiled__" in globals():                # a frozen binary whose guard did not run
        return "the start-up guard did not run"
    import ctypes                                  # the source tree only
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        return f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(ctypes.get_errno())}"
    return True


def watch_parent(poller, events):
    """A pidfd of zei's parent, polled: readable once it has exited (tini -p's job). None
    when the parent is outside zei's PID namespace (getppid() is 0) or already gone."""
    ppid = os.getppid()
    if ppid <= 1:
        return None
    try:
        fd = os.pidfd_open(ppid)
    except OSError:
        return None
    if os.getppid() != ppid:                 # it died before the pidfd was open
        os.close(fd)
        return None
    os.set_inheritable(fd, False)
    poller.register(fd, events)
    return fd
