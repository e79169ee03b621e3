"""The original project's own docker suite, against the real image."""
import json
import re

from harness import fields, poll_until, sh


def rows(list_output):
    """`zei list` table -> {name: [name, state, pid, ...]}."""
    lines = list_output.splitlines()
    assert lines and lines[0].split()[:2] == ["NAME", "STATE"], list_output
    return {ln.split()[0]: ln.split() for ln in lines[1:] if ln.strip()}


def test_simple_service_shows_in_list_and_running_in_status(zei):
    c = zei("services:\n  web:\n    command: [probe]\n")
    c.wait_log(r"^web\[out\] waiting$")
    r = c.zei("list")
    assert r.returncode == 0, r.stderr
    web = rows(r.stdout)["web"]
    assert web[1] == "running" and web[2] == "-" and int(web[3]) > 1
    r = c.zei("status", "web")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("web: running")


def test_multi_service_config_lists_all(zei):
    c = zei(f"""
services:
  web:
    command: [probe]
  worker:
    command: [sleep, "1000"]
    user: alice
  tick:
    command: {sh("echo tick")}
    oneshot: true
    interval: 1h
  db:
    command: [probe]
    depends_on: [tick]
""")
    c.wait_log(r"^db\[out\] waiting$")
    r = c.zei("list")
    assert r.returncode == 0, r.stderr
    table = rows(r.stdout)
    assert set(table) == {"web", "worker", "tick", "db"}
    assert {n: table[n][1] for n in table} == {"web": "running", "worker": "running",
                                                "tick": "scheduled", "db": "running"}
    data = json.loads(c.zei("list", "--json").stdout)
    assert data["daemon"] is True
    assert [s["name"] for s in data["services"]] == ["web", "worker", "tick", "db"]


def test_pid1_effective_uid_is_the_images_user(zei, engine, images):
    user = engine.run("image", "inspect", "--format", "{{.Config.User}}", images["zei"]).stdout.strip()
    assert user in ("65532", "nonroot", "65532:65532", "nonroot:nonroot"), user
    c = zei("services:\n  web:\n    command: [probe]\n")
    c.wait_log(r"^web\[out\] waiting$")
    status = c.proc_status(1)
    real, effective, saved, fs = (int(x) for x in status["Uid"].split())
    assert effective == 65532 and fs == 65532, status["Uid"]
    assert int(status["Gid"].split()[1]) == 65532, status["Gid"]
    assert status["Name"].strip() == "zei"


def test_crasher_restarts_up_to_max_restarts_and_clean_exit_does_not(zei):
    c = zei(f"""
services:
  crasher:
    command: {sh("echo run; exit 3")}
    restart: on-failure
    max_restarts: 2
    restart_delay: 100ms
  clean:
    command: {sh("echo clean-run; exit 0")}
    restart: on-failure
    restart_delay: 100ms
""")
    c.wait_log(r"crasher: gave up after 2 restart")
    log = c.logs()
    assert len(re.findall(r"^crasher\[out\] run$", log, re.M)) == 3
    r = c.zei("status", "crasher")
    assert r.returncode == 3 and "failed" in r.stdout, r.stdout
    assert c.status_json("crasher")["crasher"]["restarts"] == 2
    # The clean exit happened long before the crasher gave up, and was never repeated.
    assert len(re.findall(r"^clean\[out\] clean-run$", log, re.M)) == 1
    assert c.status_json("clean")["clean"]["state"] == "exited"


def test_zei_restart_runs_the_service_again(zei):
    c = zei("services:\n  web:\n    command: [probe]\n")
    line = c.wait_log(r"^web\[out\] (ready .*)$")[0]
    c.wait_log(r"^web\[out\] waiting$")
    old = int(fields(line)["pid"])
    r = c.zei("restart", "web")
    assert r.returncode == 0, r.stderr
    assert "web restarted (pid" in r.stdout
    c.wait_log(r"^web\[out\] got SIGTERM from=1$")
    line = c.wait_log(r"^web\[out\] (ready .*)$", count=2)[1]
    new = int(fields(line)["pid"])
    assert new != old
    s = c.status_json("web")["web"]
    assert s["state"] == "running" and s["pid"] == new


def test_stop_sends_term_and_the_container_exits_0(zei):
    c = zei("""
shutdown_timeout: 8s
services:
  web:
    command: [probe]
  worker:
    command: [sleep, "1000"]
""")
    c.wait_log(r"^web\[out\] waiting$")
    c.wait_log(r"worker: started")
    took = c.stop(10)
    assert c.exit_code() == 0
    assert took < 5, took
    c.wait_log(r"^web\[out\] got SIGTERM")
    c.wait_log(r"exiting with code 0")


def test_no_zombies_while_a_zombie_making_service_runs(zei):
    # Every 50 ms the service leaves a child behind that exits at once: an orphan for
    # PID 1 to reap. Without reaping they pile up as zombies.
    c = zei(f"""
services:
  zombies:
    command: {sh("i=0; while :; do (sleep 0.01 &); i=$((i+1)); [ $((i % 10)) = 0 ] && echo made $i; sleep 0.05; done")}
""", env={"ZEI_LOG_LEVEL": "debug"})
    c.wait_log(r"^zombies\[out\] made 30$")
    c.wait_log(r"reaped orphan pid \d+", count=20)        # they did reach PID 1

    def clean():
        procs = c.processes()
        return not [p for p, (pp, st, comm) in procs.items() if st == "Z"]
    poll_until(clean, 10, 0.1, "a /proc snapshot without zombies")
    assert c.status_json("zombies")["zombies"]["state"] == "running"
