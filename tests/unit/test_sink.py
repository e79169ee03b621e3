"""zei.shell.sink: zei's stdout never blocks the loop, stays bounded, drops whole lines and says so."""
from __future__ import annotations

import fcntl
import os
import socket

import pytest

from zei.shell import sink as sink_mod
from zei.shell.sink import DROP_AFTER, EVENT_SLACK, LIMIT, Sink


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


@pytest.fixture
def pipe():
    r, w = os.pipe()
    yield r, w
    for fd in (r, w):
        try:
            os.close(fd)
        except OSError:
            pass


def read_all(fd):
    os.set_blocking(fd, False)
    data = b""
    while True:
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            return data
        if not chunk:
            return data
        data += chunk


def line(i, size=100):
    return (f"{i:08d}".encode() + b"x" * size)[:size - 1] + b"\n"


def test_a_pipe_gets_its_own_nonblocking_description_and_fd_1_stays_blocking(pipe):
    r, w = pipe
    s = Sink(w, Clock())
    assert s.mode == "nonblocking" and s.fd != w
    assert not fcntl.fcntl(w, fcntl.F_GETFL) & os.O_NONBLOCK       # shared with services
    s.write(b"hello\n")
    assert read_all(r) == b"hello\n"
    s.close()


def test_a_stalled_reader_never_blocks_bounds_the_queue_and_counts_whole_lines(pipe):
    r, w = pipe
    clock = Clock()
    s = Sink(w, clock)
    sent = 0
    while s.queued < LIMIT:                  # fills the pipe, then the queue
        s.write(line(sent))
        sent += 1
    assert s.pending and not s.accepting
    for i in range(sent, sent + 500):        # over the bound: dropped, counted, never blocking
        s.write(line(i))
    assert LIMIT <= s.queued < LIMIT + 100 and s.dropped == 500
    s.write(b"zei[info] an event\n", event=True)   # zei's own events have some slack
    assert s.dropped == 500
    assert s.next_deadline() == pytest.approx(100.0 + DROP_AFTER)
    clock.now += DROP_AFTER
    s.tick(clock.now)
    assert s.dropping and s.accepting        # the daemon reads its services again
    clock.now += 3.0
    data = b""
    while s.pending:                         # the reader comes back
        data += read_all(r)
        report = s.flush()
    data += read_all(r)
    assert report == (pytest.approx(3.0 + DROP_AFTER), 500)
    lines = data.split(b"\n")[:-1]
    assert lines[-1] == b"zei[info] an event"
    kept = [int(ln[:8]) for ln in lines[:-1]]
    assert kept == list(range(sent)) and all(len(ln) == 99 for ln in lines[:-1])   # none torn
    assert not s.dropping and s.dropped == 0
    s.close()


def test_events_beyond_the_slack_are_dropped_too(pipe):
    r, w = pipe
    s = Sink(w, Clock())
    while s.queued < LIMIT:
        s.write(b"s" * 99 + b"\n")
    s.write(b"s" * 99 + b"\n")
    assert s.dropped == 1                     # service output: full
    while s.queued < LIMIT + EVENT_SLACK:
        s.write(b"e" * 99 + b"\n", event=True)
    for _ in range(10):
        s.write(b"e" * 99 + b"\n", event=True)
    assert s.queued < LIMIT + EVENT_SLACK + 100 and s.dropped == 11
    s.close()


def test_a_reader_that_keeps_up_loses_nothing_and_reports_nothing(pipe):
    r, w = pipe
    s = Sink(w, Clock())
    data = b""
    for i in range(20000):                   # 2 MB through a 64 KiB pipe
        s.write(line(i))
        if s.pending:
            data += read_all(r)
            assert s.flush() is None
    while s.pending:
        data += read_all(r)
        s.flush()
    data += read_all(r)
    assert data == b"".join(line(i) for i in range(20000))
    s.close()


