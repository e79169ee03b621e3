"""The daemon: wires the pure supervisor to the world and runs the one event loop.

    load config ─► privileges ─► signal pipe ─► control socket ─► boot ─► loop:
        poll(signal pipe, service output pipes, control socket and its clients;
             timeout = supervisor.next_deadline(), or forever)
        ─► signals, output, requests become supervisor events
        ─► reap every exited child (waitpid until none)          [on every wakeup]
        ─► due deadlines ─► supervisor.tick()      [`zei reload`: zei.shell.reloader]
    and every action the supervisor returns is carried out by execute().

This module holds the only poll(). An idle zei with no timer pending sleeps in poll() with
no timeout: zero wakeups. Nothing that goes wrong in here may kill PID 1: an unexpected
exception while handling one event is logged and the loop goes on.
"""
from __future__ import annotations

import _signal
import collections
import os
import select
import time

from zei.core import actions as A
from zei.core import model
from zei.shell import (capture, history, logs, reaper, readiness, reloader, residency, signals, spawn,
                       subreaper, users)
from zei.core.supervisor import Supervisor

EXIT_CONFIG, EXIT_SYSTEM = 2, 1   # the supervisor decides 0 (clean) and 1 (SIGKILL needed)
MAX_POLL_MS = 86_400_000          # poll() cannot wait ~25 days; a timer further out wakes once a day
POLL_IN = select.POLLIN | select.POLLPRI
EXIT_DRAIN = 1.0                  # at exit, how long zei waits for a stalled reader of its stdout


class Starting:
    """A forked service process whose exec verdict has not been read yet."""
    __slots__ = ("spec", "pid", "status", "path")

    def __init__(self, spec, pid, status, path):
        self.spec, self.pid, self.status, self.path = spec, pid, status, path


