"""The daemon: wires the pure supervisor to the world and runs the one event loop.

    load config ─► privileges ─► signal pipe ─► control socket ─► boot ─► loop:
        poll(signal pipe, service output pipes, control socket and its clients;
             timeout = supervisor.next_deadline(), or forever)
        ─► signals, output, requests become supervisor events
        ─► reap every exited child (waitpid until none)          [on every wakeup]
        ─► due deadlines ─► supervisor.tick()
    and every action the supervisor returns is carried out by execute().

This module holds the only poll(). An idle zei with no timer pending sleeps in poll() with
no timeout: zero wakeups. Nothing that goes wrong in here may kill PID 1: an unexpected
exception while handling one event is logged and the loop goes on.
"""
from __future__ import annotations

import collections
import os
import select
import signal
import sys
import time

from zei import actions as A
from zei import logs, model, reaper, signals, spawn, users
from zei.supervisor import Supervisor

EXIT_CONFIG, EXIT_SYSTEM = 2, 1   # the supervisor decides 0 (clean) and 1 (SIGKILL needed)
READ_CHUNK = 65536
MAX_POLL_MS = 86_400_000          # poll() cannot wait ~25 days; a timer further out wakes once a day
POLL_IN = select.POLLIN | select.POLLPRI


class Pipe:
    """One readable end of a service's stdout or stderr pipe."""
    __slots__ = ("fd", "service", "stream", "splitter", "json_logs")

    def __init__(self, fd, service, stream, json_logs):
        self.fd, self.service, self.stream, self.json_logs = fd, service, stream, json_logs
        self.splitter = logs.LineSplitter()


