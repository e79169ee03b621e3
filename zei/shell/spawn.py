"""The only fork: start one service process exactly as its spec asks, without waiting for it.

Child path, in order: default signal dispositions and no wakeup fd, then an empty signal mask,
setsid (own session and process group), stdin from /dev/null and the output descriptors on
1 and 2, every other descriptor closed, setgroups -> setresgid -> setresuid (each skipped
when it would change nothing: zei without privileges runs services as itself), then — as the
service's user — open the output files the config names, chdir, execve of each candidate
path (PATH search like execvp: the first error other than ENOENT wins). Any failure is
written as "STEP:ERRNO" to a close-on-exec pipe and the child _exit(127)s.

spawn() returns at once with the pid and that pipe's read end (non-blocking): the loop polls
it, and Status reads it — EOF with nothing written means the program was exec'd, a message
means it was not. PID 1 never waits for a child: an output path the service's user swapped
for a FIFO, or a slow file system, blocks only that child, which `zei stop` and shutdown
signal like any other. The dead child of a failed spawn is left for the reaper.

The parent blocks all signals across fork so that a signal cannot run zei's handler in the
child (it would write to zei's wakeup pipe).

Command mode's `main` (`foreground`) differs in three ways: it keeps zei's stdin, it gets a
process group of its own in zei's session instead of a session (setpgid, not setsid: it
must keep zei's controlling terminal), and when stdin is a terminal it becomes the
terminal's foreground process group (tcsetpgrp, with SIGTTOU ignored for that one call), so
Ctrl-C and Ctrl-Z reach it and not zei.
"""
from __future__ import annotations

import errno as errno_mod
import os

import _signal

from zei.shell import signals

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_ALL = frozenset(int(s) for s in _signal.valid_signals())
_SIG_DFL, _SIG_IGN, _TTOU = int(_signal.SIG_DFL), int(_signal.SIG_IGN), int(_signal.SIGTTOU)
_BLOCK, _SETMASK = int(_signal.SIG_BLOCK), int(_signal.SIG_SETMASK)


class SpawnError(Exception):
    def __init__(self, step, err, pid=None, what=""):
        self.step, self.errno, self.pid, self.what = step, err, pid, what
        super().__init__(f"{step}: {self.reason}")

    @property
    def reason(self):
        if self.errno:
            return f"{os.strerror(self.errno)} ({errno_mod.errorcode.get(self.errno, self.errno)})"
        return self.what if self.step == "arguments" else f"unexpected {self.what or 'error'}"

    def explain(self, argv, cwd=None, stdout=None, stderr=None, path=None):
        """The error naming what it was about, as docker does: exec "nginx": ... ."""
        what = {"stdout": stdout, "stderr": stderr, "working_dir": cwd}.get(self.step)
        if self.step == "exec":
            if self.errno == errno_mod.ENOENT and "/" not in argv[0]:
                return f'exec "{argv[0]}": executable file not found in PATH {path or DEFAULT_PATH} (ENOENT)'
            return f'exec "{argv[0]}": {self.reason}'
        if what:
            return f"{self.step} {what}: {self.reason}"
        return str(self)


def candidates(program, path):
    """Paths to try for argv[0], docker-style: names with a slash as is, else each PATH dir."""
    if "/" in program:
        return [program]
    return [os.path.join(d or ".", program) for d in (path or DEFAULT_PATH).split(":")]


def spawn(argv, env, ident, cwd, stdout, stderr, devnull_fd, foreground=False, tty=False):
    """Fork; returns (pid, status fd) or raises SpawnError. stdout/stderr: a descriptor to
    pass, or an absolute path the child opens (append, create 0644) as the service's user.
    foreground: zei's stdin and a process group in zei's session; tty: and the terminal."""
    try:
        progs = [os.fsencode(p) for p in candidates(argv[0], env.get("PATH"))]
        argv_b = [os.fsencode(a) for a in argv]
        env_b = {os.fsencode(k): os.fsencode(v) for k, v in env.items()}
        paths = [os.fsencode(t) if isinstance(t, str) else None for t in (stdout, stderr)]
        if any(b"\0" in x for x in progs + argv_b + [k + v for k, v in env_b.items()]
               + [p for p in paths if p]):
            raise ValueError("embedded null byte")
    except (UnicodeError, ValueError) as e:         # the config rejects these; never crash here
        raise SpawnError("arguments", 0, what=str(e)) from None
    rfd, wfd = os.pipe2(os.O_CLOEXEC)
    old_mask = _signal.pthread_sigmask(_BLOCK, _ALL)
    try:
        pid = os.fork()
    except OSError as e:
        _signal.pthread_sigmask(_SETMASK, old_mask)
        os.close(rfd)
        os.close(wfd)
        raise SpawnError("fork", e.errno or 0) from None
    if pid == 0:                                      # child: never returns
        _child(argv_b, env_b, progs, ident, cwd, stdout, stderr, paths, devnull_fd, wfd,
               foreground, tty)
    if foreground:                   # both sides set the group: no window without it
        try:
            os.setpgid(pid, pid)
        except OSError:
            pass
    _signal.pthread_sigmask(_SETMASK, old_mask)
    os.close(wfd)
    os.set_blocking(rfd, False)
    return pid, rfd


