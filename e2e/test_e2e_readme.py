"""The rest of README.md's promises, each checked in a running container."""
import re
import time

from engine import ROOT
from harness import Container, sh

WEB = "services:\n  web:\n    command: [probe]\n  worker:\n    command: [sleep, '1000']\n"


def test_cli_commands_and_exit_codes(zei):
    c = zei(WEB)
    c.wait_log(r"^web\[out\] waiting$")
    assert c.zei("status", "web").returncode == 0
    r = c.zei("status", "nope")
    assert r.returncode == 4 and "unknown service 'nope'" in r.stderr
    r = c.zei("stop", "worker")
    assert r.returncode == 0 and "worker stopped" in r.stdout, r.stdout + r.stderr
    assert c.zei("status", "worker").returncode == 3
    assert c.zei("status").returncode == 3                   # not every service runs
    r = c.zei("start", "worker")
    assert r.returncode == 0 and "worker started (pid" in r.stdout
    assert c.zei("status").returncode == 0
    r = c.zei("check")
    assert r.returncode == 0 and "ok, 2 service(s): web, worker" in r.stdout, r.stdout + r.stderr
    r = c.zei("--version")
    assert r.returncode == 0 and re.match(r"zei \d+\.\d+", r.stdout)
    r = c.zei("--help")
    assert r.returncode == 0 and "signal SERVICE:SIGNAL" in r.stdout
    r = c.zei("frobnicate")
    assert r.returncode == 2
    r = c.zei("signal", "web:NOPE")
    assert r.returncode == 2 and "unknown signal" in r.stderr
    r = c.zei()                          # a second daemon never takes the running one's socket
    assert r.returncode == 1 and "another zei is running on /run/zei/zei.sock" in r.stdout + r.stderr


def test_list_and_status_without_a_daemon_show_the_config(zei):
    c = zei(WEB, args=["list"])                               # `docker run IMAGE list`
    assert c.wait_exit(20) == 0
    log = c.logs()
    assert "daemon not running" in log and re.search(r"^web\s+unknown", log, re.M), log
    c = zei(WEB, args=["status", "web"])
    assert c.wait_exit(20) == 3


def test_start_order_follows_depends_on_and_stop_order_is_reversed(zei):
    c = zei(f"""
shutdown_timeout: 8s
services:
  web:
    command: [probe]
    depends_on: [app]
  app:
    command: [probe]
    depends_on: [db, migrate]
  migrate:
    command: {sh("sleep 0.3; echo migrated")}
    oneshot: true
  db:
    command: [probe]
""")
    c.wait_log(r"^web\[out\] waiting$")
    log = c.logs()
    assert log.index("db: started") < log.index("app: started") < log.index("web: started")
    assert log.index("migrate[out] migrated") < log.index("app: started")
    c.stop(10)
    assert c.exit_code() == 0
    log = c.logs()
    assert log.index("web[out] got SIGTERM") < log.index("app[out] got SIGTERM") < log.index("db[out] got SIGTERM")


def test_failed_dependency_blocks_and_status_says_why(zei):
    c = zei(f"""
services:
  setup:
    command: {sh("exit 4")}
    oneshot: true
  app:
    command: [probe]
    depends_on: [setup]
""")
    c.wait_log(r"app: not starting: dependency failed: setup")
    r = c.zei("status", "app")
    assert r.returncode == 3 and "blocked" in r.stdout and "setup" in r.stdout, r.stdout


def test_interval_oneshot_repeats_without_overlap(zei):
    c = zei(f"""
services:
  periodic:
    command: {sh("test -e /tmp/busy && echo OVERLAP; touch /tmp/busy; sleep 0.2; rm /tmp/busy; echo done")}
    oneshot: true
    interval: 100ms
""", user=0)
    c.wait_log(r"^periodic\[out\] done$", count=3)
    assert "OVERLAP" not in c.logs()
    assert c.status_json("periodic")["periodic"]["state"] in ("scheduled", "running")


