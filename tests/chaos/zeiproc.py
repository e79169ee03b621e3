"""zei as PID 1 of a fresh namespace, seen from the host, for the chaos harness.

    Zei(workdir, config_text).start()
        runs `unshare --pid --mount --fork --mount-proc --kill-child <zei> -c CONFIG --socket SOCK`
        (<zei> is $ZEI_BIN, else `python -m zei` from the source tree, PYTHONPATH=<repo>), with
        stdout+stderr on a pipe that the harness reads itself, in the Reader thread.
    Reader  counts lines, checks chatty's numbered lines (gaps = lines lost, a line that is
            not whole = torn), finds zei's "dropped N lines" reports, keeps zei's own events
            (zei[...] lines) for the shutdown-order check and writes them to events.log.
            stall(seconds) makes it stop reading for a while: a stuck log reader.
    request(sock, payload, timeout)  one request over the control socket, always bounded.
    children(pid), stat(pid), rss_kb(pid), cpu_and_switches(pid)  /proc of the host.
The host pid of zei is the only child of the unshare process. unshare runs in its own session
(Ctrl-C reaches only the harness, which then tears the namespace down) and dies with the
harness (PR_SET_PDEATHSIG), so no namespace outlives a killed harness.
"""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHATTY_RX = re.compile(rb"^chatty\[out\] chatty pid=(\d+) seq=(\d+) x{32}$")
DROP_RX = (re.compile(rb"dropped (\d+)\b.*?\blines?", re.I),       # "... dropped 12 lines ..."
           re.compile(rb"(\d+)\b[^0-9]*?\blines? dropped", re.I))   # "... 12 lines dropped ..."
CLK_TCK = os.sysconf("SC_CLK_TCK")


def zei_command():
    binary = os.environ.get("ZEI_BIN")
    if binary:
        return [str(Path(binary).resolve())]
    return [sys.executable, "-m", "zei"]


def zei_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT)
    for k in ("ZEI_SOCKET", "ZEI_LOG_FORMAT", "ZEI_LOG_LEVEL", "ZEI_APP_USER", "ZEI_APP_GROUP"):
        env.pop(k, None)
    return env


class Reader(threading.Thread):
    """Reads zei's stdout; can be told to stall. Counters are read by the harness."""

    def __init__(self, fd, events_path):
        super().__init__(daemon=True, name="stdout-reader")
        self.fd = fd
        self.events = open(events_path, "wb")
        self.lock = threading.Lock()
        self.stall_until = 0.0
        self.stalls = 0
        self.stalled_total = 0.0
        self.lines = 0
        self.bytes = 0
        self.chatty_lines = 0
        self.chatty_lost = 0            # gaps in chatty's sequence numbers
        self.torn = []                  # lines that are not whole (examples)
        self.torn_count = 0
        self.drop_reports = []          # (time, N, line)
        self.signals_seen = 0           # "got SIGHUP" etc. lines from services
        self.zei_events = []            # (time, line) of zei's own events
        self.last_seq = {}
        self.eof = threading.Event()
        raw = os.environ.get("CHAOS_RAW_LOG")       # debugging: every byte zei wrote
        self.raw = open(raw, "wb") if raw else None

    def stall(self, seconds):
        with self.lock:
            if time.monotonic() < self.stall_until:
                return False
            self.stall_until = time.monotonic() + seconds
            self.stalls += 1
            self.stalled_total += seconds
            return True

    def stalled(self):
        return time.monotonic() < self.stall_until

    def unstall(self):
        with self.lock:
            self.stall_until = 0.0

    def run(self):
        partial = b""
        while True:
            with self.lock:
                wait = self.stall_until - time.monotonic()
            if wait > 0:
                time.sleep(min(wait, 0.1))      # the load pattern: a stuck reader
                continue
            try:
                data = os.read(self.fd, 65536)
            except OSError:
                data = b""
            if not data:
                if partial:
                    self.line(partial)
                break
            self.bytes += len(data)
            if self.raw:
                self.raw.write(data)
            data = partial + data
            parts = data.split(b"\n")
            partial = parts.pop()
            for line in parts:
                self.line(line)
        self.events.close()
        self.eof.set()

    def line(self, line):
        self.lines += 1
        now = time.monotonic()
        if line.startswith(b"chatty[out] chatty pid="):
            m = CHATTY_RX.match(line)
            if not m:
                self.torn_line(line)
                return
            self.chatty_lines += 1
            pid, seq = int(m.group(1)), int(m.group(2))
            last = self.last_seq.get(pid)
            if last is not None and seq > last + 1:
                self.chatty_lost += seq - last - 1
            self.last_seq[pid] = seq
            return
        if b"chatty pid=" in line:                     # chatty text in the middle of a line
            self.torn_line(line)
        if b"] got SIG" in line:
            self.signals_seen += 1
        if line.startswith(b"zei["):
            m = DROP_RX[0].search(line) or DROP_RX[1].search(line)
            if m:
                self.drop_reports.append((now, int(m.group(1)), line.decode(errors="replace")))
        if line.startswith(b"zei[") or b"Traceback" in line or not re.match(rb"^[\w.-]+\[\w+\] ", line):
            self.zei_events.append((now, line.decode(errors="replace")))
            self.events.write(line + b"\n")
            self.events.flush()

    def torn_line(self, line):
        self.torn_count += 1
        if len(self.torn) < 5:
            self.torn.append(line[:200].decode(errors="replace"))


