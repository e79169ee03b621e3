"""Helpers of tests/binary (the frozen artifact: dist/zei or $ZEI_BIN).

The tests skip only when the binary does not exist AND $ZEI_REQUIRE_BIN is unset; `make test`
sets ZEI_REQUIRE_BIN=1, so there a missing binary (or a missing tool the tests need, or not
being root) is a failure, never a silent skip.
"""
from __future__ import annotations

import os
import sys
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "helpers"))
from polling import poll_until  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
NOBODY = 65534
REQUIRED = bool(os.environ.get("ZEI_REQUIRE_BIN"))


def zei_bin_path() -> Path:
    return Path(os.environ.get("ZEI_BIN") or ROOT / "dist" / "zei").resolve()


def unavailable(reason: str):
    """Skip, unless the suite was told the binary and its test tools must be there."""
    if REQUIRED:
        pytest.fail(f"{reason} (ZEI_REQUIRE_BIN is set)")
    pytest.skip(reason)


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        unavailable(f"{name} is not installed")
    return path


def require_root():
    if os.geteuid() != 0:
        unavailable("needs root (namespaces, chroot, suid copies)")


_namespaces = None


def require_namespaces():
    """PID + mount namespaces (root, and CAP_SYS_ADMIN: not inside a `docker build`)."""
    global _namespaces
    require_root()
    if _namespaces is None:
        probe = subprocess.run([require_tool("unshare"), "--pid", "--fork", "--mount",
                                "--mount-proc", "true"], capture_output=True, text=True)
        _namespaces = probe.returncode == 0, probe.stderr.strip()
    if not _namespaces[0]:
        unavailable(f"cannot create PID/mount namespaces here: {_namespaces[1]}")


def suid_capable_base() -> Path:
    """A directory on a file system mounted without nosuid (so suid copies really run suid)."""
    for candidate in (tempfile.gettempdir(), "/var/tmp", str(ROOT / ".cache")):
        if os.path.isdir(candidate) and not os.statvfs(candidate).f_flag & os.ST_NOSUID:
            return Path(candidate)
    unavailable("no suid-capable directory for the suid tests")


def run(argv, env=None, user=None, cwd=None, timeout=30, stdin=subprocess.DEVNULL):
    """Run argv with exactly `env` (default: empty), capture text output.

    user: uid (= gid) to run as, with no supplementary groups. The switch happens in the
    forked child right before execve (like `setpriv --reuid --regid --clear-groups`, but
    with no helper program in between that would itself honour LD_PRELOAD and friends).
    """
    ids = {} if user is None else {"user": user, "group": user, "extra_groups": []}
    return subprocess.run([str(a) for a in argv], env={} if env is None else env, cwd=cwd,
                          stdin=stdin, capture_output=True, text=True, timeout=timeout, **ids)


def wait_for(predicate, timeout=10.0, what="condition"):
    return poll_until(predicate, timeout, 0.02, what)


class Pid1:
    """`unshare --pid --fork [options] ARGV...` with output to a file: ARGV ends up as PID 1 of
    the new PID namespace (exec keeps the PID: a `sh -c '...; exec chroot R /zei'` works)."""

    def __init__(self, argv, log: Path, env=None, options=("--mount-proc",)):
        require_namespaces()
        self.log = log
        cmd = [require_tool("unshare"), "--pid", "--fork", *options]
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(cmd + [str(a) for a in argv],
                                         env={} if env is None else env,
                                         stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT)
        # The namespace's PID 1 is unshare's only child.
        self.pid = wait_for(self._child, what="unshare's child")

    def _child(self):
        try:
            kids = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        except FileNotFoundError:
            return None
        return int(kids[0]) if kids else None

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_log(self, pattern, timeout=10.0):
        return wait_for(lambda: re.search(pattern, self.output(), re.M), timeout,
                        f"{pattern!r} in the log:\n{self.output()}")

    def stop(self, timeout=15.0) -> int:
        """SIGTERM to PID 1 of the namespace, then its exit code (unshare passes it on)."""
        if self.proc.poll() is None:
            try:
                os.kill(self.pid, 15)
            except ProcessLookupError:
                pass
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.pid, 9)
            self.proc.wait(5)
            raise AssertionError(f"PID 1 ignored SIGTERM:\n{self.output()}")

    def kill(self):
        if self.proc.poll() is None:
            try:
                os.kill(self.pid, 9)
            except ProcessLookupError:
                pass
            self.proc.wait(5)