def test_environment_working_dir_and_user_variables(zei):
    c = zei(f"""
services:
  env:
    command: {sh("echo FOO=$FOO NUM=$NUM HOME=$HOME USER=$USER LOGNAME=$LOGNAME PWD=$(pwd)")}
    user: alice
    working_dir: /tmp
    environment:
      FOO: bar baz
      NUM: 42
""")
    c.wait_log(r"^env\[out\] FOO=bar baz NUM=42 HOME=/home/alice USER=alice LOGNAME=alice PWD=/tmp$")


def test_stdout_redirects_dev_stdout_and_a_file_opened_as_the_user(zei):
    c = zei(f"""
services:
  direct:
    command: {sh("echo untagged-line")}
    stdout: /dev/stdout
  tofile:
    command: {sh("echo into-file; echo err-into-file >&2")}
    user: alice
    stdout: /tmp/alice.log
    stderr: /tmp/alice.log
  denied:
    command: [probe]
    user: bob
    stdout: /etc/zei/bob.log
""")
    c.wait_log(r"^untagged-line$")
    c.wait_log(r"tofile: exited")
    c.wait_log(r"denied: could not start: stdout /etc/zei/bob.log: Permission denied \(EACCES\)")
    assert c.exec("cat", "/tmp/alice.log").stdout == "into-file\nerr-into-file\n"
    assert c.exec("stat", "-c", "%u", "/tmp/alice.log").stdout.strip() == "1001"
    assert "tofile[out]" not in c.logs()


def test_idle_zei_does_not_wake_up(zei):
    c = zei("services:\n  a:\n    command: [sleep, '1000']\n  b:\n    command: [probe]\n")
    c.wait_log(r"^b\[out\] waiting$")

    def switches():
        st = c.proc_status(1)
        return int(st["voluntary_ctxt_switches"]) + int(st["nonvoluntary_ctxt_switches"])
    before = switches()
    time.sleep(1.5)                       # the one deliberate wait: idle means idle over time
    assert switches() == before


def test_spawn_failure_is_logged_and_zei_carries_on(zei):
    c = zei("""
services:
  badcwd:
    command: [probe]
    working_dir: /nonexistent
  noexec:
    command: [/etc/passwd]
  ok:
    command: [probe]
""")
    c.wait_log(r"badcwd: could not start: working_dir /nonexistent: No such file or directory \(ENOENT\)")
    c.wait_log(r'noexec: could not start: exec "/etc/passwd": Permission denied \(EACCES\)')
    c.wait_log(r"^ok\[out\] waiting$")
    assert c.zei("status", "ok").returncode == 0
    assert c.status_json("badcwd")["badcwd"]["state"] == "failed"


def test_stdin_is_dev_null(zei):
    c = zei(f"services:\n  s:\n    command: {sh('readlink /proc/self/fd/0; cat; echo eof')}\n")
    c.wait_log(r"^s\[out\] /dev/null$")
    c.wait_log(r"^s\[out\] eof$")


def readme_dockerfile():
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```dockerfile\n(.*?)```", text, re.S)
    assert blocks, "README.md has no dockerfile example"
    return blocks[0]


def test_readme_container_example_builds_and_runs(engine, images, tmp_path):
    """README's "In a container" Dockerfile, as written, with zei-image = the project image."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    dockerfile = readme_dockerfile()
    (ctx / "Dockerfile").write_text(dockerfile)
    (ctx / "zei.yaml").write_text("services:\n  hello:\n    command: [sh, -c, 'echo hello from $(id -u); exec sleep 1000']\n")
    engine.tag(images["zei"], "zei-image")
    base = re.search(r"^FROM\s+(\S+)", dockerfile, re.M).group(1)
    engine.tag(images["debian"], base)
    tag = "localhost/zei-e2e/readme-example:latest"
    engine.build(ctx, tag, log=str(tmp_path / "build.log"))
    c = Container.run(engine, tag, None, name_hint="readme-example")
    try:
        c.wait_log(r"^hello\[out\] hello from 0$")
        assert c.zei("list").returncode == 0
        assert c.stop(10) < 5 and c.exit_code() == 0
    finally:
        c.remove()
