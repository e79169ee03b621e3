"""How `zei list` and `zei status` show services: plain functions from the daemon's rows
(zei.core.supervisor.Supervisor.status, or rows made from the config when no daemon runs)
to text; and how `zei logs` shows a line (render_line)."""
from __future__ import annotations

import _signal

from zei.core import jsontext


# Signal names as the signal module's Signals enum has them, read from `_signal`: importing
# signal (an IntEnum) would bring enum into every CLI call. The enum takes every SIG*
# constant (not the SIG_* handler values), and where names share a number (SIGABRT/SIGIOT,
# SIGCHLD/SIGCLD, SIGIO/SIGPOLL) the member is the first in sorted order; so is this table
# (tests/unit/test_cli.py compares them).
def _names():
    by_number = {}
    for name, value in vars(_signal).items():
        if name.startswith("SIG") and not name.startswith("SIG_") and isinstance(value, int):
            by_number.setdefault(value, []).append(name)
    return {number: min(names) for number, names in by_number.items()}


SIGNAL_NAMES = _names()                                   # number -> canonical name, e.g. 15 -> "SIGTERM"


def signal_name(number):
    """'SIGTERM' for 15; 'signal N' for a number without a name."""
    return SIGNAL_NAMES.get(number, f"signal {number}")


def signal_numbers():
    """{'HUP': 1, 'INT': 2, ...}: the canonical names without SIG, as `zei signal` takes them
    (not RTMIN/RTMAX, which are ranges rather than one signal)."""
    return {n[3:]: v for v, n in SIGNAL_NAMES.items() if n not in ("SIGRTMIN", "SIGRTMAX")}


def fmt_duration(seconds):
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def fmt_exit(last):
    if not last:
        return "-"
    if "signal" in last:
        return signal_name(last["signal"])
    if "code" in last:
        return f"exit {last['code']}"
    return "error: " + str(last.get("error", "?"))


def fmt_health(s):
    """The HEALTH column: the health status, or readiness for a `ready:` service."""
    if s.get("health"):
        return s["health"]["status"]
    if s.get("readiness") in ("notify", "log_line"):
        return "ready" if s.get("ready") else "not ready"
    return "-"


def render_list(services):
    head = ("NAME", "STATE", "HEALTH", "PID", "UPTIME", "RESTARTS", "LAST EXIT")
    rows = [(s["name"], _state(s), fmt_health(s), str(s["pid"] or "-"), fmt_duration(s.get("uptime")),
             "-" if s.get("restarts") is None else str(s["restarts"]), fmt_exit(s.get("last_exit")))
            for s in services]
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head) - 1)]
    lines = []
    for r in [head] + rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1])
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _state(s):
    """The STATE column; a cron job's next run with it (its time of day when within a day)."""
    nxt = s.get("next_run")
    if not nxt:
        return s["state"]
    soon = s.get("next_in") is not None and s["next_in"] < 86400
    return f"{s['state']} (next {nxt[11:16] if soon else nxt[:16].replace('T', ' ')})"


def render_status(services):
    blocks = []
    for s in services:
        lines = [f"{s['name']}: {s['state']}" + (f" ({s['reason']})" if s.get("reason") else "")]
        if s.get("pid"):
            lines.append(f"  pid:        {s['pid']}")
        if s.get("uptime") is not None:
            lines.append(f"  uptime:     {fmt_duration(s['uptime'])}")
        if s.get("next_run"):
            lines.append(f"  next run:   {s['next_run']}" + (f" (in {fmt_duration(s['next_in'])})"
                                                            if s.get("next_in") is not None else ""))
        elif s.get("next_in") is not None:
            lines.append(f"  next start: in {fmt_duration(s['next_in'])}")
        lines.append(f"  command:    {' '.join(s['command'])}")
        for f in s.get("env_files") or ():
            lines.append(f"  env file:   {f['path']} ({', '.join(f['names']) or 'no variables'})")
        lines.append(f"  user:       {_user(s)}" + (f" (group {s['group']})" if s.get("group") else ""))
        policy = s["restart"] + (f", max {s['max_restarts']}" if s.get("max_restarts") else "")
        if s.get("restart_delay_max"):
            policy += f", backoff {fmt_duration(s['restart_delay'])} to {fmt_duration(s['restart_delay_max'])}"
        lines.append(f"  restart:    {policy}")
        if s.get("restarts") is not None:
            lines.append(f"  restarts:   {s['restarts']}" + (f" ({s['failures']} failed in a row)"
                                                              if (s.get("failures") or 0) > 1 else ""))
        if s.get("delay") is not None:
            lines.append(f"  backoff:    {fmt_duration(s['delay'])}")
        if s.get("essential"):
            lines.append("  essential:  yes (zei stops and exits with its code when it ends)")
        if s.get("stop_signal") is not None:
            grace = s.get("stop_grace_period")
            lines.append(f"  stop:       {signal_name(s['stop_signal'])}"
                         + (f", SIGKILL after {fmt_duration(grace)}" if grace is not None else ""))
        if s.get("oneshot"):
            lines.append("  oneshot:    yes" + (f", every {s['interval']:g}s" if s.get("interval") else "")
                         + (f", schedule {s['schedule']}" if s.get("schedule") else ""))
        if s.get("depends_on"):
            conds = {c[0]: c for c in s.get("conditions") or ()}
            lines.append("  depends on: " + ", ".join(_dependency(d, conds.get(d)) for d in s["depends_on"]))
        lines.append(f"  last exit:  {fmt_exit(s.get('last_exit'))}")
        lines += _health_lines(s)
        blocks.append("\n".join(lines))
    return "\n".join(blocks) + "\n"