def test_a_socket_is_written_with_dontwait():
    a, b = socket.socketpair()
    try:
        s = Sink(a.fileno(), Clock())
        assert s.mode == "socket"
        assert a.getblocking()                # the shared descriptor is left as it is
        sent = 0
        while not s.pending:                  # a full socket buffer queues instead of blocking
            s.write(b"y" * 1000 + b"\n")
            sent += 1
        b.setblocking(False)
        got = b""
        while s.pending:                      # the reader drains: everything arrives, in order
            try:
                got += b.recv(1 << 16)
            except BlockingIOError:
                pass
            s.flush()
        while len(got) < sent * 1001:
            got += b.recv(1 << 16)
        assert got == (b"y" * 1000 + b"\n") * sent
        s.close()
    finally:
        a.close()
        b.close()


def test_a_regular_file_is_written_directly(tmp_path):
    with open(tmp_path / "out", "wb") as f:
        s = Sink(f.fileno(), Clock())
        assert s.mode == "direct" and s.fd == f.fileno()
        s.write(b"x\n")
    assert (tmp_path / "out").read_bytes() == b"x\n"


def test_without_proc_a_pipe_is_written_only_when_poll_says_there_is_room(pipe, monkeypatch):
    r, w = pipe
    real_open = os.open
    monkeypatch.setattr(sink_mod.os, "open", lambda *a, **k: (_ for _ in ()).throw(OSError(2, "no /proc"))
                        if str(a[0]).startswith("/proc") else real_open(*a, **k))
    s = Sink(w, Clock())
    assert s.mode == "guarded" and s.fd == w
    for i in range(2000):                    # 200 KB into a 64 KiB pipe: must not block
        s.write(line(i))
    assert s.pending
    data = b""
    while s.pending:
        data += read_all(r)
        s.flush()
    data += read_all(r)
    assert data == b"".join(line(i) for i in range(2000))


def test_a_reader_that_went_away_drops_everything_quietly(pipe):
    r, w = pipe
    s = Sink(w, Clock())
    os.close(r)
    s.write(b"nobody\n")                     # EPIPE (SIGPIPE is ignored by zei and pytest)
    assert s.gone and not s.pending
    s.close()


def test_a_pipe_stdout_is_grown_so_a_tagged_64k_read_fits_in_one_write(pipe):
    r, w = pipe
    assert fcntl.fcntl(w, sink_mod.F_GETPIPE_SZ) == 65536
    s = Sink(w, Clock())
    assert fcntl.fcntl(w, sink_mod.F_GETPIPE_SZ) == sink_mod.PIPE_SIZE   # the same pipe
    block = b"".join(line(i) for i in range(720))                        # 72,000 bytes
    s.write(block)
    assert not s.pending and read_all(r) == block
    s.close()


def test_growing_a_pipe_never_shrinks_it_and_a_refusal_is_silent(pipe, monkeypatch):
    r, w = pipe
    fcntl.fcntl(w, sink_mod.F_SETPIPE_SZ, 1 << 20)
    sink_mod.grow_pipe(w, sink_mod.PIPE_SIZE)
    assert fcntl.fcntl(w, sink_mod.F_GETPIPE_SZ) == 1 << 20
    real = fcntl.fcntl

    def refuse(fd, cmd, arg=0):
        if cmd == sink_mod.F_SETPIPE_SZ:
            raise PermissionError(1, "past pipe-max-size")       # an unprivileged user
        return real(fd, cmd, arg)
    monkeypatch.setattr(sink_mod.fcntl, "fcntl", refuse)
    r2, w2 = os.pipe()
    s = Sink(w2, Clock())
    assert s.mode == "nonblocking" and real(w2, sink_mod.F_GETPIPE_SZ) == 65536
    s.write(b"still written\n")
    assert read_all(r2) == b"still written\n"
    s.close()
    os.close(r2)
    os.close(w2)


def test_the_rest_of_a_partly_written_chunk_is_queued_without_a_copy(pipe):
    r, w = pipe
    s = Sink(w, Clock())
    block = b"".join(line(i) for i in range(LIMIT // 100 // 2))          # ~512 KiB
    s.write(block)
    assert s.pending and isinstance(s.queue[0], memoryview)             # O(1), not O(len)
    got = read_all(r)
    while s.pending:
        s.flush()
        got += read_all(r)
    assert got == block
    s.close()
