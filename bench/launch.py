"""One init as PID 1 of a fresh namespace, and how each init is started.

    unshare --pid --mount --fork --mount-proc --kill-child /bin/sh -c 'echo exec >FIFO; exec "$@"' INIT...

Launch.start(services) writes what the init needs (zei: a YAML config; supervisord: an ini
config; single-child inits and the bare-shell floor: a /bin/sh script that starts the
services in the background and waits), runs the line above from the trial's own directory,
takes the stamp shell's `exec` line (t_exec) and finds the init's host pid (the only child of
the unshare process) and a pidfd for it. Launch.run_command(argv) is command mode (B13): the
init runs one command and exits, maybe before its host pid could be read, so its end is the
unshare process's (our child's) pidfd. stop() always kills what is left. The zei under test
comes from resolve_zei(): $ZEI_BIN, else dist/zei, else the source tree.
"""
from __future__ import annotations

import datetime
import json
import os
import select
import shlex
import shutil
import signal
import subprocess
import tempfile
from collections import namedtuple
from pathlib import Path

from bench import FLOOR, ROOT, BenchError
from bench.proc import Drain, Fifo, children, now, poll_until

Svc = namedtuple("Svc", "name argv restart health", defaults=("never", None))
SINGLE_ARGV = {"tini": ["/usr/bin/tini", "-g", "--"], "dumb-init": ["/usr/bin/dumb-init"],
               "catatonit": ["/usr/bin/catatonit", "-g", "--"], FLOOR: []}
# Command mode (B13): how each init runs one command as its only child. zei with no config
# runs the command alone (no /etc/zei/zei.yaml: the stamp shell hides one if the host has it).
COMMAND_ARGV = {"tini": ["/usr/bin/tini", "--"], "dumb-init": ["/usr/bin/dumb-init", "--"],
                "catatonit": ["/usr/bin/catatonit", "--"], FLOOR: []}
HIDE_ETC_ZEI = "if [ -e /etc/zei/zei.yaml ]; then mount -t tmpfs none /etc/zei || exit 99; fi; "


def resolve_zei():
    value = os.environ.get("ZEI_BIN", "").strip()
    if value:
        argv = shlex.split(value)
        if os.path.exists(argv[0]):
            argv[0] = os.path.abspath(argv[0])     # not resolve(): a venv python is a symlink
        origin = f"ZEI_BIN={value}"
    elif (ROOT / "dist" / "zei").exists():
        argv, origin = [str(ROOT / "dist" / "zei")], "default: dist/zei exists"
    else:
        argv = [str(ROOT / ".venv" / "bin" / "python"), "-m", "zei"]
        origin = "default: no dist/zei, so the source tree"
    source = "python" in os.path.basename(argv[0])
    exe = shutil.which(argv[0])
    form = "source (python -m zei)" if source else "frozen binary"
    env = {"PYTHONPATH": str(ROOT)} if source else {}
    return dict(argv=argv, origin=origin, form=form, env=env,
                binary=None if source or not exe else file_id(exe))


def file_id(path):
    """What exactly was measured: size, mtime and sha256 prefix of the executable."""
    import hashlib
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:16]
    st = os.stat(path)
    when = datetime.datetime.fromtimestamp(st.st_mtime, datetime.timezone.utc)
    return f"{path}: {st.st_size:,} bytes, modified {when:%Y-%m-%d %H:%M UTC}, sha256 {digest}…"


def sleeper(fifo, name, ignore_term=False, health=None):
    trap = "trap '' TERM; " if ignore_term else ""
    return Svc(name, ["/bin/sh", "-c", f"{trap}echo up {name} >{shlex.quote(fifo)}; exec sleep infinity"],
               health=health)



