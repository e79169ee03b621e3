"""`zei reload` against zei as PID 1: edit the config file, then `zei reload` (issue 13)."""
import json
import re

from conftest import poll_until, q

BASE = f"""
shutdown_timeout: 3s
services:
  web:
    command: {q("sh", "-c", "echo web-v1; exec sleep 1000")}
  db:
    command: {q("sleep", "1001")}
  old:
    command: {q("sleep", "1002")}
"""

EDITED = f"""
shutdown_timeout: 3s
services:
  web:
    command: {q("sh", "-c", "echo web-v2; exec sleep 1000")}
    environment:
      LEVEL: debug
  db:
    command: {q("sleep", "1001")}
  cache:
    command: {q("sleep", "1003")}
    depends_on: [db]
"""


def rows(z):
    return {s["name"]: s for s in json.loads(z.cli("list", "--json", check=True).stdout)["services"]}


def all_running(z, names):
    def up():
        r = rows(z)
        return r if all(n in r and r[n]["state"] == "running" for n in names) else None
    return poll_until(up, 10, what=f"{names} running")


def test_reload_applies_the_difference(zei_run):
    z = zei_run(BASE)
    z.wait_log(r"^web\[out\] web-v1")
    before = all_running(z, ["web", "db", "old"])
    z.config.write_text(EDITED)
    r = z.cli("reload")
    assert r.returncode == 0, r.stderr
    assert "web: restarted (changed: command, environment)" in r.stdout
    assert "cache: added" in r.stdout and "old: removed" in r.stdout
    z.wait_log(r"^web\[out\] web-v2")
    after = all_running(z, ["web", "db", "cache"])
    assert list(after) == ["web", "db", "cache"]                   # old is gone from list
    assert after["db"]["pid"] == before["db"]["pid"] and after["db"]["runs"] == before["db"]["runs"]
    assert after["web"]["pid"] != before["web"]["pid"]
    assert "reload: web: restarted (changed: command, environment)" in z.log()
    assert "sleep 1002" not in z.inside("ps", "-eo", "args")
    r = z.cli("reload", check=True)                                 # again: nothing to do
    assert "no changes" in r.stdout and rows(z)["web"]["pid"] == after["web"]["pid"]


def test_bad_reload_lists_every_problem_and_changes_nothing(zei_run):
    z = zei_run(BASE)
    before = all_running(z, ["web", "db", "old"])
    z.config.write_text("services:\n  web:\n    command: [unclosed\n")
    r = z.cli("reload")
    assert r.returncode == 1 and re.search(r"zei\.yaml:\d+: YAML", r.stderr) and "nothing changed" in r.stderr
    z.config.write_text(BASE + "    bogus_key: 1\n  other:\n    restart: sometimes\n")
    r = z.cli("reload")
    assert r.returncode == 1, r.stdout
    problems = [ln for ln in r.stderr.splitlines() if "zei.yaml:" in ln and "problem(s)" not in ln]
    assert len(problems) >= 2 and any("bogus_key" in p for p in problems), r.stderr
    assert any("zei.yaml:" in ln and "other" in ln for ln in problems), r.stderr
    check = z.cli("check")                                         # the very problems `zei check` lists
    assert [ln for ln in check.stderr.splitlines() if "zei.yaml:" in ln and "problem(s)" not in ln] == problems
    after = rows(z)
    assert {n: s["pid"] for n, s in after.items()} == {n: s["pid"] for n, s in before.items()}


def test_sighup_is_still_forwarded_not_a_reload(zei_run):
    import signal
    z = zei_run(BASE)
    all_running(z, ["web", "db", "old"])
    z.config.write_text(EDITED)
    z.signal(signal.SIGHUP)
    z.wait_log(r"received SIGHUP; forwarding")
    assert "reloading" not in z.log()


def test_added_services_get_health_checks_and_ready_log_lines(zei_run):
    z = zei_run(BASE)                                  # no health check, no log_line: none set up
    all_running(z, ["web", "db", "old"])
    z.config.write_text(BASE + f"""
  checked:
    command: {q("sleep", "1004")}
    healthcheck:
      test: ["CMD", "true"]
      interval: 300ms
  announced:
    command: {q("sh", "-c", "echo now listening; exec sleep 1005")}
    ready: {{log_line: "now listening"}}
""")
    r = z.cli("reload", check=True)
    assert "checked: added" in r.stdout and "announced: added" in r.stdout
    z.wait_log(r"checked: healthy")
    poll_until(lambda: z.cli("ready", "checked", "announced").returncode == 0, 10, what="both ready")


def test_command_mode_reload_keeps_main(zei_run):
    z = zei_run(BASE, args=("--", "sleep", "1006"))
    before = all_running(z, ["web", "db", "old", "main"])
    z.config.write_text(EDITED)
    r = z.cli("reload", check=True)
    assert "main" not in r.stdout
    after = all_running(z, ["web", "db", "cache", "main"])
    assert after["main"]["pid"] == before["main"]["pid"] and after["main"]["depends_on"] == ["web", "db", "cache"]