class Status:
    """What the child's status pipe says: read() until it returns a verdict."""
    __slots__ = ("fd", "data")

    def __init__(self, fd):
        self.fd, self.data = fd, b""

    def read(self):
        """None while undecided; "exec" once the program runs; else the SpawnError.
        After the child has exited the pipe is at EOF, so this always decides."""
        while True:
            try:
                chunk = os.read(self.fd, 256)
            except BlockingIOError:
                return None
            except OSError as e:
                return SpawnError("status", e.errno or 0)
            if not chunk:
                break
            self.data += chunk
            if len(self.data) > 4096:                  # the child writes one short message
                break
        if not self.data:
            return "exec"
        step, _, rest = self.data.decode("ascii", "replace").partition(":")
        err, _, what = rest.partition(":")
        return SpawnError(step, int(err) if err.isdigit() else 0, what=what)

    def close(self):
        try:
            os.close(self.fd)
        except OSError:
            pass


def _child(argv, env_b, progs, ident, cwd, stdout, stderr, paths, devnull_fd, wfd,
           foreground=False, tty=False):
    step = "signals"
    try:
        signals.reset_in_child()
        if foreground:
            step = "setpgid"
            os.setpgid(0, 0)
            if tty:
                step = "tcsetpgrp"
                _signal.signal(_TTOU, _SIG_IGN)  # we are not in the foreground yet
                try:
                    os.tcsetpgrp(0, os.getpid())
                except OSError:
                    pass                        # not our controlling terminal: run without it
                _signal.signal(_TTOU, _SIG_DFL)
        else:
            step = "setsid"
            os.setsid()
        _signal.pthread_sigmask(_SETMASK, ())   # defaults now: a stop's SIGTERM works even before exec
        step = "stdio"
        # Move sources above 2 first so dup2 onto 0..2 cannot clobber one another; a stream
        # that goes to a file gets /dev/null until the file is opened below, as the user.
        src = [os.dup(0 if foreground else devnull_fd)] + [os.dup(devnull_fd if p else fd) for p, fd in
                                                           zip(paths, (stdout, stderr))]
        for target, fd in enumerate(src):
            os.dup2(fd, target, inheritable=True)
        step = "close_fds"
        os.closerange(3, wfd)
        os.closerange(wfd + 1, 1 << 20)
        # Each call only when it changes something: without privileges (zei's own user)
        # they would all fail with EPERM, though they would change nothing.
        step = "setgroups"
        if set(os.getgroups()) != set(ident.groups):
            os.setgroups(list(ident.groups))
        step = "setgid"
        if os.getresgid() != (ident.gid,) * 3:
            os.setresgid(ident.gid, ident.gid, ident.gid)
        step = "setuid"
        if os.getresuid() != (ident.uid,) * 3:
            os.setresuid(ident.uid, ident.uid, ident.uid)
        for target, (step, path) in enumerate(zip(("stdout", "stderr"), paths), 1):
            if path:
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOCTTY, 0o644)
                if fd != target:
                    os.dup2(fd, target, inheritable=True)
                    os.close(fd)
        if cwd:
            step = "working_dir"
            os.chdir(cwd)
        step = "exec"
        first_error = None
        for prog in progs:
            try:
                os.execve(prog, argv, env_b)
            except OSError as e:
                if e.errno not in (errno_mod.ENOENT, errno_mod.ENOTDIR) and first_error is None:
                    first_error = e
        raise first_error or OSError(errno_mod.ENOENT, "not found")
    except OSError as e:
        _report(wfd, step, e.errno or 0)
    except BaseException as e:
        _report(wfd, step, 0, type(e).__name__)
    finally:
        os._exit(127)


def _report(wfd, step, err, what=""):
    try:
        os.write(wfd, f"{step}:{err}:{what}".encode())
    except OSError:
        pass
