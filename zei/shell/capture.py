"""The services' captured output: one pipe per captured stream, read inside the loop.

Each pipe's read end is non-blocking and registered with the daemon's poller while zei
takes output (`reading`); while zei's own stdout queue is full (zei.shell.sink) the pipes
are left unread — unregistered, since poll() reports a hung-up pipe whatever the mask —
so the services wait instead of losing lines. A read becomes whole tagged lines on zei's
stdout (zei.shell.logs); EOF flushes a partial last line and closes the pipe. When a
service process exits, what its pipes hold is emitted at once (a bounded number of reads:
a background grandchild may keep them open and writing; they stay registered then).
`watch` lets a service's whole lines be seen on their way out (its ready log_line).
"""
from __future__ import annotations

import os
import select

from zei.shell import logs, signals

READ_CHUNK = 65536
POLL_IN = select.POLLIN | select.POLLPRI


class Pipe:
    """One readable end of a service's stdout or stderr pipe."""
    __slots__ = ("fd", "service", "stream", "splitter", "json_logs")

    def __init__(self, fd, service, stream, json_logs):
        self.fd, self.service, self.stream, self.json_logs = fd, service, stream, json_logs
        self.splitter = logs.LineSplitter()


class Capture:
    def __init__(self, poller, out):
        self.poller = poller
        self.out = out
        self.pipes = {}                  # fd -> Pipe
        self.of_pid = {}                 # service pid -> its [Pipe]s
        self.reading = True              # False while zei's own output queue is full
        self.watch = {}                  # service -> callable(name, block of whole lines)

    def open(self, name, stream, json_logs):
        """A new capture pipe: (Pipe, write end for the child)."""
        rfd, wfd = os.pipe2(os.O_CLOEXEC)
        signals.set_nonblocking(rfd)
        pipe = Pipe(rfd, name, stream, json_logs)
        self.pipes[rfd] = pipe
        if self.reading:
            self.poller.register(rfd, POLL_IN)
        return pipe, wfd

    def adopt(self, pid, pipes):
        self.of_pid[pid] = pipes

    def set_reading(self, reading):
        if reading == self.reading:
            return
        self.reading = reading
        for fd in self.pipes:
            if reading:
                self.poller.register(fd, POLL_IN)
            else:
                self.poller.unregister(fd)

    def read(self, pipe):
        try:
            data = os.read(pipe.fd, READ_CHUNK)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            self._block(pipe, pipe.splitter.feed_block(data))
        else:
            self._eof(pipe)

    def drain(self, pid):
        """A service process exited: emit what its pipes hold now, including a partial line."""
        for pipe in self.of_pid.pop(pid, ()):
            for _ in range(64):                    # bounded: a grandchild may keep writing
                if pipe.fd not in self.pipes:
                    break
                try:
                    data = os.read(pipe.fd, READ_CHUNK)
                except BlockingIOError:
                    self._lines(pipe, pipe.splitter.finish())
                    break
                except OSError:
                    data = b""
                if not data:
                    self._eof(pipe)
                    break
                self._block(pipe, pipe.splitter.feed_block(data))

    def close(self, pipe):
        if self.pipes.pop(pipe.fd, None) is not None and self.reading:
            self.poller.unregister(pipe.fd)
        try:
            os.close(pipe.fd)
        except OSError:
            pass

    def close_all(self):
        """At exit: what is left in every pipe, then close it."""
        for pipe in list(self.pipes.values()):
            self.read(pipe)
            if pipe.fd in self.pipes:
                self._eof(pipe)

    def _eof(self, pipe):
        self._lines(pipe, pipe.splitter.finish())
        self.close(pipe)

    def _block(self, pipe, block):
        self.out.block(pipe.service, pipe.stream, block, pipe.json_logs)
        if block and pipe.service in self.watch:
            self.watch[pipe.service](pipe.service, block)

    def _lines(self, pipe, lines):
        self.out.lines(pipe.service, pipe.stream, lines, pipe.json_logs)
        if lines and pipe.service in self.watch:
            self.watch[pipe.service](pipe.service, b"\n".join(lines) + b"\n")