class Daemon:
    def __init__(self, cfg, out, privileges, socket_path=None, config_path=None, reader=None):
        self.out = out
        self.priv = privileges
        self.sup = Supervisor(cfg)
        self.history = out.history = history.History(len(cfg.services) + 1)   # for `zei logs`
        self.poller = select.poll()
        self.capture = capture.Capture(self.poller, out)
        self.starting = {}               # status fd -> Starting (forked, exec not confirmed)
        self.booting = True              # until the services are started (zei.shell.residency)
        self.starting_pid = {}           # pid -> Starting
        self.out_fd = None               # zei's stdout while polled for room (zei.shell.sink)
        self.exit_code = None
        self.sig = signals.SignalPipe(forward_all=cfg.command)
        self.poller.register(self.sig.rfd, POLL_IN)
        self.pid1 = os.getpid() == 1
        self.tty = cfg.command and os.isatty(0)      # main gets the terminal
        self.parent = None                   # a pidfd of zei's parent when it is not PID 1
        if not self.pid1:
            self.parent = subreaper.watch_parent(self.poller, POLL_IN)
        self.devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        self.base_env = dict(os.environ)
        self.health = readiness.Readiness(self, cfg, self.base_env)   # takes NOTIFY_SOCKET out
        self.reloader = reloader.Reloader(self, config_path, reader)      # `zei reload`
        self.server = None
        if socket_path:
            from zei.shell.server import Server
            self.server = Server(socket_path, self.poller, privileges, self.out,
                                 self.handle_request)

    config = property(lambda self: self.sup.config, doc="The config in force (a reload replaces it).")

    # ---- the loop ---------------------------------------------------------------------
    def run(self):
        try:
            self.sup.set_clock(time.monotonic(), time.time(), time.localtime)   # wall time for cron jobs
            self.execute(self.sup.boot(time.monotonic()))
            self.reap()
        except Exception:                                 # PID 1 must not die
            self.internal_error()
        self.priv.park()
        while self.exit_code is None:
            self.sync_output()
            deadline = _earliest(self.sup.next_deadline(), self.out.sink.next_deadline())
            deadline = _earliest(_earliest(deadline, self.health.next_deadline()), self.reloader.next_deadline())
            if self.server is not None:
                deadline = _earliest(deadline, self.server.next_deadline())
            if self.sup.slots:            # cron jobs: read the wall clock at least every minute (NTP jumps)
                deadline = _earliest(deadline, time.monotonic() + 60.0)
            if deadline is None:
                timeout = None
            else:
                timeout = max(0, min(MAX_POLL_MS, int((deadline - time.monotonic()) * 1000 + 0.999)))
            if self.booting and not self.starting and (timeout is None or timeout >= 1000):
                self.booting = False     # started and idle: the binary's start-up pages go back
                residency.release()
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

    def internal_error(self, context=""):
        import traceback                  # only when something went wrong
        where = f" {context}" if context else ""
        self.out.event("error", "zei", f"internal error{where} (zei carries on): "
                       + traceback.format_exc().strip().replace("\n", " | "))

    def wakeup(self, ready):
        now = time.monotonic()
        self.sup.set_clock(now, time.time(), time.localtime)     # a wall clock jump moves cron deadlines
        for fd, ev in ready:
            try:
                self.ready(fd, ev, now)
            except Exception:                             # the other descriptors still count
                self.internal_error()
        self.out.sink.tick(time.monotonic())
        self.health.tick(time.monotonic())
        self.reloader.tick(time.monotonic())
        self.reap()
        now = time.monotonic()
        deadline = self.sup.next_deadline()
        if deadline is not None and now >= deadline:
            self.execute(self.sup.tick(now))
            self.reap()
        if self.server is not None:
            self.server.expire(time.monotonic())

    def ready(self, fd, ev, now):
        if fd == self.sig.rfd:
            for signum in self.sig.drain():
                if signum != _signal.SIGCHLD:
                    self.execute(self.sup.signal(signum, time.monotonic()))
        elif fd in self.capture.pipes:
            self.capture.read(self.capture.pipes[fd])
        elif fd in self.starting:
            self.resolve_start(self.starting[fd])
        elif fd == self.out_fd:
            self.out.flush()
        elif fd == self.parent:
            self.poller.unregister(fd)
            self.parent = None
            self.execute(self.sup.shutdown(time.monotonic(), "zei's parent process exited"))
        elif self.health.owns(fd):
            self.health.on_ready(fd, ev, now)
        elif self.reloader.owns(fd):
            self.reloader.on_ready(fd, ev, now)
        elif self.server is not None:
            self.server.on_ready(fd, ev, now)

    def sync_output(self):
        """Poll zei's stdout while output waits for its reader; while that queue is full,
        leave the services' pipes unread (they wait, nothing is lost) until the sink gives
        up on the reader and drops instead (zei.shell.sink)."""
        sink = self.out.sink
        if sink.pending and self.out_fd is None:
            self.out_fd = sink.fd
            self.poller.register(sink.fd, select.POLLOUT)
        elif not sink.pending and self.out_fd is not None:
            self.poller.unregister(self.out_fd)
            self.out_fd = None
        self.capture.set_reading(sink.accepting)

    def reap(self):
        """Every exited child, each handled on its own: one that fails cannot drop the rest."""
        while True:
            exits, none_left = reaper.reap()
            for pid, code, sig in exits:
                try:
                    if self.health.exited(pid, code, sig, time.monotonic()) or self.reloader.exited(pid):
                        continue                      # a health check's process, or reload's reader
                    svc = self.sup.by_pid.get(pid)
                    if svc is not None:
                        self.health.gone(svc.name)
                    starting = self.starting_pid.get(pid)
                    if starting is not None:          # its verdict comes before its exit
                        self.resolve_start(starting, exited=True)
                    self.capture.drain(pid)
                    self.execute(self.sup.exited(pid, code, sig, time.monotonic()))
                except Exception:                     # PID 1 must not die
                    self.internal_error(f"while handling the exit of pid {pid}")
            if none_left:
                self.execute(self.sup.no_children(time.monotonic()))
            if not exits:
                return

    # ---- actions ----------------------------------------------------------------------
    def execute(self, todo):
        """Carry out actions in order; each on its own, so one failure loses no other."""
        queue = collections.deque(todo)
        while queue:
            action = queue.popleft()
            try:
                queue.extend(self.perform(action))
            except Exception:                         # PID 1 must not die
                self.internal_error(f"while carrying out {type(action).__name__}")

    def perform(self, action):
        kind = type(action)
        if kind is A.Log:
            self.out.event(action.level, action.source, action.message, action.fields)
        elif kind is A.Spawn:
            if self.sup.should_spawn(action.name):
                return self.start_service(action.name)
        elif kind is A.Kill:
            self.kill(-action.pid, action.sig)
        elif kind is A.KillAll:
            if self.pid1:
                self.kill(-1, action.sig)
            else:                            # never kill(-1) outside zei's own namespace
                for pid in reaper.descendants():
                    self.kill(pid, action.sig)
        elif kind is A.Reply:
            if self.server is not None:
                self.server.reply(action.token, action.payload)
        elif kind is A.Exit:
            self.exit_code = action.code
        elif kind in (A.Check, A.CancelCheck, A.NotifyUp, A.Reconfigure):
            self.health.perform(action)
        return ()

    def kill(self, target, sig):
        with self.priv.elevated():
            try:
                os.kill(target, sig)
            except ProcessLookupError:
                if target < -1:       # forked but not yet its own group leader (before setsid)
                    try:
                        os.kill(-target, sig)
                    except ProcessLookupError:
                        pass
            except PermissionError as e:
                self.out.event("error", "zei", f"kill({target}, {sig}) failed: {e}")

    def start_service(self, name):
        """Fork the service's process (spawn never waits for exec); the verdict arrives on its
        status pipe (resolve_start). Any failure here is that service's failed start."""
        now = time.monotonic()
        try:
            return self._start_service(self.config.service(name), now)
        except Exception as e:
            return self.sup.spawn_failed(name, f"cannot start: {type(e).__name__}: {e}", now)

    def _start_service(self, spec, now):
        try:
            ident = self.priv.identity(spec.user, spec.group)    # None: zei's own user
        except users.UnknownUser as e:
            return self.sup.spawn_failed(spec.name, f"credentials: {e}", now)
        env = self.service_env(spec, ident)
        env.update(self.health.environment(spec))
        passed, pipes = [], []
        argv = list(spec.command)
        try:
            out = self.output_target(spec, "stdout", spec.stdout, passed, pipes)
            err = self.output_target(spec, "stderr", spec.stderr, passed, pipes)
            with self.priv.elevated():
                pid, status_fd = spawn.spawn(argv, env, ident, spec.working_dir, out, err, self.devnull,
                                             spec.foreground, spec.foreground and self.tty)
        except spawn.SpawnError as e:
            for p in pipes:
                self.capture.close(p)
            return self.sup.spawn_failed(spec.name, e.explain(argv, spec.working_dir, spec.stdout,
                                                              spec.stderr, env.get("PATH")), now)
        except BaseException:
            for p in pipes:
                self.capture.close(p)
            raise
        finally:
            for fd in passed:
                os.close(fd)
        starting = Starting(spec, pid, spawn.Status(status_fd), env.get("PATH"))
        self.starting[status_fd] = starting
        self.starting_pid[pid] = starting
        self.poller.register(status_fd, POLL_IN)
        self.capture.adopt(pid, pipes)
        self.health.forked(spec.name, pid)
        return self.sup.forked(spec.name, pid, now)

    def service_env(self, spec, ident):
        """The environment of the service's processes (its health checks' too)."""
        env = dict(self.base_env)
        env.update(HOME=ident.home, USER=ident.user, LOGNAME=ident.user)
        env.update(spec.environment)
        env.setdefault("PATH", spawn.DEFAULT_PATH)
        return env

    def resolve_start(self, starting, exited=False):
        """The child's status pipe has spoken (or the child is gone): spawned or failed.
        Once the child has exited its pipe is at EOF, so `exited` always decides."""
        verdict = starting.status.read()
        if verdict is None:
            if not exited:
                return
            verdict = "exec"
        self.starting.pop(starting.status.fd, None)
        self.starting_pid.pop(starting.pid, None)
        try:
            self.poller.unregister(starting.status.fd)
        except KeyError:
            pass
        starting.status.close()
        spec, now = starting.spec, time.monotonic()
        if verdict == "exec":
            self.execute(self.sup.spawned(spec.name, starting.pid, now))
        else:
            why = verdict.explain(list(spec.command), spec.working_dir, spec.stdout, spec.stderr,
                                  starting.path)
            self.execute(self.sup.spawn_failed(spec.name, why, now))

    def output_target(self, spec, stream, target, passed, pipes):
        """What the child gets for `stream`: fd 1/2, a path it opens itself as the service's
        user (never opened here: that path is the user's to swap), or a capture pipe."""
        if target == "/dev/stdout":
            return 1
        if target == "/dev/stderr":
            return 2
        if target:
            return target
        pipe, wfd = self.capture.open(spec.name, stream, spec.json_logs)
        passed.append(wfd)
        pipes.append(pipe)
        return wfd

    # ---- control requests (called by the server) --------------------------------------
    def handle_request(self, request, token):
        from zei.core import control
        try:
            if request.get("cmd") == "reload":        # read in a child first (zei.shell.reloader)
                return self.execute(self.reloader.request(token))
            if request["cmd"] == "logs":
                todo = [A.Reply(token, history.handle(self.history, self.server, request, token,
                                                      self.sup.services))]
            else:
                todo = control.dispatch(self.sup, request, token, time.monotonic(), _version(),
                                        os.getpid(), self.priv.own_user)
        except Exception as e:            # every request gets a reply, even this one
            self.internal_error(f"while handling {request.get('cmd')!r}")
            todo = [A.Reply(token, {"ok": False, "code": "internal",
                                    "error": f"internal error: {type(e).__name__}: {e}"})]
        self.execute(todo)

    def close(self):
        for starting in list(self.starting.values()):
            starting.status.close()
        self.capture.close_all()
        self.health.close()
        self.reloader.close()
        if self.server is not None:
            self.server.close()
        self.out.flush()
        self.out.sink.drain(EXIT_DRAIN)


