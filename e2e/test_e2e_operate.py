"""Operating a running container from outside: `zei logs` through `podman exec` (the tail,
`--json`, zei's own events, and `-f` receiving a line printed after the follower started),
and `zei reload` after the bind-mounted config was edited on the host (changed, unchanged,
added, removed; a broken edit changes nothing).
"""
import json
import os
import re
import select
import subprocess
import time

from harness import poll_until, sh

CFG = "/etc/zei/zei.yaml"


# ---- zei logs ---------------------------------------------------------------------------
LOGS_CONFIG = f"""
shutdown_timeout: 5s
services:
  web:
    command: {sh('i=1; while [ $i -le 8 ]; do echo "line $i"; i=$((i+1)); done; exec sleep 1000')}
  watcher:
    command: {sh('mkdir -p /tmp/inbox && chmod 777 /tmp/inbox && echo watching; '
                 'while :; do for f in /tmp/inbox/*; do [ -e "$f" ] || continue; '
                 'echo "got $(basename "$f")"; rm -f "$f"; done; sleep 0.1; done')}
"""


class Follower:
    """`ENGINE exec CONTAINER /zei logs -f ...` in a subprocess; its stdout read with deadlines."""

    def __init__(self, c, *args):
        self.proc = subprocess.Popen([c.engine.name, "exec", c.id, "/zei", "logs", "-f", *args],
                                     env=c.engine.env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.buf = b""

    def text(self):
        return self.buf.decode(errors="replace")

    def read_until(self, pattern, timeout=15.0):
        rx = re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while not rx.search(self.text()):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"the follower printed no {pattern!r} within {timeout}s; got:\n{self.text()}")
            r, _, _ = select.select([fd], [], [], min(left, 0.5))
            if r:
                data = os.read(fd, 65536)
                if not data:
                    raise AssertionError(f"the follower ended ({self.proc.wait()}) before {pattern!r}; "
                                         f"got:\n{self.text()}{self.proc.stderr.read().decode()}")
                self.buf += data
        return rx.search(self.text())

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc.stdout.close()
        self.proc.stderr.close()


