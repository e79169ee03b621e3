"""Whether a config file is root's alone: the condition for a daemon that is not PID 1 to
keep the privileges the suid bit gave it (zei.__main__).

The path is resolved (a Kubernetes ConfigMap is a chain of symlinks), then walked from `/`
one component at a time by descriptor (O_PATH | O_NOFOLLOW): every directory must belong
to root and be writable by nobody else (or be sticky, like /tmp: others cannot rename or
replace root's entries there), and the file must be a regular file of root's that nobody
else may write. Then nobody but root can change what the daemon will read.
"""
from __future__ import annotations

import os
import stat


def untrusted(path):
    """None if only root can change `path`, else why not (one line)."""
    try:
        real = os.path.realpath(path)
    except (OSError, ValueError) as e:
        return f"cannot resolve {path}: {e}"
    parts = [p for p in real.split("/") if p]
    fd = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    where = "/"
    try:
        for i, name in enumerate(parts):
            why = _check(os.fstat(fd), where, directory=True)
            if why:
                return why
            where = "/" + "/".join(parts[:i + 1])
            try:
                nfd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            except OSError as e:
                return f"cannot open {where}: {e.strerror}"
            os.close(fd)
            fd = nfd
        return _check(os.fstat(fd), where, directory=False)
    finally:
        os.close(fd)


def _check(st, where, directory):
    if directory and not stat.S_ISDIR(st.st_mode):
        return f"{where} is not a directory"
    if not directory and not stat.S_ISREG(st.st_mode):
        return f"{where} is not a regular file"
    if st.st_uid != 0:
        return f"{where} belongs to uid {st.st_uid}, not root"
    if st.st_mode & 0o022 and not (directory and st.st_mode & stat.S_ISVTX):
        return f"{where} is writable by {'its group' if st.st_mode & 0o020 else 'others'}"
    return None