def _earliest(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def main(start, priv, reader=None):
    """Run as PID 1, given what zei.prelude found (`start`) and `zei reload`'s config
    reader (zei.prelude.reread). Returns the exit code."""
    # Command mode is tini's job: COMMAND's stdout is its own (`run IMAGE pg_dump > dump.sql`),
    # so zei's events and its sidecars' lines go to stderr, and only warnings by default.
    command = bool(start.get("config", {}).get("command"))
    out = logs.Output(2 if command else 1,
                      "json" if os.environ.get("ZEI_LOG_FORMAT", "").lower() == "json" else "text",
                      os.environ.get("ZEI_LOG_LEVEL", "warn" if command else "info").lower())
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
        daemon = Daemon(cfg, out, priv, start["socket"], path, reader)
    except OSError as e:
        out.event("error", "zei", f"cannot start: {e}")
        return EXIT_SYSTEM
    out.event("info", "zei", f"zei {_version()} as PID {os.getpid()}; config {path}; "
                             f"{priv.description}")
    if os.getpid() != 1:
        sub = start.get("subreaper")
        out.event("info" if sub is True else "warn", "zei",
                  "not PID 1: a child subreaper (orphans of the services are reaped here; "
                  "shutdown signals only zei's own descendants)" if sub is True else
                  f"not PID 1, and not a child subreaper ({sub}): orphans of the services go "
                  "to PID 1 and zei cannot reap them")
    if start.get("untrusted"):
        out.event("warn", "zei", f"not PID 1 and the config is not root's alone ({start['untrusted']}): "
                                 "running without the suid bit's privileges")
    return daemon.run()


def _version():
    from zei import __version__
    return __version__
