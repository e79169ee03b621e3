"""The shell side of health and readiness: runs the checks the core asks for, listens on
the services' notify sockets, watches output for a ready log line, and tells zei's own
launcher READY=1 / STOPPING=1.

The daemon creates one Readiness; it sets up only what the config uses (no healthcheck: no
zei.shell.probes; no `ready.notify`: no sockets; no `log_line`: no `re`), so a config without
them costs nothing and an idle zei still has no timer. Every outcome becomes a supervisor
event through the daemon's `execute`: check_result(), notified(), ready_seen().

- Checks (zei.shell.probes): exec checks run as the service's user and group, with its
  environment (without NOTIFY_SOCKET) and working directory; http and tcp checks are
  non-blocking sockets inside the loop. Their timeouts join the loop's deadline.
- Notify (zei.shell.notify): each service with `ready.notify` gets its own abstract socket
  as NOTIFY_SOCKET; only datagrams from its own session count.
- Upward: zei's own NOTIFY_SOCKET is taken out of the services' environment at start and
  used only here, in the loop, with the parked (unprivileged) identity — never as root.
"""
from __future__ import annotations

import time

from zei.core import actions as A
from zei.shell import users


class Readiness:
    def __init__(self, daemon, config, base_env):
        self.daemon = daemon
        self.sup = daemon.sup
        self.up = base_env.pop("NOTIFY_SOCKET", None)     # zei's own; never a service's
        self.probes = self.notify = None
        self.patterns = {}               # service -> compiled ready.log_line
        self.adopt(config)

    def adopt(self, config):
        """Set up what `config` uses (at start, and when a reload applies a new config):
        probes, notify sockets and ready log lines. A removed service's notify socket is closed."""
        daemon = self.daemon
        if self.probes is None and any(s.healthcheck is not None for s in config.services):
            from zei.shell import probes
            self.probes = probes.Probes(daemon.poller, daemon.priv, daemon.devnull, self.on_result)
        if self.notify is None and any(s.ready is not None and s.ready.notify for s in config.services):
            from zei.shell import notify
            self.notify = notify.NotifySockets(daemon.poller, self.on_message)
        names = {s.name for s in config.services}
        if self.notify is not None:
            for name in [n for n in self.notify.socks if n not in names]:
                self.notify.close(name)
        for name in list(self.patterns):
            self.patterns.pop(name)
            daemon.capture.watch.pop(name, None)
        for s in config.services:
            if s.ready is not None and s.ready.log_line is not None:
                import re
                self.patterns[s.name] = re.compile(s.ready.log_line)
                daemon.capture.watch[s.name] = self.on_output

    # ---- the loop ---------------------------------------------------------------------
    def owns(self, fd):
        return (self.probes is not None and self.probes.owns(fd)) or \
            (self.notify is not None and self.notify.owns(fd))

    def on_ready(self, fd, ev, now):
        if self.probes is not None and self.probes.owns(fd):
            self.probes.on_ready(fd, ev, now)
        elif self.notify is not None:
            self.notify.on_ready(fd, ev, now)

    def next_deadline(self):
        return self.probes.next_deadline() if self.probes is not None else None

    def tick(self, now):
        if self.probes is not None:
            self.probes.tick(now)

    def exited(self, pid, code, sig, now):
        """True if `pid` was a check's process (not a service's)."""
        return self.probes is not None and self.probes.exited(pid, code, sig, now)

    # ---- a service's process ----------------------------------------------------------
    def environment(self, spec):
        """Variables the service gets on top of its own: its notify socket."""
        if self.notify is not None and spec.ready is not None and spec.ready.notify:
            return {"NOTIFY_SOCKET": self.notify.address(spec.name)}
        return {}

    def forked(self, name, pid):
        if self.notify is not None:
            self.notify.set_pid(name, pid)

    def gone(self, name):
        if self.notify is not None:
            self.notify.set_pid(name, None)

    # ---- actions ----------------------------------------------------------------------
    def perform(self, action):
        kind = type(action)
        if kind is A.Check:
            self.run_check(action.name, action.seq)
        elif kind is A.CancelCheck:
            if self.probes is not None:
                self.probes.cancel(action.name)
        elif kind is A.Reconfigure:
            self.adopt(action.config)
        elif kind is A.NotifyUp:
            if self.up:
                from zei.shell import notify
                error = notify.send_up(self.up, action.message)
                if error:
                    self.daemon.out.event("warn", "zei", f"cannot notify {self.up}: {error}")

    def run_check(self, name, seq):
        spec = self.daemon.config.service(name)
        check, now = spec.healthcheck, time.monotonic()
        if check.kind != "exec":
            self.probes.start(name, seq, check, now)
            return
        try:
            ident = self.daemon.priv.identity(spec.user, spec.group)
        except users.UnknownUser as e:
            self.on_result(name, seq, False, {"error": f"credentials: {e}", "duration": 0.0})
            return
        env = self.daemon.service_env(spec, ident)
        self.probes.start(name, seq, check, now, env, ident, spec.working_dir)

    # ---- outcomes ---------------------------------------------------------------------
    def on_result(self, name, seq, ok, detail):
        if name not in self.sup.services:     # a reload removed it while its check ran
            return
        detail = dict(detail, at=time.time())
        self.daemon.execute(self.sup.check_result(name, seq, ok, detail, time.monotonic()))

    def on_message(self, name, fields):
        if name not in self.sup.services:
            return
        self.daemon.execute(self.sup.notified(name, fields, time.monotonic()))

    def on_output(self, name, block):
        """Captured output of a service with a ready log_line (whole lines, newline-ended)."""
        if not self.sup.wants_line(name):
            return
        pattern = self.patterns[name]
        for line in block.split(b"\n"):
            if pattern.search(line.decode("utf-8", "replace")):
                self.daemon.execute(self.sup.ready_seen(name, "log line", time.monotonic()))
                return

    def close(self):
        if self.probes is not None:
            self.probes.close_all()
        if self.notify is not None:
            self.notify.close_all()
