"""The control socket's directory and file, set up by root without trusting anyone else.

The daemon sets the socket up while it is still root (before it parks), in a directory
that may already exist. Whoever can change a path that root then follows or modifies can
make root act on a file of their choosing, so:

- The path is walked one component at a time from `/` through descriptors (O_NOFOLLOW).
  Every directory on the way must be owned by root or the app identity (or, without root,
  the current user); it may be writable by others (an emptyDir at /run), since what root
  does next goes through descriptors and nobody else can rename a 0700 directory. A symbolic link on the way is
  followed only if it is owned by one of those (`/var/run -> /run`); the socket directory
  itself must not be one.
- A missing socket directory is made 0700 (as the app identity where the app identity can
  write the parent, else as root) and fixed up through its descriptor: fchown to the app
  identity, fchmod 0700. An existing one must pass the same owner and mode checks; it is
  refused with a one-line reason, never repaired.
- Everything after that happens relative to the open directory descriptor: a stale
  socket (a socket owned by root or the app identity) is unlinked; anything else there is
  refused. The socket is bound with umask 0111 (mode 0666: access is decided by the
  directory and SO_PEERCRED) by the directory's owner, so a socket in the app identity's
  directory belongs to it; nothing is chmod'ed or chown'ed by path.
- At exit the socket is unlinked only if the name still holds the socket bound here.

Errors are SocketSetupError (an OSError) carrying a message for "cannot start: ...".
"""
from __future__ import annotations

import contextlib
import errno
import _socket
import os
import stat

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
WALK_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
MAX_SYMLINKS = 40
MAX_PATH = 107                   # sun_path holds 108 bytes with the terminating NUL


class SocketSetupError(OSError):
    """The socket cannot be set up safely; str() is the one-line reason."""

    def __init__(self, message):
        super().__init__(message)


