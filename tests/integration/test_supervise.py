"""Running services: start order, restart policy, oneshots, spawn failures, environment."""
import os
import re
import signal

from conftest import PROBE, PYTHON3, probe, q


def test_starts_services_and_stops_cleanly_on_term(zei_run):
    z = zei_run(f"""
shutdown_timeout: 5s
services:
  web:
    command: {probe()}
  worker:
    command: {q("sleep", "1000")}
""")
    z.wait_log(r"^web\[out\] ready ")
    z.wait_log(r"worker: started")
    procs = z.processes()
    assert procs[1][2] in ("zei", "python", "python3", "python3.11")
    z.signal(signal.SIGTERM)
    assert z.wait_exit() == 0
    z.wait_log(r"exiting with code 0")


def test_depends_on_order_and_oneshot_readiness(zei_run):
    z = zei_run(f"""
services:
  app:
    command: {q("sh", "-c", "echo app-up; exec sleep 1000")}
    depends_on: [migrate, db]
  migrate:
    command: {q("sh", "-c", "sleep 0.3; echo migrated")}
    oneshot: true
  db:
    command: {q("sh", "-c", "echo db-up; exec sleep 1000")}
""")
    z.wait_log(r"^app\[out\] app-up")
    log = z.log()
    assert log.index("migrate[out] migrated") < log.index("app: started")
    assert log.index("db: started") < log.index("app: started")


def test_failed_dependency_blocks_dependents(zei_run):
    z = zei_run(f"""
services:
  setup:
    command: {q("sh", "-c", "exit 4")}
    oneshot: true
  app:
    command: {q("sleep", "1000")}
    depends_on: [setup]
""")
    z.wait_log(r"app: not starting: dependency failed: setup")
    r = z.cli("status", "app")
    assert r.returncode == 3
    assert "blocked" in r.stdout and "setup" in r.stdout
    r = z.cli("status", "setup", "--json")
    assert '"code": 4' in r.stdout


def test_on_failure_restarts_up_to_max_then_failed(zei_run):
    z = zei_run(f"""
services:
  crasher:
    command: {q("sh", "-c", "echo run; exit 3")}
    restart: on-failure
    max_restarts: 3
    restart_delay: 50ms
  clean:
    command: {q("sh", "-c", "echo clean-run; exit 0")}
    restart: on-failure
    restart_delay: 50ms
""")
    z.wait_log(r"crasher: gave up after 3 restart\(s\)")
    assert len(re.findall(r"^crasher\[out\] run$", z.log(), re.M)) == 4
    r = z.cli("status", "crasher")
    assert r.returncode == 3 and "failed" in r.stdout
    z.wait_log(r"clean: exited \(exit code 0\)")
    assert len(re.findall(r"^clean\[out\] clean-run$", z.log(), re.M)) == 1
    assert "exited" in z.cli("status", "clean").stdout


def test_always_restarts_after_clean_exit_with_delay(zei_run):
    z = zei_run(f"""
services:
  looper:
    command: {q("sh", "-c", "echo tick")}
    restart: always
    max_restarts: 2
    restart_delay: 100ms
""")
    z.wait_log(r"looper: gave up after 2 restart")
    assert len(re.findall(r"^looper\[out\] tick$", z.log(), re.M)) == 3


def test_interval_oneshot_repeats_without_overlap(zei_run, tmp_path):
    marker = tmp_path / "runs"
    z = zei_run(f"""
services:
  periodic:
    command: {q("sh", "-c", f"test -e {marker}.busy && echo OVERLAP; touch {marker}.busy; "
                f"sleep 0.2; echo run >> {marker}; rm {marker}.busy; echo done")}
    oneshot: true
    interval: 100ms
""")
    z.wait_log(r"^periodic\[out\] done$", count=3, timeout=15)
    assert "OVERLAP" not in z.log()
    z.wait_log(r"periodic: next run in 100ms")


