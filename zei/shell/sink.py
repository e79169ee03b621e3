"""zei's own stdout, written without ever blocking the loop, within a bound.

When whoever reads zei's stdout stalls (a blocked log driver, Ctrl-S on a terminal, a
paused `kubectl attach`), a plain write() would stop PID 1: no reaping, no signals, no
socket. Descriptor 1 itself cannot be made non-blocking — services with
`stdout: /dev/stdout` share its open file description, and would then get EAGAIN — so
Sink writes through a descriptor of its own:

  - a pipe, FIFO or terminal: a second open file description of the same object
    (open("/proc/self/fd/1", O_NONBLOCK)), non-blocking for zei alone; a pipe's capacity
    is raised to PIPE_SIZE if the kernel allows (a tagged 64 KiB read is ~72 KiB: with
    the default 64 KiB every read took two writes, two wakeups of zei and of the reader);
  - a socket: send(MSG_DONTWAIT), which never blocks whatever the descriptor's flags;
  - a regular file: fd 1 as it is (writing to a file does not wait for a reader);
  - anything else (no /proc): fd 1, written only when poll() says it has room, at most
    PIPE_BUF bytes at a time.

What cannot be written at once waits in a queue (the rest of a partly written chunk as a
memoryview, never copied), in order, up to LIMIT bytes (zei's own
event lines may use EVENT_SLACK more). While the queue is full the daemon stops reading
its services' pipes, so a reader that is slow but moving loses nothing (the services wait,
as they would writing to it directly). If the reader makes no progress for DROP_AFTER
seconds, the daemon reads again and lines that do not fit are dropped and counted; once
the queue has drained, flush() says how many were dropped and for how long output was
blocked, and the daemon logs that as one line. Lines are queued and dropped whole, so none
is ever torn. Invariant: queued bytes < LIMIT + EVENT_SLACK + one write's worth (a write
is at most one pipe read of a service, tagged).
"""
from __future__ import annotations

import collections
import _socket
import fcntl
import os
import select
import stat
import time

LIMIT = 1 << 20                 # bytes of output held while the reader is slow
EVENT_SLACK = 64 << 10          # zei's own events may go this far past LIMIT
DROP_AFTER = 2.0                # seconds without progress before output is dropped
PIPE_BUF = 4096
PIPE_SIZE = 256 << 10           # capacity zei asks for when its stdout is a pipe (default 64 KiB)
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
F_GETPIPE_SZ = getattr(fcntl, "F_GETPIPE_SZ", 1032)


class Sink:
    def __init__(self, fd, clock=time.monotonic):
        self.clock = clock
        self.fd, self.mode, self.sock = _writer(fd)
        self.queue = collections.deque()
        self.queued = 0
        self.dropped = 0                 # lines dropped since output became blocked
        self.blocked_since = None        # when the queue last went from empty to non-empty
        self.progress_at = None          # when the reader last took something
        self.dropping = False
        self.gone = False                # the reader has gone away for good (EPIPE, EBADF)

    # ---- for the loop ------------------------------------------------------------------
    @property
    def pending(self):
        """Something waits for the reader: poll self.fd for POLLOUT and call flush()."""
        return bool(self.queue)

    @property
    def accepting(self):
        """Whether to go on reading services' pipes (no: the queue is full, let them wait)."""
        return self.queued < LIMIT or self.dropping

    def next_deadline(self):
        if self.queued >= LIMIT and not self.dropping and self.progress_at is not None:
            return self.progress_at + DROP_AFTER
        return None

    def tick(self, now):
        deadline = self.next_deadline()
        if deadline is not None and now >= deadline:
            self.dropping = True

    # ---- writing -----------------------------------------------------------------------
    def write(self, data, event=False):
        if self.gone or not data:
            return
        if not self.queue:
            n = self._write(data)
            if n is None or n == len(data):
                return
            self.blocked_since = self.progress_at = self.clock()
            data = memoryview(data)[n:]  # the rest of a line already started: never dropped
            self.queue.append(data)
            self.queued += len(data)
            return
        if self.queued >= LIMIT + (EVENT_SLACK if event else 0):
            self.dropped += data.count(b"\n") or 1
            return
        self.queue.append(data)
        self.queued += len(data)

    def flush(self):
        """Write what the reader takes now. Returns (seconds blocked, lines dropped) when a
        blocked spell in which lines were dropped has just ended, else None."""
        while self.queue:
            data = self.queue[0]
            n = self._write(data)
            if n is None:                # reader gone: nothing left to do with the queue
                self.queue.clear()
                self.queued = 0
                break
            if n:
                self.progress_at = self.clock()
            if n < len(data):
                self.queue[0] = memoryview(data)[n:]   # no copy of the rest
                self.queued -= n
                return None
            self.queue.popleft()
            self.queued -= n
        report = None
        if self.dropped and self.blocked_since is not None:
            report = (self.clock() - self.blocked_since, self.dropped)
        self.dropped = 0
        self.blocked_since = None
        self.dropping = False
        return report

    def drain(self, timeout):
        """At exit: wait up to `timeout` seconds for the reader to take what is queued."""
        deadline = self.clock() + timeout
        poller = select.poll()
        poller.register(self.fd, select.POLLOUT)
        while self.queue and not self.gone:
            left = deadline - self.clock()
            if left <= 0 or not poller.poll(int(left * 1000) + 1):
                return
            self.flush()

    def close(self):
        """Close the descriptor of zei's own, if it opened one (fd 1 itself stays)."""
        if self.sock is not None:
            self.sock.close()
        elif self.mode == "nonblocking":
            os.close(self.fd)
        self.gone = True

    def _write(self, data):
        """Bytes written now (0 if the reader is full); None if the reader is gone."""
        try:
            if self.mode == "socket":
                return self.sock.send(data, _socket.MSG_DONTWAIT)
            if self.mode == "guarded":
                return self._guarded(data)
            return os.write(self.fd, data)
        except (BlockingIOError, InterruptedError):
            return 0
        except OSError:
            self.gone = True
            return None

    def _guarded(self, data):
        done = 0
        poller = select.poll()
        poller.register(self.fd, select.POLLOUT)
        while done < len(data) and poller.poll(0):
            done += os.write(self.fd, data[done:done + PIPE_BUF])
        return done


def _writer(fd):
    """(descriptor to write, mode, socket or None) for zei's stdout `fd`."""
    try:
        st = os.fstat(fd)
    except OSError:
        return fd, "direct", None
    if stat.S_ISREG(st.st_mode):
        return fd, "direct", None
    if stat.S_ISSOCK(st.st_mode):
        try:
            sock = _socket.socket(fileno=os.dup(fd))
            return sock.fileno(), "socket", sock
        except OSError:
            return fd, "guarded", None
    try:
        own = os.open(f"/proc/self/fd/{fd}", os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        return fd, "guarded", None
    again = os.fstat(own)
    if (again.st_dev, again.st_ino) != (st.st_dev, st.st_ino):     # not the same object
        os.close(own)
        return fd, "guarded", None
    if stat.S_ISFIFO(st.st_mode):
        grow_pipe(own, PIPE_SIZE)
    return own, "nonblocking", None


def grow_pipe(fd, size):
    """Raise the capacity of pipe `fd` to `size` bytes if it is smaller; silently leave it
    when the kernel says no (an unprivileged user past pipe-max-size or its pipe quota)."""
    try:
        if fcntl.fcntl(fd, F_GETPIPE_SZ) < size:
            fcntl.fcntl(fd, F_SETPIPE_SZ, size)
    except OSError:
        pass