class Zei:
    def __init__(self, workdir, config_text):
        self.dir = Path(workdir)
        self.config = self.dir / "zei.yaml"
        self.config.write_text(config_text)
        self.sock = str(self.dir / "run" / "zei.sock")
        self.proc = None
        self.pid = None                 # zei's host pid
        self.reader = None

    def start(self, ready_timeout=15.0):
        rfd, wfd = os.pipe()
        cmd = ["unshare", "--pid", "--mount", "--fork", "--mount-proc", "--kill-child",
               *zei_command(), "-c", str(self.config), "--socket", self.sock]
        self.proc = subprocess.Popen(cmd, stdout=wfd, stderr=wfd, stdin=subprocess.DEVNULL,
                                     env=zei_env(), cwd=str(ROOT), start_new_session=True,
                                     preexec_fn=_die_with_parent)
        os.close(wfd)
        self.reader = Reader(rfd, self.dir / "events.log")
        self.reader.start()
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"zei exited at start-up with {self.proc.returncode}; "
                                   f"see {self.dir / 'events.log'}")
            if self.pid is None:
                kids = children(self.proc.pid)
                self.pid = kids[0] if kids else None
            if self.pid is not None:
                try:
                    if request(self.sock, {"cmd": "ping"}, 1.0).get("ok"):
                        return self
                except (OSError, ValueError):
                    pass
            time.sleep(0.02)
        raise RuntimeError(f"zei did not answer ping within {ready_timeout}s")

    def alive(self):
        if self.proc.poll() is not None:
            return False
        st = stat(self.pid)
        return st is not None and st[0] != "Z"

    def cli_command(self, *args):
        return [*zei_command(), "--socket", self.sock, "-c", str(self.config), *args]

    def inside(self, *cmd):
        return ["nsenter", "--target", str(self.pid), "--pid", "--mount", *cmd]

    def kill(self):
        """Tear the namespace down (the harness's own clean-up; never part of a check)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            for target in (self.pid, self.proc.pid):
                try:
                    if target:
                        os.kill(target, 9)
                except ProcessLookupError:
                    pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        if self.reader is not None:
            self.reader.unstall()
            self.reader.eof.wait(5)


def _die_with_parent():
    """In unshare, before exec: SIGKILL when the harness dies (unshare --kill-child then
    kills zei, and with PID 1 the whole namespace goes)."""
    import ctypes
    ctypes.CDLL(None, use_errno=True).prctl(1, 9)      # PR_SET_PDEATHSIG, SIGKILL


def request(path, payload, timeout):
    """One request, one reply (a dict); raises OSError (incl. timeout) or ValueError."""
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall(json.dumps(payload).encode() + b"\n")
        buf = b""
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("no reply")
            s.settimeout(left)
            chunk = s.recv(65536)
            if not chunk:
                raise ValueError("connection closed without a reply")
            buf += chunk
        return json.loads(buf.split(b"\n", 1)[0])


def children(pid):
    kids = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                kids += [int(x) for x in f.read().split()]
    except (FileNotFoundError, ProcessLookupError):
        pass
    return kids


def _proc_stat(pid):
    """The text of /proc/PID/stat, or None once the process is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None


def stat(pid):
    """(state, starttime ticks, comm) of a host pid, or None."""
    text = _proc_stat(pid)
    if text is None:
        return None
    comm = text[text.index("(") + 1:text.rindex(")")]
    rest = text[text.rindex(")") + 2:].split()
    return rest[0], int(rest[19]), comm


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")
    except (FileNotFoundError, ProcessLookupError):
        return []


def status_fields(pid, *names):
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in names:
                    out[key] = int(value.split()[0])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return out


def cpu_seconds(pid):
    text = _proc_stat(pid)
    if text is None:
        return None
    rest = text.rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / CLK_TCK
