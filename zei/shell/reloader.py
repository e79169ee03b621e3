"""`zei reload` in the shell: re-read the config in a short-lived child, never in the loop.

As at start-up (zei.prelude), the config is parsed and validated by a forked child, as the
app identity (Privileges.as_app, with the same confinement rules), from the same path; in
command mode the same COMMAND becomes `main` again (zei.core.model.with_command). The child
writes one JSON document to a pipe and exits: {"config": ...} or {"problems": [...]} or
{"unreadable": "..."}. The loop polls the pipe's read end (non-blocking) and gathers at
most MAX_ANSWER bytes; a child that says more, or takes longer than TIMEOUT, is killed and
the reload fails. Nothing changes unless the whole config is valid: then the supervisor's
reload (zei.core.reload) applies the difference. The daemon never imports PyYAML: only the
child does (zei.prelude.reread, handed in by zei.__main__), and it exits.

One reload at a time: while one is being read (here) or applied (the supervisor), another
is refused. The child is reaped by the daemon's reaper like every child; exited() says so.
"""
from __future__ import annotations

import _signal as signal
import os
import time

from zei.core import actions as A
from zei.core import jsontext
from zei.core import model

MAX_ANSWER = 8 << 20        # bytes of JSON the child may send (a config of thousands of services fits)
TIMEOUT = 30.0              # seconds the child may take (a config path that is a FIFO, a slow NFS)
POLL_IN = 0x001 | 0x002     # POLLIN | POLLPRI


class Reloader:
    def __init__(self, daemon, path, reader=None):
        self.daemon = daemon
        self.path = path             # the config the daemon was started with
        self.reader = reader         # zei.prelude.reread (the shell may not import the CLI)
        self.pid = self.fd = self.token = self.deadline = None
        self.chunks, self.size = [], 0

    @property
    def busy(self):
        return self.token is not None

    def request(self, token):
        """A `reload` request: fork the reading child, or refuse at once."""
        sup = self.daemon.sup
        if sup.shutting_down:
            return [A.Reply(token, {"ok": False, "error": "zei is shutting down; not reloading"})]
        if self.busy or sup.reload_job is not None:
            return [A.Reply(token, {"ok": False, "code": "busy", "error": "a reload is already underway"})]
        if self.reader is None or self.path is None or self.path == "(no config)":
            return [A.Reply(token, {"ok": False, "error": "zei was started without a config file; nothing to reload"})]
        rfd, wfd = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        pid = os.fork()                       # parked: the child takes the app identity (as_app)
        if pid == 0:                          # the child: never returns
            os.close(rfd)
            self._child(wfd)
        os.close(wfd)
        self.pid, self.fd, self.token = pid, rfd, token
        self.deadline = time.monotonic() + TIMEOUT
        self.chunks, self.size = [], 0
        self.daemon.poller.register(rfd, POLL_IN)
        return [A.Log("info", "zei", f"reload requested: reading {self.path}")]

    def _child(self, wfd):
        try:
            from zei.shell import signals
            signals.reset_in_child()
            os.set_blocking(wfd, True)
            try:
                msg = self.reader(self.path, self.daemon.priv, self.daemon.config)
            except BaseException as e:
                msg = {"unreadable": f"{type(e).__name__}: {e}"}
            data = memoryview(jsontext.dumps(msg).encode())
            while data:
                data = data[os.write(wfd, data):]
        finally:
            os._exit(0)

    # ---- the loop ---------------------------------------------------------------------
    def owns(self, fd):
        return fd is not None and fd == self.fd

    def on_ready(self, fd, ev, now):
        """The child's pipe is readable (or at EOF): gather, then answer at EOF."""
        while True:
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                return
            if not chunk:
                break
            self.size += len(chunk)
            if self.size > MAX_ANSWER:
                return self._fail(f"the config reader said more than {MAX_ANSWER} bytes")
            self.chunks.append(chunk)
        try:
            msg = jsontext.loads(b"".join(self.chunks))
        except ValueError:
            msg = {"unreadable": "the config reader died without an answer"}
        token = self.token
        self._close()
        self.daemon.execute(self.answer(msg, token, now))

    def answer(self, msg, token, now):
        """The child's outcome as actions: problems (nothing changes) or the supervisor's reload."""
        if "config" in msg:
            return self.daemon.sup.reload(model.from_json(msg["config"]), token, now)
        if "problems" in msg:
            problems = list(msg["problems"])
            text = f"{len(problems)} problem(s) in {self.path}; nothing changed"
            return [A.Log("error", "zei", f"reload: {p}") for p in problems] + \
                [A.Log("error", "zei", f"reload: {text}"),
                 A.Reply(token, {"ok": False, "code": "invalid-config", "problems": problems,
                                 "error": "\n".join(problems + [text])})]
        why = f"cannot read config {self.path}: {msg.get('unreadable')}; nothing changed"
        return [A.Log("error", "zei", f"reload: {why}"),
                A.Reply(token, {"ok": False, "code": "unreadable", "error": why})]

    def next_deadline(self):
        return self.deadline

    def tick(self, now):
        if self.deadline is not None and now >= self.deadline:
            self._fail(f"reading the config took longer than {TIMEOUT:g}s")

    def exited(self, pid):
        """True if `pid` was a reading child (the reaper reaped it)."""
        if pid != self.pid or pid is None:
            return False
        self.pid = None
        return True

    def _fail(self, why):
        token = self.token
        if self.pid is not None:
            with self.daemon.priv.elevated():
                try:
                    os.kill(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self._close()
        why = f"reload: {why}; nothing changed"
        self.daemon.execute([A.Log("error", "zei", why), A.Reply(token, {"ok": False, "error": why})])

    def _close(self):
        if self.fd is not None:
            try:
                self.daemon.poller.unregister(self.fd)
            except KeyError:
                pass
            os.close(self.fd)
        self.fd = self.token = self.deadline = None
        self.chunks, self.size = [], 0

    def close(self):
        self._close()