def test_zei_logs_through_exec_shows_the_tail_json_and_zeis_own_events(zei):
    c = zei(LOGS_CONFIG)
    c.wait_log(r"^web\[out\] line 8$")
    c.wait_log(r"^watcher\[out\] watching$")

    r = c.zei("logs", "-n", "5", "web")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines() == [f"web[out] line {i}" for i in range(4, 9)], r.stdout

    r = c.zei("logs", "-n", "5", "web", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    objs = [json.loads(line) for line in r.stdout.splitlines()]
    assert [o["msg"] for o in objs] == [f"line {i}" for i in range(4, 9)], objs
    assert all(o["source"] == "web" and o["stream"] == "stdout" for o in objs), objs
    assert all(set(o) >= {"time", "source", "stream", "level", "msg"} for o in objs), objs
    assert [o["time"] for o in objs] == sorted(o["time"] for o in objs), objs

    r = c.zei("logs", "-t", "-n", "1", "web")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\S+ web\[out\] line 8\n", r.stdout), r.stdout

    r = c.zei("logs")                       # every source, zei's own events included, in order
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    # zei's start-up events come first; "web: started" may come after web's first lines
    # (zei can capture a line web prints at once before logging that event).
    assert lines[:3] == ["zei[info] control socket /run/zei/zei.sock", lines[1],
                         "zei[info] starting 2 service(s)"] and " as PID 1; " in lines[1], lines
    assert any(re.fullmatch(r"zei\[info\] web: started \(pid \d+\)", l) for l in lines), lines
    assert [l for l in lines if l.startswith("web[")] == [f"web[out] line {i}" for i in range(1, 9)], lines
    assert "watcher[out] watching" in lines, lines
    assert any(re.fullmatch(r"zei\[info\] watcher: started \(pid \d+\)", l) for l in lines), lines

    assert c.zei("logs", "nosuch").returncode == 4


def test_zei_logs_follow_through_exec_receives_a_line_printed_after_it_started(zei):
    c = zei(LOGS_CONFIG)
    c.wait_log(r"^watcher\[out\] watching$")
    f = Follower(c, "-n", "1", "watcher")
    try:
        f.read_until(r"^watcher\[out\] watching$")       # the tail: the follower is connected
        assert "got ping1" not in c.logs()
        c.exec("touch", "/tmp/inbox/ping1")
        f.read_until(r"^watcher\[out\] got ping1$")
        c.exec("touch", "/tmp/inbox/ping2")
        f.read_until(r"^watcher\[out\] got ping2$")
        assert f.text().splitlines() == ["watcher[out] watching", "watcher[out] got ping1",
                                         "watcher[out] got ping2"], f.text()

        # Ctrl-C of the follower inside the container: exit 0 (what `exec -it` and ^C does).
        def follower_pid():
            out = c.exec("sh", "-c", "for p in /proc/[0-9]*; do printf '%s ' ${p#/proc/}; "
                         "tr '\\0' ' ' < $p/cmdline 2>/dev/null; echo; done").stdout
            pids = [int(m.group(1)) for m in re.finditer(r"^(\d+) \S*zei logs -f ", out, re.M)]
            return pids[0] if len(pids) == 1 else None
        pid = poll_until(follower_pid, 10, 0.2, what="the follower's pid in the container")
        c.exec("kill", "-INT", str(pid))
        assert f.proc.wait(15) == 0, f.proc.stderr.read().decode()
        assert poll_until(lambda: follower_pid() is None or None, 10, 0.2, what="the follower gone")
    finally:
        f.close()
    assert c.zei("status", "watcher").returncode == 0     # the daemon is unaffected


# ---- zei reload -------------------------------------------------------------------------
def reload_config(change_word, *, gone=True, added=False):
    text = f"""shutdown_timeout: 5s
services:
  keep:
    command: {sh('echo keep up; exec sleep 1000')}
  change:
    command: {sh(f'echo change {change_word}; exec sleep 1000')}
"""
    if gone:
        text += f"""  gone:
    command: {sh('echo gone up; exec sleep 1000')}
"""
    if added:
        text += f"""  new:
    command: {sh('echo new up; exec sleep 1000')}
"""
    return text


def pids(c):
    return {name: (row["state"], row["pid"]) for name, row in c.status_json().items()}


def wait_running(c, *names, timeout=15):
    def ok():
        p = pids(c)
        return p if all(p.get(n, ("", None))[0] == "running" and p[n][1] for n in names) else None
    return poll_until(ok, timeout, 0.2, what=f"{' '.join(names)} running")


def test_reload_after_editing_the_bind_mounted_config_applies_the_difference(zei):
    c = zei(reload_config("v1"))
    before = wait_running(c, "keep", "change", "gone")
    assert set(before) == {"keep", "change", "gone"}, before
    ino = os.stat(c.config_path).st_ino

    c.rewrite_config(reload_config("v2", gone=False, added=True))
    assert os.stat(c.config_path).st_ino == ino
    assert "echo change v2" in c.exec("cat", CFG).stdout          # the container sees the edit

    r = c.zei("reload")
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout.splitlines()
    assert out[0] == "reloaded: 3 change(s)", r.stdout
    assert "  change: restarted (changed: command)" in out, r.stdout
    assert "  new: added" in out and "  gone: removed" in out, r.stdout
    assert not any(l.startswith("  keep:") for l in out), r.stdout

    after = wait_running(c, "keep", "change", "new")
    assert set(after) == {"keep", "change", "new"}, after
    assert after["keep"] == before["keep"], (before, after)                  # untouched
    assert after["change"][1] != before["change"][1], (before, after)        # a new process
    listing = c.zei("list").stdout
    assert not re.search(r"^gone\s", listing, re.M) and re.search(r"^new\s+running\s", listing, re.M), listing
    c.wait_log(r"^change\[out\] change v2$")
    c.wait_log(r"^new\[out\] new up$")
    assert c.logs().count("keep[out] keep up") == 1
    procs = c.processes()
    assert before["gone"][1] not in procs and before["change"][1] not in procs, procs
    assert after["keep"][1] in procs and after["new"][1] in procs, procs

    # A broken edit: bad YAML. reload exits 1 with file:line, and nothing changes.
    good = reload_config("v2", gone=False, added=True)
    c.rewrite_config(good + "  broken:\n    command: [sh, -c\n")
    r = c.zei("reload")
    assert r.returncode == 1, r.stdout + r.stderr
    text = r.stdout + r.stderr
    assert re.search(rf"^{CFG}:\d+: YAML syntax error", text, re.M), text
    assert pids(c) == after, (after, pids(c))

    # Two problems: both are answered, each with its line; still nothing changes.
    c.rewrite_config(good.replace("  new:\n", "  new:\n    restart: sometimes\n")
                     + "  other:\n    command: [probe]\n    depends_on: [nosuch]\n")
    r = c.zei("reload")
    assert r.returncode == 1, r.stdout + r.stderr
    text = r.stdout + r.stderr
    assert re.search(rf"^{CFG}:\d+: services\.new\.restart: ", text, re.M), text
    assert re.search(rf"^{CFG}:\d+: services\.other\.depends_on: unknown service 'nosuch'", text, re.M), text
    assert pids(c) == after, (after, pids(c))
    assert not re.search(r"^other\s", c.zei("list").stdout, re.M)

    # Fixed again: the same config as running, so a reload changes nothing.
    c.rewrite_config(good)
    r = c.zei("reload")
    assert (r.returncode, r.stdout.strip()) == (0, "reloaded: no changes"), r.stdout + r.stderr
    assert pids(c) == after