class Daemon:
    def __init__(self, cfg, out, privileges, socket_path=None):
        self.config = cfg
        self.out = out
        self.priv = privileges
        self.sup = Supervisor(cfg)
        self.poller = select.poll()
        self.pipes = {}                  # fd -> Pipe
        self.pipes_of_pid = {}           # service pid -> its [Pipe]s
        self.exit_code = None
        self.sig = signals.SignalPipe()
        self.poller.register(self.sig.rfd, POLL_IN)
        self.devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        self.base_env = dict(os.environ)
        self.server = None
        if socket_path:
            from zei.server import Server
            self.server = Server(socket_path, self.poller, privileges, self.out,
                                 self.handle_request)

    # ---- the loop ---------------------------------------------------------------------
    def run(self):
        try:
            self.execute(self.sup.boot(time.monotonic()))
            self.reap()
        except Exception:                                 # PID 1 must not die
            self.internal_error()
        self.priv.park()
        while self.exit_code is None:
            deadline = self.sup.next_deadline()
            if self.server is not None:
                deadline = _earliest(deadline, self.server.next_deadline())
            if deadline is None:
                timeout = None
            else:
                timeout = max(0, min(MAX_POLL_MS, int((deadline - time.monotonic()) * 1000 + 0.999)))
            try:
                ready = self.poller.poll(timeout)
            except InterruptedError:
                ready = []
            try:
                self.wakeup(ready)
            except Exception:                             # PID 1 must not die
                self.internal_error()
        self.close()
        return self.exit_code

    def internal_error(self):
        import traceback                  # only when something went wrong
        self.out.event("error", "zei", "internal error (zei carries on): "
                       + traceback.format_exc().strip().replace("\n", " | "))

    def wakeup(self, ready):
        now = time.monotonic()
        for fd, ev in ready:
            if fd == self.sig.rfd:
                for signum in self.sig.drain():
                    if signum != signal.SIGCHLD:
                        self.execute(self.sup.signal(signum, time.monotonic()))
            elif fd in self.pipes:
                self.read_pipe(self.pipes[fd], ev)
            elif self.server is not None:
                self.server.on_ready(fd, ev, now)
        self.reap()
        now = time.monotonic()
        deadline = self.sup.next_deadline()
        if deadline is not None and now >= deadline:
            self.execute(self.sup.tick(now))
            self.reap()
        if self.server is not None:
            self.server.expire(time.monotonic())

    def reap(self):
        while True:
            exits, none_left = reaper.reap()
            for pid, code, sig in exits:
                self.drain_pipes_of_pid(pid)
                self.execute(self.sup.exited(pid, code, sig, time.monotonic()))
            if none_left:
                self.execute(self.sup.no_children(time.monotonic()))
            if not exits:
                return

    # ---- actions ----------------------------------------------------------------------
    def execute(self, todo):
        queue = collections.deque(todo)
        while queue:
            action = queue.popleft()
            kind = type(action)
            if kind is A.Log:
                self.out.event(action.level, action.source, action.message, action.fields)
            elif kind is A.Spawn:
                queue.extend(self.start_service(action.name))
            elif kind is A.Kill:
                self.kill(-action.pid, action.sig)
            elif kind is A.KillAll:
                self.kill(-1, action.sig)
            elif kind is A.Reply:
                if self.server is not None:
                    self.server.reply(action.token, action.payload)
            elif kind is A.Exit:
                self.exit_code = action.code

    def kill(self, target, sig):
        with self.priv.elevated():
            try:
                os.kill(target, sig)
            except ProcessLookupError:
                pass
            except PermissionError as e:
                self.out.event("error", "zei", f"kill({target}, {sig}) failed: {e}")

    def start_service(self, name):
        spec = self.config.service(name)
        now = time.monotonic()
        try:
            ident = users.resolve(spec.user, spec.group)
        except users.UnknownUser as e:
            return self.sup.spawn_failed(name, f"credentials: {e}", now)
        env = dict(self.base_env)
        env.update(HOME=ident.home, USER=ident.user, LOGNAME=ident.user)
        env.update(spec.environment)
        env.setdefault("PATH", spawn.DEFAULT_PATH)
        opened, pipes = [], []
        try:
            with self.priv.elevated():
                out_fd = self.output_fd(spec, "stdout", spec.stdout, ident, opened, pipes)
                err_fd = self.output_fd(spec, "stderr", spec.stderr, ident, opened, pipes)
                pid = spawn.spawn(list(spec.command), env, ident, spec.working_dir,
                                  out_fd, err_fd, self.devnull)
        except spawn.SpawnError as e:
            for p in pipes:
                self.close_pipe(p)
            return self.sup.spawn_failed(name, str(e), now)
        except OSError as e:
            for p in pipes:
                self.close_pipe(p)
            return self.sup.spawn_failed(name, f"output: {e.strerror} ({e.filename})", now)
        finally:
            for fd in opened:
                os.close(fd)
        self.pipes_of_pid[pid] = pipes
        return self.sup.spawned(name, pid, now)

    def output_fd(self, spec, stream, target, ident, opened, pipes):
        """The descriptor the child gets for `stream`; registers a pipe when capturing."""
        if target == "/dev/stdout":
            return 1
        if target == "/dev/stderr":
            return 2
        if target:
            with self.priv.acting_as(ident):
                fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            opened.append(fd)
            return fd
        rfd, wfd = os.pipe2(os.O_CLOEXEC)
        opened.append(wfd)
        signals.set_nonblocking(rfd)
        pipe = Pipe(rfd, spec.name, stream, spec.json_logs)
        self.pipes[rfd] = pipe
        self.poller.register(rfd, POLL_IN)
        pipes.append(pipe)
        return wfd

    # ---- output pipes -----------------------------------------------------------------
    def read_pipe(self, pipe, ev=select.POLLIN):
        try:
            data = os.read(pipe.fd, READ_CHUNK)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            self.out.block(pipe.service, pipe.stream, pipe.splitter.feed_block(data), pipe.json_logs)
        else:
            self.out.lines(pipe.service, pipe.stream, pipe.splitter.finish(), pipe.json_logs)
            self.close_pipe(pipe)

    def drain_pipes_of_pid(self, pid):
        """A service process exited: emit what its pipes hold now, including a partial line.

        The pipes stay registered while something (a background grandchild) still holds
        them open; the service counts as exited regardless."""
        for pipe in self.pipes_of_pid.pop(pid, ()):
            for _ in range(64):                    # bounded: a grandchild may keep writing
                if pipe.fd not in self.pipes:
                    break
                try:
                    data = os.read(pipe.fd, READ_CHUNK)
                except BlockingIOError:
                    self.out.lines(pipe.service, pipe.stream, pipe.splitter.finish(), pipe.json_logs)
                    break
                except OSError:
                    data = b""
                if not data:
                    self.read_pipe_eof(pipe)
                    break
                self.out.block(pipe.service, pipe.stream, pipe.splitter.feed_block(data), pipe.json_logs)

    def read_pipe_eof(self, pipe):
        self.out.lines(pipe.service, pipe.stream, pipe.splitter.finish(), pipe.json_logs)
        self.close_pipe(pipe)

    def close_pipe(self, pipe):
        if self.pipes.pop(pipe.fd, None) is not None:
            self.poller.unregister(pipe.fd)
        try:
            os.close(pipe.fd)
        except OSError:
            pass

    # ---- control requests (called by the server) --------------------------------------
    def handle_request(self, request, token):
        from zei import control
        self.execute(control.dispatch(self.sup, request, token, time.monotonic(),
                                      _version(), os.getpid()))

    def close(self):
        for pipe in list(self.pipes.values()):
            self.read_pipe(pipe)
            if pipe.fd in self.pipes:
                self.read_pipe_eof(pipe)
        if self.server is not None:
            self.server.close()


def _earliest(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def main(start, priv):
    """Run as PID 1, given what zei.prelude found (`start`). Returns the exit code."""
    out = logs.Output(1, "json" if os.environ.get("ZEI_LOG_FORMAT", "").lower() == "json" else "text",
                      os.environ.get("ZEI_LOG_LEVEL", "info").lower())
    path = start["config_path"]
    if "privileges" in start:
        out.event("error", "zei", f"cannot set up privileges: {start['privileges']}")
        return EXIT_SYSTEM
    if "problems" in start:
        for problem in start["problems"]:
            out.event("error", "zei", problem)
        out.event("error", "zei", f"{len(start['problems'])} problem(s) in {path}; nothing started")
        return EXIT_CONFIG
    if "unreadable" in start:
        who = f" as uid {priv.app_uid} (the app identity)" if priv.cycling else ""
        out.event("error", "zei", f"cannot read config {path}{who}: {start['unreadable']}")
        return EXIT_CONFIG
    cfg = model.from_json(start["config"])
    try:
        priv.prepare_root()
        daemon = Daemon(cfg, out, priv, start["socket"])
    except OSError as e:
        out.event("error", "zei", f"cannot start: {e}")
        return EXIT_SYSTEM
    out.event("info", "zei", f"zei {_version()} as PID {os.getpid()}; config {path}; "
                             f"{priv.description}")
    return daemon.run()


def _version():
    from zei import __version__
    return __version__