def _user(s):
    """The configured user; without one, zei's own (named when the daemon says who it is)."""
    if s.get("own_user"):
        return f"{s['user']} (zei's own)"
    return "zei's own user" if s.get("user") is None else s["user"]


def _dependency(name, cond):
    if not cond or cond[1] == "service_started":
        return name if not cond or cond[2] else f"{name} (not required)"
    return f"{name} ({cond[1]}" + ("" if cond[2] else ", not required") + ")"


def _health_lines(s):
    lines = []
    h = s.get("health")
    if h:
        every = f"every {fmt_duration(h['interval'])}, timeout {fmt_duration(h['timeout'])}, " \
                f"{h['retries']} retries"
        if h.get("start_period"):
            every += f", start period {fmt_duration(h['start_period'])} " \
                     f"(every {fmt_duration(h['start_interval'])})"
        status = h["status"]
        if h.get("failing_streak"):
            status += f", {h['failing_streak']} failed in a row"
        lines.append(f"  health:     {status} ({h['kind']} {h['target']}; {every}; "
                     f"on_unhealthy {h['on_unhealthy']})")
        last = h.get("last")
        if last:
            verdict = "passed" if last["ok"] else "failed"
            why = last.get("error") or (f"exit code {last['exit_code']}" if last.get("exit_code") is not None else "")
            lines.append(f"  last check: {fmt_duration(last.get('ago'))} ago, took "
                         f"{_ms(last.get('duration'))}: {verdict}" + (f" ({why})" if why else ""))
            output = (last.get("output") or "").rstrip("\n").split("\n")
            if output != [""]:
                shown = output[:5] + ([f"... ({len(output) - 5} more line(s))"] if len(output) > 5 else [])
                lines += ["    | " + line[:200] for line in shown]
        if h.get("next_in") is not None:
            lines.append(f"  next check: in {fmt_duration(h['next_in'])}")
    if s.get("readiness") in ("healthy", "notify", "log_line"):
        lines.append("  ready:      " + ("yes" if s["ready"] else f"no: {s.get('not_ready')}"))
    if s.get("notify_status"):
        lines.append(f"  status:     {s['notify_status']}")
    return lines


def _ms(seconds):
    if seconds is None:
        return "-"
    return f"{seconds * 1000:.0f}ms" if seconds < 1 else f"{seconds:.2f}s"


LOG_TAG = {"stdout": "out", "stderr": "err"}


def render_line(obj, with_time=False):
    """One text line (with its newline) for a `logs` line object, as zei writes its output:
    `web[out] ...`, `web[warn] ...` (a json_logs line at a level other than info),
    `zei[info] web: started (pid 12)`; the marker of a slow follower as `zei: missed N line(s)`."""
    if "missed" in obj:
        text = f"zei: missed {obj['missed']} line(s)"
    else:
        stream, level = obj.get("stream"), obj.get("level") or "info"
        tag = level if stream not in LOG_TAG or level != "info" else LOG_TAG[stream]
        msg = str(obj.get("msg", ""))
        if not msg.isprintable():
            msg = "".join(c if c.isprintable() else jsontext.quote(c)[1:-1] for c in msg)
        text = f"{obj.get('source', '?')}[{tag}] {msg}"
    return (f"{obj.get('time', '')} {text}\n") if with_time else text + "\n"
