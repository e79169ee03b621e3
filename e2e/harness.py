"""Containers of the zei image, driven and observed only from outside.

    c = Container.run(engine, image, config_text)      # `run -d` with the config mounted
    c.wait_log(r"^web\\[out\\] ready")                   # polls `logs` until it matches
    c.zei("list")                                      # `exec CONTAINER /zei list`
    c.kill("HUP")                                      # `kill --signal HUP` (to PID 1)
    c.stop(10)                                         # `stop -t 10`, returns seconds taken
    c.rewrite_config(text)                             # edit the mounted config in place
    c.exit_code()                                      # `inspect` .State.ExitCode
    c.proc_status(1)                                   # /proc/1/status read through `exec`
    c.processes()                                      # every process's /proc/PID/stat
    c.proc_stats()                                     # the same with pgrp, session, tpgid
    Terminal(engine, "run", "-it", ...)                # an engine command on a pty

Every wait polls with a deadline; nothing sleeps longer than one poll interval.
"""
from __future__ import annotations

import itertools
import json
import os
import pty
import select
import signal
import sys
import re
import tempfile
import time
from pathlib import Path

from engine import LABEL, EngineError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "helpers"))
from polling import poll_until as _poll  # noqa: E402


def poll_until(predicate, timeout=15.0, interval=0.05, what="condition"):
    return _poll(predicate, timeout, interval, what)

_seq = itertools.count(1)


def q(*argv):
    """A YAML flow list for a command (JSON is valid YAML)."""
    return json.dumps(list(argv))


def sh(script):
    return q("sh", "-c", script)


def fields(line):
    """`ready pid=7 uid=...` -> {'pid': '7', 'uid': '...'} (a probe's ready line)."""
    return dict(kv.split("=", 1) for kv in line.split() if "=" in kv)


class Container:
    def __init__(self, engine, cid, name, config_dir):
        self.engine = engine
        self.id = cid
        self.name = name
        self.config_dir = config_dir

    @classmethod
    def run(cls, engine, image, config_text=None, *, args=(), user=None, env=None,
            name_hint="zei", run_opts=(), mount_config=True, preexec_fn=None):
        """`run -d` the image (its ENTRYPOINT, its USER unless `user`), the config mounted
        read-only at the default path /etc/zei/zei.yaml."""
        config_dir = Path(tempfile.mkdtemp(prefix="zei-e2e-"))
        os.chmod(config_dir, 0o755)
        name = f"zei-e2e-{re.sub(r'[^a-zA-Z0-9_.-]', '-', name_hint)[:40]}-{os.getpid()}-{next(_seq)}"
        opts = ["run", "-d", "--name", name, "--label", LABEL, "--network", "none"]
        if config_text is not None and mount_config:
            cfg = config_dir / "zei.yaml"
            cfg.write_text(config_text)
            os.chmod(cfg, 0o644)
            opts += ["-v", f"{cfg}:/etc/zei/zei.yaml:ro"]
        if user is not None:
            opts += ["--user", str(user)]
        for k, v in (env or {}).items():
            opts += ["-e", f"{k}={v}"]
        opts += list(run_opts)
        r = engine.run(*opts, image, *args, timeout=60, preexec_fn=preexec_fn)
        return cls(engine, r.stdout.strip().splitlines()[-1], name, config_dir)

    # ---- observing -----------------------------------------------------------------------
    def logs(self):
        """Everything the container wrote (stdout and stderr) so far."""
        r = self.engine.run("logs", self.id, check=False, timeout=30)
        return r.stdout + r.stderr

    def wait_log(self, pattern, timeout=15.0, count=1):
        """Poll the container's log until `pattern` (a multiline regex) matches `count` times;
        returns the matches."""
        rx = re.compile(pattern, re.M)
        seen = {"log": ""}

        def found():
            seen["log"] = self.logs()
            hits = rx.findall(seen["log"])
            return hits if len(hits) >= count else None
        try:
            return poll_until(found, timeout, 0.1, what=pattern)
        except AssertionError:
            raise AssertionError(f"no {pattern!r} (x{count}) in the log of {self.name} "
                                 f"within {timeout}s:\n{seen['log']}") from None

    def inspect(self, fmt):
        return self.engine.run("inspect", "--format", fmt, self.id, timeout=30).stdout.strip()

    def running(self):
        return self.inspect("{{.State.Running}}") == "true"

    def exit_code(self):
        return int(self.inspect("{{.State.ExitCode}}"))

    def wait_exit(self, timeout=30.0):
        """Wait until the container has exited; its exit code."""
        poll_until(lambda: not self.running(), timeout, 0.1, what=f"{self.name} to exit")
        return self.exit_code()

    def exec(self, *cmd, user=None, check=True, env=None, timeout=60):
        opts = ["exec"]
        if user is not None:
            opts += ["--user", str(user)]
        for k, v in (env or {}).items():
            opts += ["-e", f"{k}={v}"]
        r = self.engine.run(*opts, self.id, *cmd, check=False, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"exec {' '.join(cmd)} -> {r.returncode}\n{r.stdout}{r.stderr}")
        return r

    def zei(self, *args, user=None, check=False):
        """The zei CLI inside the container, as `docker exec CONTAINER /zei ...` runs it."""
        return self.exec("/zei", *args, user=user, check=check)

    def status_json(self, service=None):
        r = self.zei("status", *([service] if service else []), "--json")
        try:
            data = json.loads(r.stdout)
        except ValueError:
            raise AssertionError(f"zei status --json: not JSON:\n{r.stdout}{r.stderr}") from None
        return {s["name"]: s for s in data["services"]}

    def proc_status(self, pid):
        """/proc/PID/status as {field: value}."""
        out = self.exec("cat", f"/proc/{pid}/status").stdout
        return dict(line.split(":", 1) for line in out.splitlines() if ":" in line)

    def processes(self):
        """{pid: (ppid, state, comm)} of every process in the container, from its /proc."""
        out = self.exec("sh", "-c", "cat /proc/[0-9]*/stat 2>/dev/null; true").stdout
        procs = {}
        for m in re.finditer(r"^(\d+) \((.*)\) (\S) (\d+) ", out, re.M):
            procs[int(m.group(1))] = (int(m.group(4)), m.group(3), m.group(2))
        return procs

    def proc_stats(self):
        """{pid: {ppid, state, comm, pgrp, session, tpgid}} of every process in the container
        (its PID namespace), from /proc/PID/stat read through `exec`. tpgid is the
        foreground process group of the process's terminal (-1 without one)."""
        out = self.exec("sh", "-c", "cat /proc/[0-9]*/stat 2>/dev/null; true").stdout
        procs = {}
        for m in re.finditer(r"^(\d+) \((.*)\) (\S) (-?\d+) (-?\d+) (-?\d+) (-?\d+) (-?\d+) ", out, re.M):
            procs[int(m.group(1))] = {"comm": m.group(2), "state": m.group(3), "ppid": int(m.group(4)),
                                      "pgrp": int(m.group(5)), "session": int(m.group(6)),
                                      "tpgid": int(m.group(8))}
        return procs

    # ---- acting --------------------------------------------------------------------------
    @property
    def config_path(self):
        """The host file mounted (read-only, a single-file bind mount) at /etc/zei/zei.yaml."""
        return self.config_dir / "zei.yaml"

    def rewrite_config(self, text):
        """Edit the mounted config on the host in place. A single-file bind mount keeps the
        inode it was given: a file replaced (a new inode, as editors and `write_text` to a
        temp file + rename do) would stay unseen by the container."""
        with open(self.config_path, "r+") as f:
            f.seek(0)
            f.write(text)
            f.truncate()
            f.flush()
            os.fsync(f.fileno())

    def kill(self, sig):
        """`kill --signal SIG CONTAINER`: the engine signals PID 1."""
        self.engine.run("kill", "--signal", sig, self.id, timeout=30)

    def stop(self, timeout=10):
        """`stop -t TIMEOUT` (SIGTERM, SIGKILL after TIMEOUT); returns seconds it took."""
        t0 = time.monotonic()
        self.engine.run("stop", "-t", str(timeout), self.id, timeout=timeout + 60)
        return time.monotonic() - t0

    def remove(self):
        try:
            extra = ["-t", "0"] if self.engine.name == "podman" else []   # podman: no TERM first
            self.engine.run("rm", "-f", *extra, self.id, check=False, timeout=60)
        except EngineError:
            pass
        for f in self.config_dir.glob("*"):
            f.unlink()
        self.config_dir.rmdir()


