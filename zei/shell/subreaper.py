"""Becoming a child subreaper when zei is not PID 1 (PR_SET_CHILD_SUBREAPER, Linux 3.4).

Orphans of a subreaper's descendants are reparented to it instead of to PID 1, so zei reaps
them and sees them at shutdown, wherever it runs: under tini or catatonit (`docker run
--init`, compose `init: true`), under Kubernetes' pause with `shareProcessNamespace`, or
under a platform's launcher. The attribute is not inherited by children.

The standard library has no prctl(). The frozen binary makes the call in its C start-up
guard (build/zei_env_guard.c), before Python starts, and leaves the outcome in the
environment variable __ZEI_SUBREAPER ("1", or the error); the source tree makes the call
through ctypes — the one use of ctypes in zei's runtime.
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
