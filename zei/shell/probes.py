"""Health checks (exec, http, tcp) run inside the loop: nothing here ever blocks or raises.

How it works. start() begins one check for a service name and returns at once; at most one
check per name is in flight (a new start() cancels the old one). Every descriptor is
non-blocking and registered with the daemon's poller; the daemon hands readiness to
on_ready(), exits of our processes to exited() (its reaper is the only caller of waitpid)
and calls tick() when next_deadline() is due. Each check ends with exactly one call
on_result(name, seq, ok, detail) unless it is cancelled; detail is
{"output", "exit_code", "error", "duration"}. on_result may be called from inside start()
itself (an argument zei cannot use, an immediate connect error, a failed fork), and it is
always called after the check's own state is gone, so it may start the next check.

exec: spawn() (zei.shell.spawn: setsid, the service's user, env and cwd), elevated, with
one close-on-exec pipe as both stdout and stderr. The first OUTPUT_MAX bytes are kept and
the rest read and thrown away (a chatty check must not stall on a full pipe). The verdict
comes when the process has exited: the pipe is drained once more without waiting for EOF
(a background grandchild may hold it open) and closed, then the spawn status pipe says
whether the program ran at all (a SpawnError explains why not), else exit code 0 is
healthy. A check past its deadline, or cancelled, has its whole process group SIGKILLed
(elevated: it runs as another user); its pid is remembered until the daemon reaps it, so
that exit is recognised and swallowed (exited() returns True).

http / tcp: a SOCK_NONBLOCK socket to a numeric address (never a name: no DNS, which
would block), connect_ex, POLLOUT, SO_ERROR. tcp is healthy once connected. http sends
one GET (partial sends kept), reads until the status line is complete (at most
OUTPUT_MAX bytes) and is healthy iff its code is 200..399. Sockets past the deadline are
closed and reported as timed out.
"""
from __future__ import annotations

import errno as errno_mod
import os
import _signal
import _socket
import select

from zei.core import model
from zei.shell import spawn, users

OUTPUT_MAX = 4096             # bytes of a check's output (or an http reply's head) kept
READ_CHUNK = 65536
READS_PER_WAKEUP = 4          # a check writing without end cannot hold the loop
DRAIN_READS = 64              # after the exit: a grandchild may keep writing
POLL_IN = select.POLLIN | select.POLLPRI
POLL_OUT = select.POLLOUT
_CONNECTING, _SENDING, _RECEIVING = 0, 1, 2


class _Exec:
    __slots__ = ("name", "seq", "started", "deadline", "timeout", "pid", "fd", "status", "argv",
                 "cwd", "path", "out")

    def __init__(self, name, seq, now, timeout):
        self.name, self.seq, self.started, self.timeout = name, seq, now, timeout
        self.deadline = now + timeout
        self.pid = self.fd = self.status = None
        self.argv, self.cwd, self.path = [], None, None
        self.out = bytearray()


class _Conn:
    __slots__ = ("name", "seq", "started", "deadline", "timeout", "kind", "sock", "fd", "state",
                 "request", "reply")

    def __init__(self, name, seq, now, timeout, kind):
        self.name, self.seq, self.started, self.timeout = name, seq, now, timeout
        self.deadline = now + timeout
        self.kind = kind
        self.sock = self.fd = None
        self.state = _CONNECTING
        self.request = b""
        self.reply = b""


