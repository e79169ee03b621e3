"""Harness: zei as PID 1 of a fresh PID + mount namespace, with real services.

`zei_run(config_text)` writes the config, starts `unshare --pid --mount --fork --mount-proc
<zei> -c FILE --socket SOCK` with stdout captured to a file, and returns a ZeiProc:
    .wait_log(regex)      poll the captured output until it matches (deadline, no sleeps-and-hope)
    .cli(*args)           run the zei CLI against the daemon's socket (from outside)
    .inside(*cmd)         run a command inside the namespace (nsenter plays `docker exec`)
    .signal(sig)          send a signal to zei (PID 1 of the namespace)
    .wait_exit()          the daemon's exit code
The zei under test is ZEI_BIN (the frozen binary) when set, else `python -m zei` from the tree.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "helpers"))
from polling import poll_until  # noqa: E402,F401  (the suites' one way to wait)

ROOT = Path(__file__).resolve().parents[2]
PROBE = str(ROOT / "tests" / "helpers" / "probe.py")
PYTHON3 = "/usr/bin/python3"


def zei_command():
    binary = os.environ.get("ZEI_BIN")
    if binary:
        return [str(Path(binary).resolve())]
    return [sys.executable, "-m", "zei"]


def zei_env(extra=None):
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT)
    env.pop("ZEI_SOCKET", None)
    env.update(extra or {})
    return env


class ZeiProc:
    def __init__(self, tmp, config_text, env=None, args=(), prefix=(), sock=None, inner=()):
        """prefix: before unshare; inner: between unshare and zei (`setpriv ...`, which then
        execs zei as PID 1). sock=False: no --socket, zei (and .cli) pick the socket."""
        self.tmp = tmp
        self.config = tmp / "zei.yaml"
        self.config.write_text(config_text)
        self.sock = None if sock is False else sock or str(tmp / "run" / "zei.sock")
        self.log_path = tmp / "zei.log"
        self.log_file = open(self.log_path, "wb")
        sock_args = ["--socket", self.sock] if self.sock else []
        cmd = [*prefix, "unshare", "--pid", "--mount", "--fork", "--mount-proc", "--kill-child",
               *inner, *zei_command(), "-c", str(self.config), *sock_args, *args]
        self.proc = subprocess.Popen(cmd, stdout=self.log_file, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=zei_env(env), cwd=str(ROOT))
        self._host_pid = None

    @property
    def host_pid(self):
        """Host pid of zei (PID 1 inside): the only child of unshare."""
        if self._host_pid is None:
            def child():
                try:
                    with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
                        kids = f.read().split()
                except FileNotFoundError:
                    return None
                return int(kids[0]) if kids else None
            self._host_pid = poll_until(child, 10, what="zei to start")
        return self._host_pid

    def log(self):
        return self.log_path.read_text(errors="replace")

    def wait_log(self, pattern, timeout=10.0, count=1):
        rx = re.compile(pattern, re.M)

        def found():
            hits = rx.findall(self.log())
            return hits if len(hits) >= count else None
        try:
            return poll_until(found, timeout, what=f"log line {pattern!r}")
        except AssertionError:
            raise AssertionError(f"no {pattern!r} (x{count}) in zei output:\n{self.log()}") from None

    def cli(self, *args, env=None, user=None, check=False):
        prefix = []
        if user is not None:
            prefix = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"]
        sock_args = ["--socket", self.sock] if self.sock else []
        r = subprocess.run([*prefix, *zei_command(), *sock_args, "-c", str(self.config), *args],
                           capture_output=True, text=True, env=zei_env(env), cwd=str(ROOT), timeout=60)
        if check and r.returncode != 0:
            raise AssertionError(f"zei {' '.join(args)} -> {r.returncode}\n{r.stdout}\n{r.stderr}")
        return r

    def inside(self, *cmd, check=True):
        r = subprocess.run(["nsenter", "--target", str(self.host_pid), "--pid", "--mount", *cmd],
                           capture_output=True, text=True, timeout=30)
        if check and r.returncode != 0:
            raise AssertionError(f"{cmd} -> {r.returncode}\n{r.stdout}\n{r.stderr}")
        return r.stdout

    def signal(self, sig):
        os.kill(self.host_pid, sig)

    def wait_ready(self, *services):
        """Each probe service has printed `ready` (its handlers are installed)."""
        for name in services:
            self.wait_log(rf"^{re.escape(name)}\[out\] ready")

    def term_and_wait(self, timeout=10.0):
        """SIGTERM to PID 1; returns (exit code, seconds until zei exited)."""
        t0 = time.monotonic()
        self.signal(signal.SIGTERM)
        code = self.wait_exit(timeout)
        return code, time.monotonic() - t0

    def wait_exit(self, timeout=20.0):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"zei did not exit within {timeout}s:\n{self.log()}") from None

    def processes(self):
        """{pid: (ppid, state, comm)} of every process in the namespace, from its /proc."""
        out = self.inside("sh", "-c", "for d in /proc/[0-9]*; do cat $d/stat 2>/dev/null; echo; done")
        procs = {}
        for line in out.splitlines():
            if not line.strip():
                continue
            m = re.match(r"(\d+) \((.*)\) (\S) (\d+)", line)
            if m:
                procs[int(m.group(1))] = (int(m.group(4)), m.group(3), m.group(2))
        return procs

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.signal(signal.SIGKILL)
            except (ProcessLookupError, AssertionError):
                pass
            self.proc.kill()
            self.proc.wait(10)
        self.log_file.close()


@pytest.fixture
def zei_run(tmp_path):
    started = []

    def start(config_text, tmp=None, **kw):
        z = ZeiProc(tmp or tmp_path, config_text, **kw)
        started.append(z)
        return z
    yield start
    for z in started:
        z.stop()


def q(*argv):
    """A YAML flow list for a command (JSON is valid YAML)."""
    return json.dumps(list(argv))


def probe(*args):
    return q(PYTHON3, PROBE, *args)


USERS = {"zeitest-a": ["zeitest-extra", "zeitest-more"], "zeitest-b": []}


@pytest.fixture(scope="session")
def test_users():
    """Create the users and groups the privilege tests need (CI is a fresh machine)."""
    import grp
    import pwd
    for group in ("zeitest-extra", "zeitest-more"):
        try:
            grp.getgrnam(group)
        except KeyError:
            subprocess.run(["groupadd", group], check=True)
    for user, groups in USERS.items():
        try:
            pwd.getpwnam(user)
        except KeyError:
            cmd = ["useradd", "--no-create-home", "--home-dir", f"/nonexistent/{user}",
                   "--shell", "/usr/sbin/nologin", "--user-group", user]
            subprocess.run(cmd, check=True)
        if groups:
            subprocess.run(["usermod", "-a", "-G", ",".join(groups), user], check=True)
    return {u: pwd.getpwnam(u) for u in USERS}
