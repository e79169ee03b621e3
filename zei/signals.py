"""Signals become bytes on a pipe the loop polls (signal.set_wakeup_fd); handlers do nothing.

Python's C-level handler writes each signal number to the wakeup fd; our Python handler is
a no-op (without one, CPython would not write SIGCHLD to the fd). Signals inherited as
ignored are reset to default, and the inherited mask is cleared, so services start clean.
"""
from __future__ import annotations

import fcntl
import os
import signal

HANDLED = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP, signal.SIGUSR1,
           signal.SIGUSR2, signal.SIGCHLD)
KEEP_IGNORED = (signal.SIGPIPE, signal.SIGXFSZ)   # zei itself must not die writing to a closed pipe


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


def reset_in_child():
    """In a freshly forked child: default dispositions, no wakeup fd (mask cleared by caller)."""
    signal.set_wakeup_fd(-1)
    for sig in signal.valid_signals():
        if sig in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            signal.signal(sig, signal.SIG_DFL)
        except (OSError, ValueError):
            pass


def set_nonblocking(fd):
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_NONBLOCK)