class Probes:
    def __init__(self, poller, privileges, devnull_fd, on_result):
        self.poller = poller
        self.priv = privileges
        self.devnull = devnull_fd
        self.on_result = on_result
        self.flight = {}          # name -> the check in flight (_Exec or _Conn)
        self.fds = {}             # registered fd -> its check
        self.pids = {}            # pid -> its _Exec in flight
        self.killed = set()       # pids we SIGKILLed whose exit the daemon has not reaped yet

    # ---- the daemon's entry points ----------------------------------------------------
    def start(self, name, seq, check, now, env=None, ident=None, cwd=None):
        """Begin `check` for `name`. on_result may be called before this returns.
        env None: zei's own environment; ident None: zei's effective ids as they are now."""
        self.cancel(name)
        timeout = check.timeout if check.timeout and check.timeout > 0 else 30.0
        if check.kind == "exec":
            c = _Exec(name, seq, now, timeout)
            self.flight[name] = c
            try:
                self._start_exec(c, check, env, ident, cwd)
            except spawn.SpawnError as e:
                self._fail(c, now, e.explain(c.argv, cwd, None, None, c.path))
            except Exception as e:                         # never out of here: PID 1
                self._fail(c, now, _what(e))
        else:
            c = _Conn(name, seq, now, timeout, check.kind)
            self.flight[name] = c
            try:
                self._start_conn(c, check, now)
            except Exception as e:
                self._fail(c, now, _what(e))

    def cancel(self, name):
        """Abandon `name`'s check in flight, if any: no on_result for it."""
        c = self.flight.get(name)
        if c is not None:
            self._drop(c)

    def owns(self, fd):
        return fd in self.fds

    def on_ready(self, fd, events, now):
        c = self.fds.get(fd)
        if c is None:
            return
        try:
            if type(c) is _Exec:
                self._read(c, READS_PER_WAKEUP)
            else:
                self._conn_ready(c, events, now)
        except Exception as e:
            if self.flight.get(c.name) is c:
                self._fail(c, now, _what(e))

    def exited(self, pid, code, sig, now):
        """A reaped child: True if it was one of ours (then the daemon is done with it)."""
        if pid in self.killed:
            self.killed.discard(pid)
            return True
        c = self.pids.pop(pid, None)
        if c is None:
            return False
        try:
            if c.fd is not None:
                self._read(c, DRAIN_READS)
            verdict = c.status.read() or "exec"           # after the exit it has decided
        except Exception as e:
            verdict = e
        self._release(c)
        if isinstance(verdict, spawn.SpawnError):
            self._fail(c, now, verdict.explain(c.argv, c.cwd, None, None, c.path), forget=False)
        elif isinstance(verdict, Exception):
            self._fail(c, now, _what(verdict), forget=False)
        elif sig is not None:
            name = model.SIGNAL_NAMES.get(sig)
            self._report(c, now, False, _output(c.out), None,
                         f"killed by signal {sig}" + (f" (SIG{name})" if name else ""))
        else:
            self._report(c, now, code == 0, _output(c.out), code,
                         None if code == 0 else f"exit code {code}")
        return True

    def next_deadline(self):
        if not self.flight:
            return None
        return min(c.deadline for c in self.flight.values())

    def tick(self, now):
        for c in [c for c in self.flight.values() if c.deadline <= now]:
            if self.flight.get(c.name) is c:               # an on_result may have moved on
                self._fail(c, now, f"timed out after {model.span(c.timeout)}")

    def close_all(self):
        """At exit: kill what runs, close every descriptor; no results."""
        for c in list(self.flight.values()):
            self._drop(c)
        self.killed.clear()

    # ---- exec -------------------------------------------------------------------------
    def _start_exec(self, c, check, env, ident, cwd):
        argv = [str(a) for a in check.command]
        if not argv:
            raise ValueError("an exec check needs a command")
        env = dict(os.environ) if env is None else env
        if ident is None:
            ident = users.Identity("zei", os.geteuid(), os.getegid(), tuple(os.getgroups()), "/")
        c.argv, c.cwd, c.path = argv, cwd, env.get("PATH")
        rfd, wfd = os.pipe2(os.O_CLOEXEC)
        try:
            os.set_blocking(rfd, False)
            with self.priv.elevated():
                pid, status_fd = spawn.spawn(argv, env, ident, cwd, wfd, wfd, self.devnull)
        except BaseException:
            os.close(rfd)
            raise
        finally:
            os.close(wfd)
        c.pid, c.fd, c.status = pid, rfd, spawn.Status(status_fd)
        self.pids[pid] = c
        self.fds[rfd] = c
        self.poller.register(rfd, POLL_IN)

    def _read(self, c, reads):
        """Up to `reads` reads of c's pipe: the first OUTPUT_MAX bytes kept; EOF closes it."""
        for _ in range(reads):
            try:
                data = os.read(c.fd, READ_CHUNK)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self._close_fd(c)
                return
            room = OUTPUT_MAX - len(c.out)
            if room > 0:
                c.out += data[:room]

    def _kill(self, c):
        """SIGKILL the check's process group (before its setsid: just the process)."""
        try:
            with self.priv.elevated():
                try:
                    os.killpg(c.pid, _signal.SIGKILL)
                except ProcessLookupError:
                    try:
                        os.kill(c.pid, _signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        except OSError:
            pass

    # ---- http / tcp -------------------------------------------------------------------
    def _start_conn(self, c, check, now):
        if check.kind not in ("http", "tcp"):
            raise ValueError(f"unknown health check kind {check.kind!r}")
        host = check.host or "127.0.0.1"
        if host == "localhost":
            host = "127.0.0.1"
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        port = check.port if check.port is not None else (80 if c.kind == "http" else None)
        if type(port) is not int or not 0 < port < 65536:
            raise ValueError(f"bad port {port!r}")
        family = _socket.AF_INET6 if ":" in host else _socket.AF_INET
        addr, _, scope = host.partition("%")
        try:
            _socket.inet_pton(family, addr)                 # numeric only: never a DNS lookup
        except (OSError, ValueError):
            raise ValueError(f"not an IP address: {host!r}") from None
        if family == _socket.AF_INET6:
            scope_id = (int(scope) if scope.isdigit() else _socket.if_nametoindex(scope)) if scope else 0
            target = (addr, port, 0, scope_id)
        else:
            target = (addr, port)
        if c.kind == "http":
            path = check.path or "/"
            if any(ch in path for ch in "\r\n \0"):
                raise ValueError(f"bad http path {path!r}")
            shown = f"[{host}]" if family == _socket.AF_INET6 else host
            if port != 80:
                shown = f"{shown}:{port}"
            c.request = (f"GET {path} HTTP/1.1\r\nHost: {shown}\r\nUser-Agent: zei\r\n"
                         "Accept: */*\r\nConnection: close\r\n\r\n").encode("utf-8", "replace")
        sock = _socket.socket(family, _socket.SOCK_STREAM | _socket.SOCK_NONBLOCK | _socket.SOCK_CLOEXEC)
        c.sock, c.fd = sock, sock.fileno()
        err = sock.connect_ex(target)
        if err not in (0, errno_mod.EINPROGRESS):
            self._fail(c, now, describe(err))
            return
        self.fds[c.fd] = c
        self.poller.register(c.fd, POLL_OUT)

    def _conn_ready(self, c, events, now):
        if c.state == _CONNECTING:
            err = c.sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_ERROR)
            if err:
                self._fail(c, now, describe(err))
                return
            if not events & POLL_OUT:
                if events & (select.POLLHUP | select.POLLERR):
                    self._fail(c, now, "connection failed")
                return
            if c.kind == "tcp":
                self._succeed(c, now, "", None)
                return
            c.state = _SENDING
        if c.state == _SENDING:
            sent = c.sock.send(c.request, _socket.MSG_NOSIGNAL)
            c.request = c.request[sent:]
            if not c.request:
                c.state = _RECEIVING
                self.poller.modify(c.fd, POLL_IN)
            return
        for _ in range(READS_PER_WAKEUP):
            try:
                data = c.sock.recv(OUTPUT_MAX - len(c.reply))
            except BlockingIOError:
                return
            if not data:
                self._fail(c, now, "connection closed before the status line"
                           + (f": {_output(c.reply)!r}" if c.reply else ""))
                return
            c.reply += data
            if b"\n" in c.reply:
                self._status_line(c, now)
                return
            if len(c.reply) >= OUTPUT_MAX:
                self._fail(c, now, f"no status line in the first {OUTPUT_MAX} bytes")
                return

    def _status_line(self, c, now):
        line = c.reply.split(b"\n", 1)[0].rstrip(b"\r").decode("utf-8", "replace")
        version, _, rest = line.partition(" ")
        code, _, reason = rest.partition(" ")
        if not version.startswith("HTTP/") or len(code) != 3 or not code.isascii() \
                or not code.isdigit():
            self._fail(c, now, f"not an HTTP response: {line[:200]!r}", line)
            return
        status = int(code)
        self._drop(c)
        if 200 <= status <= 399:
            self._report(c, now, True, line, None, None)
        else:
            self._report(c, now, False, line, None, f"HTTP {status} {reason}".rstrip())

    # ---- bookkeeping ------------------------------------------------------------------
    def _succeed(self, c, now, output, code):
        self._drop(c)
        self._report(c, now, True, output, code, None)

    def _fail(self, c, now, error, output="", forget=True):
        if forget:
            self._drop(c)
        self._report(c, now, False, output or (_output(c.out) if type(c) is _Exec else ""),
                     None, error)

    def _report(self, c, now, ok, output, code, error):
        if self.flight.get(c.name) is c:
            del self.flight[c.name]
        self.on_result(c.name, c.seq, ok, {"output": output, "exit_code": code, "error": error,
                                           "duration": max(0.0, now - c.started)})

    def _drop(self, c):
        """Forget c: out of flight, descriptors closed; a process still ours is SIGKILLed and
        remembered until reaped."""
        if self.flight.get(c.name) is c:
            del self.flight[c.name]
        if type(c) is _Exec and c.pid is not None and self.pids.get(c.pid) is c:
            self._kill(c)
            del self.pids[c.pid]
            self.killed.add(c.pid)
            if c.fd is not None:
                try:
                    self._read(c, DRAIN_READS)             # the output so far, for the report
                except Exception:
                    pass
        self._release(c)

    def _release(self, c):
        self._close_fd(c)
        if type(c) is _Exec and c.status is not None:
            c.status.close()
            c.status = None

    def _close_fd(self, c):
        fd = c.fd
        if fd is None:
            return
        c.fd = None
        if self.fds.pop(fd, None) is not None:
            try:
                self.poller.unregister(fd)
            except (KeyError, ValueError, OSError):
                pass
        try:
            if type(c) is _Conn:
                c.sock.close()
            else:
                os.close(fd)
        except OSError:
            pass


def describe(err):
    """An errno as the reason a check failed: 'connection refused (ECONNREFUSED)'."""
    text = os.strerror(err)
    text = text[:1].lower() + text[1:]
    return f"{text} ({errno_mod.errorcode.get(err, err)})"


def _what(e):
    if isinstance(e, OSError) and e.errno:
        return describe(e.errno)
    return f"{e}" if isinstance(e, ValueError) else f"{type(e).__name__}: {e}"


def _output(data):
    return bytes(data[:OUTPUT_MAX]).decode("utf-8", "replace")
