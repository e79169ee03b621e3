"""Where the control socket is: one rule, shared by the daemon and the CLI.

- `--socket PATH` or ZEI_SOCKET: that path and nothing else.
- Otherwise /run/zei/zei.sock. A daemon without root (zei.shell.privileges: not root, or
  no privileges at all) that cannot set it up — a root-owned /run, as in most images — uses
  its *fallback* instead, a directory its own user owns:
  `$XDG_RUNTIME_DIR/zei/zei.sock` when XDG_RUNTIME_DIR is an absolute path to a directory
  (not a symbolic link) owned by that user with mode 0700, else `/tmp/zei-UID/zei.sock`.
  zei.shell.sockdir makes and checks that directory exactly as it does /run/zei (by
  descriptor, O_NOFOLLOW, owner and mode). The daemon logs the socket it uses.
- The CLI uses /run/zei/zei.sock when it exists; else the fallback of its own uid, and when
  the caller is root (`docker exec -u root`) the fallback of PID 1's uid (from
  /proc/1/status and /proc/1/environ), each only when its directory is a real directory
  owned by that uid with no group or other access (what the daemon makes); else
  /run/zei/zei.sock, to say that nothing answers there.
"""
from __future__ import annotations

import os
import posixpath
import stat

DEFAULT = "/run/zei/zei.sock"
NAME = "zei.sock"


def explicit(option, environ):
    """The socket the command line or ZEI_SOCKET names, or None."""
    return option or environ.get("ZEI_SOCKET") or None


def fallback_dir(uid, xdg, xdg_stat):
    """The fallback directory of `uid` (pure): xdg_stat is the lstat of XDG_RUNTIME_DIR."""
    if (xdg and xdg.startswith("/") and xdg_stat is not None and stat.S_ISDIR(xdg_stat.st_mode)
            and xdg_stat.st_uid == uid and stat.S_IMODE(xdg_stat.st_mode) == 0o700):
        return posixpath.join(posixpath.normpath(xdg), "zei")
    return f"/tmp/zei-{uid}"


def fallback(uid, environ):
    """The fallback socket path of `uid` whose environment is `environ`."""
    xdg = environ.get("XDG_RUNTIME_DIR")
    st = None
    if xdg and xdg.startswith("/"):
        try:
            st = os.lstat(xdg)
        except (OSError, ValueError):
            st = None
    return posixpath.join(fallback_dir(uid, xdg, st), NAME)


def for_daemon(option, holds_root, uid, environ):
    """The paths the daemon tries, in order: a path named explicitly; /run/zei/zei.sock
    with root; without root that, then the fallback of `uid`."""
    named = explicit(option, environ)
    if named:
        return [os.path.abspath(named)]
    if holds_root:
        return [DEFAULT]
    return [DEFAULT, fallback(uid, environ)]


def for_cli(option, uid, environ, exists=os.path.exists, owned=None, pid1=None):
    """The socket the CLI talks to (see the module docstring)."""
    named = explicit(option, environ)
    if named:
        return named
    if exists(DEFAULT):
        return DEFAULT
    owned = owned or _owned_dir
    others = [(uid, environ)]
    if uid == 0:
        daemon = (pid1 or _pid1)()
        if daemon is not None and daemon[0] != 0:
            others.append(daemon)
    for who, env in others:
        path = fallback(who, env)
        if owned(posixpath.dirname(path), who) and exists(path):
            return path
    return DEFAULT


def _owned_dir(path, uid):
    """A real directory of `uid` that nobody else may enter (as the daemon makes it)."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == uid and not st.st_mode & 0o077


def _pid1():
    """(effective uid, environment) of PID 1, or None where they cannot be read."""
    try:
        with open("/proc/1/status", "rb") as f:
            uid = next(int(line.split()[2]) for line in f if line.startswith(b"Uid:"))
        with open("/proc/1/environ", "rb") as f:
            raw = f.read(1 << 20)
    except (OSError, ValueError, IndexError, StopIteration):
        return None
    env = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep and key == b"XDG_RUNTIME_DIR":
            env["XDG_RUNTIME_DIR"] = os.fsdecode(value)
    return uid, env