class Terminal:
    """An engine command (`run -it ...`) on a pseudo-terminal, as a user at a terminal runs
    it: the pty's slave is the command's controlling terminal and stdin/stdout/stderr.

        t = Terminal(engine, "run", "-it", "--rm", IMAGE, "sh")
        t.write(b"echo hi\\n"); t.read_until(r"hi")
        t.wait(10)                         # the command's exit code

    Every read polls with a deadline."""

    def __init__(self, engine, *args):
        argv = [engine.name, *map(str, args)]
        env = dict(engine.env)
        self.pid, self.fd = pty.fork()
        if self.pid == 0:                                       # the child: exec or die
            try:
                os.execvpe(argv[0], argv, env)
            finally:
                os._exit(127)
        self.buf = b""
        self.code = None

    def _read(self, timeout):
        r, _, _ = select.select([self.fd], [], [], max(timeout, 0))
        if not r:
            return False
        try:
            data = os.read(self.fd, 4096)
        except OSError:                                         # EIO: the slave side is closed
            data = b""
        self.buf += data
        return bool(data)

    def text(self):
        return self.buf.decode(errors="replace")

    def read_until(self, pattern, timeout=15.0):
        """Read until `pattern` (a regex on the text read so far) matches; the match."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.text())
            if m:
                return m
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {pattern!r} on the terminal within {timeout}s; got:\n{self.text()!r}")
            if not self._read(min(left, 0.5)) and self.exited():
                raise AssertionError(f"the command exited ({self.code}) before {pattern!r}; got:\n{self.text()!r}")

    def write(self, data):
        os.write(self.fd, data)

    def exited(self):
        if self.code is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.code = os.waitstatus_to_exitcode(status)
        return self.code is not None

    def wait(self, timeout=15.0):
        """Wait for the command to exit, reading the terminal meanwhile; its exit code."""
        deadline = time.monotonic() + timeout
        while not self.exited():
            if time.monotonic() > deadline:
                raise AssertionError(f"the command did not exit within {timeout}s; terminal:\n{self.text()!r}")
            self._read(0.05)
        while self._read(0):
            pass
        return self.code

    def close(self):
        if not self.exited():
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        try:
            os.close(self.fd)
        except OSError:
            pass