def test_exec_failure_is_reported_and_zei_keeps_running(zei_run, tmp_path):
    noexec = tmp_path / "notexec.sh"
    noexec.write_text("#!/bin/sh\necho hi\n")
    noexec.chmod(0o644)
    z = zei_run(f"""
services:
  missing:
    command: ["no-such-program-zei"]
  denied:
    command: ["{noexec}"]
  badcwd:
    command: ["true"]
    working_dir: /nonexistent/dir
  ok:
    command: {q("sleep", "1000")}
""")
    z.wait_log(r'missing: could not start: exec "no-such-program-zei": executable file not found in PATH')
    z.wait_log(r'denied: could not start: exec ".*/notexec.sh": Permission denied \(EACCES\)')
    z.wait_log(r"badcwd: could not start: working_dir /nonexistent/dir: No such file or directory \(ENOENT\)")
    r = z.cli("status", "missing", "--json")
    assert "ENOENT" in r.stdout
    assert "running" in z.cli("status", "ok").stdout


def test_environment_home_user_and_path_lookup(zei_run, tmp_path):
    z = zei_run(f"""
services:
  env:
    command: ["sh", "-c", "echo FOO=$FOO NUM=$NUM FLAG=$FLAG HOME=$HOME USER=$USER LOGNAME=$LOGNAME INHERIT=$ZEI_TEST_INHERIT; pwd"]
    working_dir: {tmp_path}
    environment:
      FOO: bar baz
      NUM: 42
      FLAG: true
""", env={"ZEI_TEST_INHERIT": "yes"})
    z.wait_log(r"^env\[out\] FOO=bar baz NUM=42 FLAG=true HOME=/root USER=root LOGNAME=root INHERIT=yes$")
    z.wait_log(rf"^env\[out\] {re.escape(str(tmp_path))}$")


def test_service_own_session_and_clean_signal_state(zei_run):
    # The probe is Python (which ignores SIGPIPE itself), so the mask and dispositions are
    # read by a plain exec'd grep instead.
    z = zei_run(f"""
services:
  p:
    command: {probe()}
  raw:
    command: {q("grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status")}
""")
    line = z.wait_log(r"^p\[out\] (ready .*)$")[0]
    fields = dict(kv.split("=", 1) for kv in line.split()[1:])
    assert fields["pid"] == fields["pgid"] == fields["sid"]
    assert int(fields["blocked"], 16) == 0, line
    z.wait_log(r"^raw\[out\] SigBlk:\s+0+$")
    ignored = int(z.wait_log(r"^raw\[out\] SigIgn:\s+([0-9a-f]+)$")[0], 16)
    if not os.environ.get("ZEI_BIN"):
        # glibc's posix_spawn (make, runc) hands its reserved signals 32 and 33 to children
        # as ignored, and Python cannot reset them; the frozen binary does so in C before
        # Python starts (tests/binary proves it). Under the source tree, only those two
        # may remain ignored.
        ignored &= ~((1 << 31) | (1 << 32))
    assert ignored == 0, hex(ignored)


def test_stdin_is_dev_null(zei_run):
    z = zei_run(f"""
services:
  s:
    command: {q("sh", "-c", "readlink /proc/self/fd/0; cat; echo eof")}
""")
    z.wait_log(r"^s\[out\] /dev/null$")
    z.wait_log(r"^s\[out\] eof$")


def test_far_timers_do_not_break_the_loop(zei_run):
    z = zei_run(f"""
services:
  monthly:
    command: {q("echo", "ran")}
    oneshot: true
    interval: 720h
  web:
    command: {q("sleep", "1000")}
""")
    z.wait_log(r"monthly: next run in 720h")
    assert z.cli("status", "web").returncode == 0
    assert "internal error" not in z.log()


def test_pid1_with_a_command_or_help_is_just_the_cli(tmp_path):
    import subprocess
    from conftest import ROOT, zei_command, zei_env
    cfg = tmp_path / "c.yaml"
    cfg.write_text("services:\n  a:\n    command: [sleep, '1']\n")
    ns = ["unshare", "--pid", "--mount", "--fork", "--mount-proc"]
    run = lambda *a: subprocess.run([*ns, *zei_command(), *a], capture_output=True, text=True,
                                    env=zei_env(), cwd=str(ROOT), timeout=30)
    r = run("--version")
    assert r.returncode == 0 and r.stdout.startswith("zei ")
    r = run("--help")
    assert r.returncode == 0 and "Usage:" in r.stdout
    r = run("-c", str(cfg), "check")
    assert r.returncode == 0 and "ok, 1 service(s): a" in r.stdout
    r = run("--bogus")
    assert r.returncode == 2 and "unknown option '--bogus'" in r.stderr
