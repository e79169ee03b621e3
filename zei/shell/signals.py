"""Signals become bytes on a pipe the loop polls (signal.set_wakeup_fd); handlers do nothing.

Python's C-level handler writes each signal number to the wakeup fd; our Python handler is
a no-op (without one, CPython would not write SIGCHLD to the fd). Signals inherited as
ignored are reset to default, and the inherited mask is cleared, so services start clean.
zei ignores SIGTTIN/SIGTTOU (a terminal must not stop it). In command mode (`zei -- CMD`)
every other catchable signal is handled too, to be passed on to CMD as tini does — all but
the ones the kernel raises for a fault (SEGV, BUS, FPE, ILL, TRAP, SYS, ABRT). Whatever zei
changed, reset_in_child() puts back to the default in a service before it execs.
"""
from __future__ import annotations

import fcntl
import os
import signal

import _signal

HANDLED = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP, signal.SIGUSR1,
           signal.SIGUSR2, signal.SIGCHLD)
KEEP_IGNORED = (signal.SIGPIPE, signal.SIGXFSZ,   # zei itself must not die writing to a closed pipe
                signal.SIGTTIN, signal.SIGTTOU)  # nor stop for touching its terminal
FAULTS = (signal.SIGSEGV, signal.SIGBUS, signal.SIGFPE, signal.SIGILL, signal.SIGTRAP,
          signal.SIGSYS, signal.SIGABRT)


_SIG_DFL = int(signal.SIG_DFL)


def _noop(signum, frame):
    pass


class SignalPipe:
    def __init__(self, forward_all=False):
        global _CHILD_RESET
        self.rfd, self.wfd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        handled = set(HANDLED)
        if forward_all:
            handled |= {s for s in signal.valid_signals() if s not in (signal.SIGKILL, signal.SIGSTOP)
                        and s not in KEEP_IGNORED and s not in FAULTS and s not in (32, 33)}
        for sig in signal.valid_signals():
            if sig in (signal.SIGKILL, signal.SIGSTOP) or sig in KEEP_IGNORED or sig in handled:
                continue
            try:
                if signal.getsignal(sig) == signal.SIG_IGN:
                    signal.signal(sig, signal.SIG_DFL)
            except (OSError, ValueError):
                pass
        for sig in KEEP_IGNORED:
            signal.signal(sig, signal.SIG_IGN)
        for sig in handled:
            try:
                signal.signal(sig, _noop)
            except (OSError, ValueError):       # glibc's reserved real-time signals
                pass
        _CHILD_RESET = tuple(int(s) for s in handled | set(KEEP_IGNORED))
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
