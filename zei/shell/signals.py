"""Signals become bytes on a pipe the loop polls (signal.set_wakeup_fd); handlers do nothing.

Python's C-level handler writes each signal number to the wakeup fd; our Python handler is
a no-op (without one, CPython would not write SIGCHLD to the fd). Signals inherited as
ignored are reset to default, and the inherited mask is cleared, so services start clean.
"""
from __future__ import annotations

import fcntl
import os
import signal

import _signal

HANDLED = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP, signal.SIGUSR1,
           signal.SIGUSR2, signal.SIGCHLD)
KEEP_IGNORED = (signal.SIGPIPE, signal.SIGXFSZ)   # zei itself must not die writing to a closed pipe


_SIG_DFL = int(signal.SIG_DFL)


def _noop(signum, frame):
    pass


class SignalPipe:
    def __init__(self):
        self.rfd, self.wfd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        for sig in signal.valid_signals():
            if sig in (signal.SIGKILL, signal.SIGSTOP) or sig in KEEP_IGNORED or sig in HANDLED:
                continue
            try:
                if signal.getsignal(sig) == signal.SIG_IGN:
                    signal.signal(sig, signal.SIG_DFL)
            except (OSError, ValueError):
                pass
        for sig in HANDLED:
            signal.signal(sig, _noop)
        signal.set_wakeup_fd(self.wfd, warn_on_full_buffer=False)

    def drain(self):
        """Signal numbers received since the last call, in order."""
        out = []
        while True:
            try:
                data = os.read(self.rfd, 4096)
            except BlockingIOError:
                return out
            if not data:
                return out
            out.extend(data)


_CHILD_RESET = tuple(int(s) for s in HANDLED + KEEP_IGNORED)


def reset_in_child():
    """In a freshly forked child (all signals blocked): default dispositions, no wakeup fd.

    Only what zei changed needs resetting: every other signal is already at its default
    (SignalPipe reset inherited ignores at start-up). The C-level _signal functions are
    used because the child must touch as little of the parent's memory as it can: every
    page it writes is copied (the cost of a spawn is mostly these copies)."""
    _signal.set_wakeup_fd(-1)
    for sig in _CHILD_RESET:
        _signal.signal(sig, _SIG_DFL)


def set_nonblocking(fd):
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_NONBLOCK)
