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

import _signal
import fcntl
import os

HANDLED = (_signal.SIGTERM, _signal.SIGINT, _signal.SIGQUIT, _signal.SIGHUP, _signal.SIGUSR1,
           _signal.SIGUSR2, _signal.SIGCHLD)
KEEP_IGNORED = (_signal.SIGPIPE, _signal.SIGXFSZ,   # zei itself must not die writing to a closed pipe
                _signal.SIGTTIN, _signal.SIGTTOU)  # nor stop for touching its terminal
FAULTS = (_signal.SIGSEGV, _signal.SIGBUS, _signal.SIGFPE, _signal.SIGILL, _signal.SIGTRAP,
          _signal.SIGSYS, _signal.SIGABRT)


_SIG_DFL = int(_signal.SIG_DFL)


def _noop(signum, frame):
    pass


class SignalPipe:
    def __init__(self, forward_all=False):
        global _CHILD_RESET
        self.rfd, self.wfd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        _signal.pthread_sigmask(_signal.SIG_SETMASK, [])
        handled = set(HANDLED)
        if forward_all:
            handled |= {s for s in _signal.valid_signals() if s not in (_signal.SIGKILL, _signal.SIGSTOP)
                        and s not in KEEP_IGNORED and s not in FAULTS and s not in (32, 33)}
        for sig in _signal.valid_signals():
            if sig in (_signal.SIGKILL, _signal.SIGSTOP) or sig in KEEP_IGNORED or sig in handled:
                continue
            try:
                if _signal.getsignal(sig) == _signal.SIG_IGN:
                    _signal.signal(sig, _signal.SIG_DFL)
            except (OSError, ValueError):
                pass
        for sig in KEEP_IGNORED:
            _signal.signal(sig, _signal.SIG_IGN)
        for sig in handled:
            try:
                _signal.signal(sig, _noop)
            except (OSError, ValueError):       # glibc's reserved real-time signals
                pass
        _CHILD_RESET = tuple(int(s) for s in handled | set(KEEP_IGNORED))
        _signal.set_wakeup_fd(self.wfd, warn_on_full_buffer=False)

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
