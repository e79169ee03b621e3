"""System helpers of the harness: deadlines, /proc readers, the event FIFO.

Nothing here sleeps for a fixed time: poll_until and settle poll with a deadline; Fifo.take
waits in poll() until its deadline. Readers of /proc sum over every thread of a process
(/proc/<pid>/task/*), since an init may have more than one; a process that vanished while
being read counts as nothing rather than an error. Drain reads a pipe in a thread until EOF
(an init's stdout the harness must keep empty but does not look at).
"""
from __future__ import annotations

import os
import select
import threading
import time

from bench import BenchError, MiB

CLK_TCK = os.sysconf("SC_CLK_TCK")


def now():
    return time.monotonic()


def poll_until(pred, timeout, what, interval=0.002):
    deadline = now() + timeout
    while True:
        v = pred()
        if v:
            return v
        if now() > deadline:
            raise BenchError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


def children(pid):
    """Host pids of every child of `pid` (any thread), zombies included."""
    out = set()
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except (FileNotFoundError, ProcessLookupError):
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out.update(int(x) for x in f.read().split())
        except (FileNotFoundError, ProcessLookupError):
            pass
    return out


def ctxt_switches(pid):
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        total += int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def cpu_times(pid):
    """PID 1's CPU so far: (run time of its threads in ns from schedstat, its reaped
    children's utime + stime in clock ticks from /proc/<pid>/stat)."""
    run = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                run += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return run, int(fields[13]) + int(fields[14])          # fields 16, 17: cutime, cstime


def proc_state(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return None


def smaps_rollup(pid, field=None):
    """(RSS, PSS) of pid in MiB; with field ("Anonymous"), that field alone."""
    vals = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if parts and parts[0] in ("Rss:", "Pss:", "Anonymous:"):
                vals[parts[0][:-1]] = int(parts[1]) * 1024 / MiB
    return vals[field] if field else (vals["Rss"], vals["Pss"])


def settle(pid, quiet=0.1, timeout=3.0):
    """Wait until PID 1 has not been scheduled for `quiet` seconds (best effort)."""
    last, since, deadline = ctxt_switches(pid), now(), now() + timeout
    while now() < deadline:
        time.sleep(0.01)
        c = ctxt_switches(pid)
        if c != last:
            last, since = c, now()
        elif now() - since >= quiet:
            return True
    return False


def exit_status(returncode):
    return returncode if returncode >= 0 else 128 - returncode


class Fifo:
    """A named pipe the harness holds open read-write: lines in, each stamped on arrival."""

    def __init__(self, path):
        self.path = str(path)
        os.mkfifo(self.path, 0o666)
        self.fd = os.open(self.path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        self.poller = select.poll()
        self.poller.register(self.fd, select.POLLIN)
        self.buf = b""
        self.queue = []          # [(line, t)]

    def _fill(self, timeout):
        if not self.poller.poll(max(0, int(timeout * 1000))):
            return
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return
        t = now()
        *lines, self.buf = (self.buf + data).split(b"\n")
        self.queue.extend((ln.decode(), t) for ln in lines)

    def take(self, prefix, n=1, timeout=10.0):
        """The next n lines starting with `prefix` (others are dropped), with arrival times."""
        got, deadline = [], now() + timeout
        while len(got) < n:
            while self.queue and len(got) < n:
                line, t = self.queue.pop(0)
                if line.startswith(prefix):
                    got.append((line, t))
            if len(got) >= n:
                break
            left = deadline - now()
            if left <= 0:
                raise BenchError(f"timed out after {timeout:g}s waiting for {n - len(got)} "
                                 f"more {prefix!r} line(s) on the event FIFO")
            self._fill(left)
        return got

    def write(self, data):
        os.write(self.fd, data)

    def close(self):
        os.close(self.fd)


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


class Drain:
    """Read `fd` in a thread until EOF, counting bytes (keeps an init's stdout pipe empty)."""

    def __init__(self, fd):
        self.fd, self.bytes = fd, 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            while True:
                data = os.read(self.fd, 1 << 16)
                if not data:
                    return
                self.bytes += len(data)
        except OSError:
            return

    def join(self, timeout=10.0):
        """After the writer is gone: EOF ends the thread."""
        self.thread.join(timeout)
        return not self.thread.is_alive()