class SocketFile:
    """The listening socket, its directory (open) and the identity of the bound file."""

    def __init__(self, path, priv, backlog=64):
        self.path = path = os.path.abspath(path)
        self.priv = priv
        if len(os.fsencode(path)) > MAX_PATH:
            raise SocketSetupError(f"socket path {path} is too long ({len(os.fsencode(path))} "
                                   f"bytes; at most {MAX_PATH})")
        self.dir, self.name = os.path.split(path)
        if not self.name:
            raise SocketSetupError(f"socket path {path} names a directory")
        self.trusted = {0, os.geteuid()} | ({priv.app_uid} if priv.app_uid is not None else set())
        self.dir_fd = None
        self.sock = None
        try:
            self.dir_fd = self._open_dir()
            st = os.fstat(self.dir_fd)
            # Root acts only in a directory nobody else can write; elsewhere the app does.
            self.as_app = priv.cycling and not _root_only(st)
            self._remove_stale()
            self.sock = self._bind(backlog)
        except SocketSetupError:
            self.close()
            raise
        except OSError as e:
            self.close()
            raise SocketSetupError(f"cannot set up the control socket {path}: "
                                   f"{e.strerror or e}") from None

    # ---- the directory ----------------------------------------------------------------
    def _open_dir(self):
        parts = [p for p in self.dir.split("/") if p]
        if not parts:
            fd = os.open("/", DIR_FLAGS)
            self._check(os.fstat(fd), "/", "socket directory")
            return fd
        final = parts.pop()
        parent = self._walk(parts)
        try:
            return self._open_final(parent, final)
        finally:
            os.close(parent)

    def _walk(self, parts):
        """An O_PATH descriptor of the directory `parts` names, every step checked."""
        stack, names = [os.open("/", WALK_FLAGS)], []
        todo = parts[::-1]                      # a stack: the next component last
        hops = 0
        try:
            self._check(os.fstat(stack[0]), "/", "directory")
            while todo:
                part = todo.pop()
                if part in ("", "."):
                    continue
                if part == "..":
                    if len(stack) > 1:
                        os.close(stack.pop())
                        names.pop()
                    continue
                shown = "/" + "/".join(names + [part])
                try:
                    st = os.stat(part, dir_fd=stack[-1], follow_symlinks=False)
                except FileNotFoundError:
                    raise SocketSetupError(f"cannot use socket directory {self.dir}: "
                                           f"{shown} does not exist") from None
                if stat.S_ISLNK(st.st_mode):
                    if st.st_uid not in self.trusted:
                        raise SocketSetupError(f"{shown} is a symbolic link owned by uid {st.st_uid}; "
                                               f"refusing to follow it to the socket directory")
                    hops += 1
                    if hops > MAX_SYMLINKS:
                        raise SocketSetupError(f"too many symbolic links in {self.dir}")
                    target = os.readlink(part, dir_fd=stack[-1])
                    if target.startswith("/"):
                        while len(stack) > 1:
                            os.close(stack.pop())
                        names = []
                    todo.extend(target.split("/")[::-1])
                    continue
                fd = os.open(part, WALK_FLAGS, dir_fd=stack[-1])
                stack.append(fd)
                names.append(part)
                self._check(os.fstat(fd), shown, "directory")
            return stack.pop()
        finally:
            for fd in stack:
                os.close(fd)

    def _open_final(self, parent, final):
        shown = self.dir
        for _ in range(2):                      # a second round if someone made it meanwhile
            try:
                st = os.stat(final, dir_fd=parent, follow_symlinks=False)
            except FileNotFoundError:
                st = None
            if st is not None and stat.S_ISLNK(st.st_mode):
                raise SocketSetupError(f"socket directory {shown} is a symbolic link; refusing it")
            if st is not None and not stat.S_ISDIR(st.st_mode):
                raise SocketSetupError(f"socket directory {shown} exists and is not a directory")
            if st is None:
                creator = self._as(not _root_only(os.fstat(parent)))
                try:
                    with creator[1]:
                        os.mkdir(final, 0o700, dir_fd=parent)
                except FileExistsError:
                    continue
                fd = self._open_nofollow(final, parent)
                st = os.fstat(fd)
                if st.st_uid == creator[0]:     # the directory made just now: fix it up by fd
                    if self.priv.cycling and st.st_uid == 0:
                        os.fchown(fd, self.priv.app_uid, self.priv.app_gid)
                    os.fchmod(fd, 0o700)
                    st = os.fstat(fd)
            else:
                fd = self._open_nofollow(final, parent)
                st = os.fstat(fd)
            try:
                self._check(st, shown, "socket directory")
            except SocketSetupError:
                os.close(fd)
                raise
            return fd
        raise SocketSetupError(f"socket directory {shown} keeps changing")

    def _open_nofollow(self, final, parent):
        try:
            return os.open(final, DIR_FLAGS, dir_fd=parent)
        except OSError as e:
            if e.errno in (errno.ELOOP, errno.ENOTDIR):     # replaced meanwhile
                raise SocketSetupError(f"socket directory {self.dir} changed while zei opened it; "
                                       f"refusing it") from None
            raise

    def _check(self, st, shown, what):
        mode = stat.S_IMODE(st.st_mode)
        if st.st_uid not in self.trusted:
            raise SocketSetupError(f"{what} {shown} is owned by uid {st.st_uid}, "
                                   f"not by root or the app identity")
        # A parent anyone may write (a Kubernetes emptyDir mounted at /run is 0777) is fine:
        # it was opened by descriptor, and others can neither rename nor empty the 0700
        # socket directory in it. The socket directory itself must be its owner's alone.
        if mode & 0o022 and not mode & stat.S_ISVTX and what != "directory":
            advice = "make it 0700 or remove it" if what == "socket directory" else \
                "make it writable by its owner only (or sticky, like /tmp)"
            raise SocketSetupError(f"{what} {shown} is writable by group or others "
                                   f"(mode {mode:04o}); {advice}")

    def _as(self, app):
        """(uid the action runs as, context) — the app identity or who we are."""
        if app and self.priv.cycling:
            return self.priv.app_uid, self.priv.as_app()
        return os.geteuid(), contextlib.nullcontext()

    # ---- the socket -------------------------------------------------------------------
    def _remove_stale(self):
        try:
            st = os.stat(self.name, dir_fd=self.dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(st.st_mode):
            raise SocketSetupError(f"{self.path} exists and is not a socket; refusing to replace it")
        if st.st_uid not in self.trusted:
            raise SocketSetupError(f"{self.path} is a socket of uid {st.st_uid}; refusing to replace it")
        if self._answers():
            raise SocketSetupError(f"another zei is running on {self.path}; use --socket (or "
                                   "ZEI_SOCKET) to give this one its own")
        os.unlink(self.name, dir_fd=self.dir_fd)          # a stale socket of an earlier run

    def _answers(self):
        """Whether a daemon listens on the socket already (a second zei must not take it)."""
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_NONBLOCK | _socket.SOCK_CLOEXEC)
        cwd = os.open(".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fchdir(self.dir_fd)                  # connect() has no *at form either
            return sock.connect_ex(self.name) in (0, errno.EAGAIN, errno.EINPROGRESS)
        finally:
            os.fchdir(cwd)
            os.close(cwd)
            sock.close()

    def _bind(self, backlog):
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_NONBLOCK | _socket.SOCK_CLOEXEC)
        cwd = os.open(".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fchdir(self.dir_fd)                  # bind() has no *at form: bind relative to it
            umask = os.umask(0o111)                 # the socket is made 0666, no chmod afterwards
            try:
                with self._as(self.as_app)[1]:
                    sock.bind(self.name)
            finally:
                os.umask(umask)
                os.fchdir(cwd)
            st = os.stat(self.name, dir_fd=self.dir_fd, follow_symlinks=False)
            self.bound = (st.st_dev, st.st_ino)
            sock.listen(backlog)
        except OSError as e:
            sock.close()
            raise SocketSetupError(f"cannot create the control socket in {self.dir}: "
                                   f"{e.strerror or e}") from None
        finally:
            os.close(cwd)
        return sock

    def close(self):
        """Close the socket and unlink it if the name still holds it."""
        if self.sock is not None:
            self.sock.close()
            self.sock = None
            try:
                st = os.stat(self.name, dir_fd=self.dir_fd, follow_symlinks=False)
                if (st.st_dev, st.st_ino) == self.bound:
                    # Parked by now: root is taken back only for a directory only root can write.
                    ctx = contextlib.nullcontext() if self.as_app or not self.priv.cycling \
                        else self.priv.elevated()
                    with ctx:
                        os.unlink(self.name, dir_fd=self.dir_fd)
            except OSError:
                pass
        if self.dir_fd is not None:
            os.close(self.dir_fd)
            self.dir_fd = None


def _root_only(st):
    """Only root can change this directory's entries."""
    return st.st_uid == 0 and not st.st_mode & 0o022