class Launch:
    def __init__(self, bench, init):
        self.bench, self.init = bench, init
        self.dir = Path(tempfile.mkdtemp(prefix=f"{init}-", dir=bench.work))
        self.dir.chmod(0o755)
        self.events = Fifo(self.dir / "events")
        self.fifos = [self.events]
        self.proc = self.pid1 = self.pidfd = self.exitfd = self.out_r = self.drain = None
        self.t_exec = None
        self.sock = self.conf = None
        self.names = []
        self.helpers = []        # processes the harness started on the host for this trial

    def fifo(self, name):
        f = Fifo(self.dir / name)
        self.fifos.append(f)
        return f

    def script(self, name, text):
        p = self.dir / name
        p.write_text(text)
        return str(p)

    def start(self, services, shutdown_timeout=10.0, capture=False, drain=False):
        """Run the init with `services` as PID 1; capture: its stdout is a pipe (out_r) the
        caller reads, drain: one a thread keeps empty."""
        self.names = [s.name for s in services]
        self.spawn(self._init_argv(services, shutdown_timeout), capture or drain)
        if drain:
            self.drain = Drain(self.out_r)
        self.pid1 = poll_until(lambda: next(iter(children(self.proc.pid)), None), 10,
                               "the init's host pid")
        self.pidfd = os.pidfd_open(self.pid1)
        return self

    def run_command(self, command, timeout=30.0):
        """Command mode: the init runs `command` as its one child and exits with its status.
        -> (seconds from the exec of the init to the unshare process's exit, exit status)."""
        if self.init == "zei":
            self.sock = str(self.dir / "zei.sock")
            argv = [*self.bench.zei["argv"], "--socket", self.sock, "--", *command]
        else:
            argv = COMMAND_ARGV[self.init] + list(command)
        self.spawn(argv, False, prefix=HIDE_ETC_ZEI if self.init == "zei" else "")
        if not select.select([self.exitfd], [], [], timeout)[0]:
            raise BenchError(f"{shlex.join(argv[-len(command) - 1:])} did not exit within {timeout:g}s")
        t = now()
        self.proc.wait(10)
        return t - self.t_exec, self.proc.returncode

    def spawn(self, argv, capture, prefix=""):
        stamp = ["/bin/sh", "-c", prefix + 'echo exec >"$0"; exec "$@"', self.events.path]
        cmd = ["unshare", "--pid", "--mount", "--fork", "--mount-proc", "--kill-child", *stamp, *argv]
        env = dict(os.environ)
        env.pop("ZEI_SOCKET", None)
        if self.init == "zei":
            env.update(self.bench.zei["env"])
        if capture:
            self.out_r, w = os.pipe2(os.O_CLOEXEC)   # default 64 KiB pipe, like a container's
            stdout = w
        else:
            stdout = open(self.dir / "stdout", "wb")
        self.bench.live.append(self)
        self.proc = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env, cwd=str(self.dir))
        self.exitfd = os.pidfd_open(self.proc.pid)    # our child: it cannot vanish unreaped
        os.close(w) if capture else stdout.close()
        self.t_exec = self.events.take("exec", timeout=10)[0][1]

    def _init_argv(self, services, shutdown_timeout):
        d = self.dir
        if self.init == "zei":
            self.write_zei_config(services, shutdown_timeout)
            self.sock = str(d / "zei.sock")
            return [*self.bench.zei["argv"], "-c", str(self.conf), "--socket", self.sock]
        if self.init == "supervisord":
            self.sock = str(d / "supervisor.sock")
            text = [
                "[supervisord]", "nodaemon=true", "user=root", "logfile=/dev/null",
                "logfile_maxbytes=0", f"pidfile={d}/supervisord.pid", f"childlogdir={d}",
                "[unix_http_server]", f"file={self.sock}",
                "[rpcinterface:supervisor]",
                "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
                "[supervisorctl]", f"serverurl=unix://{self.sock}"]
            for s in services:
                text += [f"[program:{s.name}]", "command=" + shlex.join(s.argv).replace("%", "%%"),
                         "autostart=true", f"autorestart={'true' if s.restart == 'always' else 'false'}",
                         "startsecs=0", "startretries=1000", f"stopwaitsecs={shutdown_timeout:g}",
                         "stopasgroup=true", "killasgroup=true", "redirect_stderr=true",
                         "stdout_logfile=/dev/stdout", "stdout_logfile_maxbytes=0"]
            self.conf = d / "supervisord.conf"
            self.conf.write_text("\n".join(text) + "\n")
            return ["/usr/bin/supervisord", "-n", "-c", str(self.conf)]
        if len(services) == 1:
            body = "exec " + shlex.join(services[0].argv) + "\n"
        else:
            body = "".join(shlex.join(s.argv) + " &\n" for s in services) + "wait\n"
        return SINGLE_ARGV[self.init] + ["/bin/sh", self.script("run.sh", body)]

    def write_zei_config(self, services, shutdown_timeout=10.0):
        lines = [f"shutdown_timeout: {shutdown_timeout:g}s", "services:"]
        for s in services:
            lines += [f"  {s.name}:", f"    command: {json.dumps(s.argv)}",
                      f"    restart: {s.restart}", "    restart_delay: 0s"]
            if s.health:
                lines += ["    healthcheck:"] + [f"      {k}: {json.dumps(v)}" for k, v in s.health.items()]
        self.conf = self.dir / "zei.yaml"
        tmp = self.dir / "zei.yaml.new"
        tmp.write_text("\n".join(lines) + "\n")
        tmp.replace(self.conf)                   # a reload never reads half a file

    def zei(self, *args, timeout=60):
        """`zei --socket S -c C ARGS...` from the host -> (wall seconds, returncode, stdout, stderr)."""
        cmd = [*self.bench.zei["argv"], "--socket", self.sock, "-c", str(self.conf), *args]
        env = dict(os.environ, **self.bench.zei["env"])
        t0 = now()
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, env=env, timeout=timeout)
        return now() - t0, r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")

    def wait_up(self, n=None, timeout=20.0):
        got = self.events.take("up ", n or len(self.names), timeout)
        return max(t for _, t in got)

    def alive(self):
        exited = select.select([self.pidfd], [], [], 0)[0]
        return not exited and self.proc.poll() is None

    def wait_exit(self, timeout):
        """Time PID 1 exited (pidfd readable), or BenchError."""
        if not select.select([self.pidfd], [], [], timeout)[0]:
            raise BenchError(f"PID 1 did not exit within {timeout:g}s")
        t = now()
        self.proc.wait(10)
        return t

    def cli(self, extra=()):
        if self.init == "zei":
            cmd = [*self.bench.zei["argv"], "--socket", self.sock, "-c", str(self.conf), "list", *extra]
            env = dict(os.environ, **self.bench.zei["env"])
        else:
            cmd = ["/usr/bin/supervisorctl", "-c", str(self.conf), "status"]
            env = dict(os.environ)
        t0 = now()
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, env=env, timeout=60)
        t = now() - t0
        text = r.stdout.decode(errors="replace")
        rows = [ln.split()[0] for ln in text.splitlines()[1 if self.init == "zei" else 0:] if ln.strip()]
        if r.returncode != 0 or sorted(rows) != sorted(self.names):
            raise BenchError(f"{shlex.join(cmd[-3:])} -> {r.returncode}, listed {len(rows)} of "
                             f"{len(self.names)}: {text[:300]!r} {r.stderr[:300]!r}")
        return t

    def status(self):
        """`zei --socket S status --json` from the host -> the service rows (daemon only)."""
        cmd = [*self.bench.zei["argv"], "--socket", self.sock, "-c", str(self.conf), "status", "--json"]
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=60,
                           env=dict(os.environ, **self.bench.zei["env"]))
        try:
            data = json.loads(r.stdout)
        except ValueError:
            data = {}
        if r.returncode != 0 or not data.get("daemon"):
            raise BenchError(f"status --json -> {r.returncode}: {r.stdout[:300]!r} {r.stderr[:300]!r}")
        return data["services"]

    def log(self):
        p = self.dir / "stdout"
        return p.read_text(errors="replace")[-2000:] if p.exists() else ""

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            try:
                if self.pid1:
                    os.kill(self.pid1, signal.SIGKILL)
                self.proc.kill()
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        for proc in self.helpers:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
        self.helpers = []
        if self.drain is not None:
            self.drain.join()                     # EOF now: no read on a closed fd after this
        for fd in (self.pidfd, self.exitfd, self.out_r):
            if fd is not None:
                os.close(fd)
        self.pidfd = self.exitfd = self.out_r = self.drain = None
        for f in self.fifos:
            f.close()
        self.fifos = []
        if self in self.bench.live:
            self.bench.live.remove(self)
