"""The only fork: start one service process exactly as its spec asks.

Child path, in order: default signal dispositions and no wakeup fd, empty signal mask,
setsid (own session and process group), stdin from /dev/null and the output descriptors on
1 and 2, every other descriptor closed, setgroups -> setresgid -> setresuid, chdir, execve
of each candidate path (PATH search like execvp: the first error other than ENOENT wins).
Any failure is written as "STEP:ERRNO" to a close-on-exec pipe and the child _exit(127)s;
the parent reads the pipe until EOF, so spawn() either returns a pid that has exec'd or
raises SpawnError naming the step and the errno. The dead child of a failed spawn is left
for the reaper, like every other child.

The parent blocks all signals across fork so that a signal cannot run zei's handler in the
child (it would write to zei's wakeup pipe).
"""
from __future__ import annotations

import errno as errno_mod
import os
import signal

import _signal

from zei import signals

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_ALL = frozenset(int(s) for s in signal.valid_signals())
_BLOCK, _SETMASK = int(signal.SIG_BLOCK), int(signal.SIG_SETMASK)


class SpawnError(Exception):
    def __init__(self, step, err, pid=None, what=""):
        self.step, self.errno, self.pid = step, err, pid
        if err:
            text = f"{os.strerror(err)} ({errno_mod.errorcode.get(err, err)})"
        else:
            text = f"unexpected {what or 'error'}"
        super().__init__(f"{step}: {text}")


def candidates(program, path):
    """Paths to try for argv[0], docker-style: names with a slash as is, else each PATH dir."""
    if "/" in program:
        return [program]
    return [os.path.join(d or ".", program) for d in (path or DEFAULT_PATH).split(":")]


def spawn(argv, env, ident, cwd, stdout_fd, stderr_fd, devnull_fd):
    """Fork and exec; returns the child's pid or raises SpawnError."""
    progs = [os.fsencode(p) for p in candidates(argv[0], env.get("PATH"))]
    env_b = {os.fsencode(k): os.fsencode(v) for k, v in env.items()}
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
        _child(argv, env_b, progs, ident, cwd, stdout_fd, stderr_fd, devnull_fd, wfd)
    _signal.pthread_sigmask(_SETMASK, old_mask)
    os.close(wfd)
    try:
        data = b""
        while True:
            chunk = os.read(rfd, 256)
            if not chunk:
                break
            data += chunk
    finally:
        os.close(rfd)
    if data:
        step, _, rest = data.decode("ascii", "replace").partition(":")
        err, _, what = rest.partition(":")
        raise SpawnError(step, int(err) if err.isdigit() else 0, pid, what)
    return pid


def _child(argv, env_b, progs, ident, cwd, stdout_fd, stderr_fd, devnull_fd, wfd):
    step = "signals"
    try:
        signals.reset_in_child()
        step = "setsid"
        os.setsid()
        step = "stdio"
        # Move sources above 2 first so dup2 onto 0..2 cannot clobber one another.
        src = [os.dup(devnull_fd), os.dup(stdout_fd), os.dup(stderr_fd)]
        for target, fd in enumerate(src):
            os.dup2(fd, target, inheritable=True)
        step = "close_fds"
        os.closerange(3, wfd)
        os.closerange(wfd + 1, 1 << 20)
        step = "setgroups"
        os.setgroups(list(ident.groups))
        step = "setgid"
        os.setresgid(ident.gid, ident.gid, ident.gid)
        step = "setuid"
        os.setresuid(ident.uid, ident.uid, ident.uid)
        if cwd:
            step = "working_dir"
            os.chdir(cwd)
        step = "exec"
        first_error = None
        _signal.pthread_sigmask(_SETMASK, ())
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
