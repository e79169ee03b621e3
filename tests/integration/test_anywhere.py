"""zei anywhere: not PID 1 (a child subreaper under another process), command mode
(`zei -- COMMAND`, a drop-in for tini), and a terminal (`docker run -it IMAGE sh`)."""
import os
import pty
import re
import select
import signal
import subprocess
import time

from conftest import PROBE, PYTHON3, ROOT, poll_until, q, zei_command, zei_env


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except FileNotFoundError:
        return []


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except FileNotFoundError:
        return None


def stat(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except FileNotFoundError:
        return None
    rest = data[data.rindex(")") + 2:].split()
    return rest[0], int(rest[1])              # state, ppid


def alive(pid):
    s = stat(pid)
    return s is not None and s[0] != "Z"


def test_not_pid1_it_reaps_orphans_stops_its_tree_and_leaves_others_alone(tmp_path):
    cfg = tmp_path / "zei.yaml"
    cfg.write_text(f"""
shutdown_timeout: 5s
services:
  web:
    command: {q("sh", "-c", "(sleep 1000 &); (sleep 0.2 &); exec sleep 1001")}
""")
    log = tmp_path / "zei.log"
    zei = " ".join(zei_command())
    script = (f"sleep 1002 & echo outsider=$!; {zei} -c {cfg} --socket {tmp_path}/zei.sock; "
              f"echo zei-exit=$?; wait")
    with open(log, "wb") as out:
        shell = subprocess.Popen(["unshare", "--pid", "--fork", "--mount-proc", "--kill-child",
                                  "sh", "-c", script], stdout=out, stderr=subprocess.STDOUT,
                                 env=zei_env(), cwd=str(ROOT))
    try:
        sh = poll_until(lambda: (children(shell.pid) or [None])[0], 10, what="the namespace's sh")
        zei = poll_until(lambda: next((p for p in children(sh) if comm(p) not in ("sleep", None)
                                       and "zei" in open(f"/proc/{p}/cmdline").read()), None),
                         10, what="zei under sh")
        outsider = poll_until(lambda: next((p for p in children(sh) if comm(p) == "sleep"), None),
                              10, what="the outsider sleep")
        text = lambda: log.read_text(errors="replace")        # noqa: E731
        poll_until(lambda: "web: started" in text(), 10, what="web to start")
        assert re.search(r"zei\[info\] not PID 1: a child subreaper", text()), text()

        def orphan():          # `sleep 1000` lost its parent: it must be zei's child now
            return next((p for p in children(zei) if comm(p) == "sleep"
                         and "1000" in open(f"/proc/{p}/cmdline").read()), None)
        orphan_pid = poll_until(orphan, 10, what="the orphan reparented to zei")
        poll_until(lambda: all(stat(p) and stat(p)[0] != "Z" for p in children(zei)), 5,
                   what="no zombie left among zei's children (the short orphan was reaped)")
        os.kill(zei, signal.SIGTERM)
        poll_until(lambda: "zei-exit=0" in text(), 10, what="zei to exit 0")
        assert not alive(orphan_pid), "zei's own descendant survived its shutdown"
        assert alive(outsider), "zei signalled a process outside its tree"
    finally:
        shell.kill()
        shell.wait(10)


def run(args, timeout=20, **kw):
    return subprocess.run([*zei_command(), *args], capture_output=True, text=True, env=zei_env(kw.pop("env", None)),
                          cwd=str(ROOT), timeout=timeout, **kw)


def test_command_mode_exit_codes(tmp_path):
    sock = str(tmp_path / "zei.sock")
    assert not os.path.exists("/etc/zei/zei.yaml")          # no config: tini's job only
    r = run(["--socket", sock, "--", "sh", "-c", "echo out; echo err >&2; exit 7"])
    assert r.returncode == 7, r.stderr
    assert "out\n" in r.stdout.splitlines(True) and "err\n" in r.stderr.splitlines(True)
    r = run(["--socket", sock, "--", "sh", "-c", "kill -SEGV $$"])
    assert r.returncode == 128 + signal.SIGSEGV
    r = run(["--socket", sock, "--", "no-such-program-zei"])
    assert r.returncode == 127 and 'exec "no-such-program-zei"' in r.stdout + r.stderr
    r = run(["--socket", sock, "--", "sh", "-c", "echo out; exit 5"])
    assert (r.returncode, r.stdout, r.stderr) == (5, "out\n", "")   # COMMAND's output alone, as tini
    r = run(["--socket", sock, "--", "cat"], input="typed\n")
    assert r.returncode == 0 and "typed\n" in r.stdout     # main gets zei's stdin


def test_command_mode_as_pid1_forwards_signals_and_a_term_ends_it_with_143(zei_run, tmp_path):
    z = zei_run("services:\n  side:\n    command: [sleep, '1000']\n",
                args=("--", PYTHON3, PROBE))
    z.wait_log(r"^ready", timeout=10)                   # main's output is not tagged
    for sig in (signal.SIGUSR1, signal.SIGHUP, signal.SIGWINCH):
        z.signal(sig)
        z.wait_log(rf"^got {signal.Signals(sig).name}$", timeout=5)
    assert "side[" not in z.log()                          # only main got them
    rows = z.cli("list").stdout
    assert re.search(r"^main\s+running", rows, re.M) and re.search(r"^side\s+running", rows, re.M)
    code, _ = z.term_and_wait(10)
    assert re.search(r"^got SIGTERM", z.log(), re.M)
    assert code in (0, 128 + signal.SIGTERM)              # the probe exits 0 on TERM


def test_command_mode_starts_main_once_the_sidecars_are_ready(zei_run):
    z = zei_run(f"""
services:
  db:
    command: {q("sh", "-c", "sleep 0.5; echo db up; exec sleep 1000")}
    ready: {{log_line: "db up"}}
""", args=("--", "sh", "-c", "echo main runs; exit 3"), env={"ZEI_LOG_LEVEL": "info"})
    assert z.wait_exit(15) == 3
    log = z.log()
    assert log.index("db: ready (log line)") < log.index("main runs")
    assert "essential service main exited (exit code 3); zei exits with 3" in log


def test_command_mode_refuses_a_service_named_main(zei_run):
    z = zei_run("services:\n  main:\n    command: [sleep, '1']\n", args=("--", "true"))
    assert z.wait_exit(10) == 2
    assert "services.main: command mode (zei -- COMMAND) runs COMMAND as the service 'main'" in z.log()


class Pty:
    """zei on a terminal: a pty whose slave is zei's controlling terminal."""

    def __init__(self, argv):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.environ.update(zei_env())
            os.chdir(str(ROOT))
            os.execvp(argv[0], argv)
        self.buf = b""

    def read_until(self, pattern, timeout=10.0):
        rx = re.compile(pattern.encode())
        deadline = time.monotonic() + timeout
        while not rx.search(self.buf):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {pattern!r} on the terminal; got {self.buf!r}")
            r, _, _ = select.select([self.fd], [], [], left)
            if r:
                try:
                    self.buf += os.read(self.fd, 4096)
                except OSError:
                    break
        return self.buf

    def write(self, data):
        os.write(self.fd, data)

    def wait(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.read_until("$^", timeout=0.05)
            except AssertionError:
                pass
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
        raise AssertionError(f"zei did not exit; terminal: {self.buf!r}")


def sleeping():
    """A `sleep 100` that is its terminal's foreground process group (so ^C is for it)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if f.read() != b"sleep\x00100\x00":
                    continue
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[2] == fields[5]:                      # pgrp == tpgid: the foreground
            return int(entry)
    return None


def test_on_a_terminal_main_gets_it_and_ctrl_c_ends_sleep_with_130(tmp_path):
    for prefix in ([], ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"]):
        t = Pty([*prefix, *zei_command(), "--socket", str(tmp_path / "zei.sock"), "--", "sh"])
        try:
            t.write(b"echo typed-$((20+1))\n")
            t.read_until(r"typed-21")
            t.write(b"sleep 100\n")
            poll_until(sleeping, 10, what="sleep 100 to run in the foreground")
            t.write(b"\x03")                   # the terminal's SIGINT: for sleep, not zei
            poll_until(lambda: not sleeping() or None, 5, what="sleep to end")
            t.write(b"echo after=$?\n")
            t.read_until(r"after=130")
            assert b"received SIGINT" not in t.buf
            t.write(b"exit 5\n")
            assert t.wait() == 5
        finally:
            try:
                os.kill(t.pid, signal.SIGKILL)
                os.waitpid(t.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass


def test_when_its_parent_dies_zei_shuts_down_gracefully(tmp_path):
    cfg = tmp_path / "zei.yaml"
    cfg.write_text("services:\n  web:\n    command: [sleep, '1000']\n")
    log = tmp_path / "zei.log"
    zei = " ".join(zei_command())
    launcher = subprocess.Popen(["sh", "-c", f"{zei} -c {cfg} --socket {tmp_path}/zei.sock "
                                 f"> {log} 2>&1 & echo $!; exec sleep 1000"],
                                stdout=subprocess.PIPE, text=True, env=zei_env(), cwd=str(ROOT))
    pid = int(launcher.stdout.readline())
    try:
        poll_until(lambda: log.exists() and "web: started" in log.read_text(), 10, what="web to start")
        launcher.kill()                                  # a launcher that does not wait
        launcher.wait(10)
        poll_until(lambda: not alive(pid) or None, 10, what="zei to exit")
        text = log.read_text()
        assert "zei's parent process exited; stopping services" in text, text
        assert "all processes stopped; exiting with code 0" in text, text
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
