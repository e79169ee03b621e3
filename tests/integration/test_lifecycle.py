"""Lifecycle with zei as PID 1 and real processes: essential services decide the exit code,
each service is stopped its own way, crash loops back off (issue: lifecycle)."""
import json
import re
import signal
import time

from conftest import poll_until, probe, q


def test_the_exit_code_is_the_essential_services(zei_run):
    z = zei_run(f"""
shutdown_timeout: 5s
services:
  side:
    command: {probe()}
  job:
    command: {q("sh", "-c", "sleep 0.3; exit 3")}
    essential: true
    depends_on: [side]
""")
    z.wait_ready("side")
    assert z.wait_exit(10) == 3
    log = z.log()
    assert "essential service job exited (exit code 3); zei exits with 3; stopping services" in log
    assert re.search(r"^side\[out\] got SIGTERM", log, re.M)
    assert "all processes stopped; exiting with code 3" in log


def test_a_death_by_signal_is_128_plus_n_and_a_success_code_is_0(zei_run, tmp_path):
    z = zei_run(f"""
services:
  web:
    command: {q("sh", "-c", "kill -SEGV $$")}
    essential: true
""")
    assert z.wait_exit(10) == 128 + signal.SIGSEGV
    (tmp_path / "two").mkdir()
    z2 = zei_run(f"""
services:
  jvm:
    command: {q("sh", "-c", "exit 143")}
    essential: true
    success_exit_codes: [0, 143]
""", tmp=(tmp_path / "two").resolve())
    assert z2.wait_exit(10) == 0


def test_an_essential_program_that_cannot_be_executed_exits_127(zei_run):
    z = zei_run(f"""
services:
  web:
    command: ["no-such-program-zei"]
    essential: true
  side:
    command: {probe()}
""")
    assert z.wait_exit(10) == 127
    assert 'essential service web could not start: exec "no-such-program-zei"' in z.log()


def test_stop_signal_is_what_the_service_gets_on_shutdown_and_on_stop(zei_run):
    # the probes only report INT and QUIT, so their graces end in SIGKILL
    z = zei_run(f"""
shutdown_timeout: 2s
services:
  web:
    command: {probe()}
    stop_signal: INT
  nginx:
    command: {probe()}
    stop_signal: SIGQUIT
    stop_grace_period: 500ms
""")
    z.wait_ready("web", "nginx")
    r = z.cli("restart", "nginx")
    assert r.returncode == 0 and "nginx restarted" in r.stdout, r.stderr
    z.wait_log(r"^nginx\[out\] got SIGQUIT")
    z.wait_log(r"nginx: did not stop within 500ms; sending SIGKILL")
    z.wait_ready("nginx")
    code, _ = z.term_and_wait()
    assert code == 1
    log = z.log()
    assert re.search(r"^web\[out\] got SIGINT", log, re.M) and not re.search(r"^web\[out\] got SIGTERM", log, re.M)


def test_a_short_grace_kills_that_service_early_and_the_others_get_theirs(zei_run):
    z = zei_run(f"""
shutdown_timeout: 6s
services:
  stubborn:
    command: {probe("--ignore-term")}
    stop_grace_period: 1s
  patient:
    command: {probe("--ignore-term")}
""", env={"ZEI_LOG_FORMAT": "json"})
    poll_until(lambda: z.log().count('"msg": "ready pid=') >= 2, 10, what="both probes ready")
    t0 = time.monotonic()
    z.signal(signal.SIGTERM)
    poll_until(lambda: '"service": "stubborn", "msg": "stopped (killed by SIGKILL)"' in z.log(), 5,
               what="stubborn killed")
    took = time.monotonic() - t0
    assert 0.8 <= took < 3.0, took
    assert '"service": "patient", "msg": "stopped' not in z.log()   # still within its grace
    assert z.wait_exit(15) == 1                    # patient needed SIGKILL at the deadline
    events = [json.loads(line) for line in z.log().splitlines() if line.startswith("{")]
    kill = [e for e in events if "shutdown timeout (6s) reached" in e.get("msg", "")]
    assert kill and "patient" in kill[0]["msg"] and "stubborn" not in kill[0]["msg"]


def test_backoff_doubles_and_status_shows_it(zei_run):
    z = zei_run(f"""
services:
  crashy:
    command: {q("sh", "-c", "exit 1")}
    restart: on-failure
    restart_delay: 100ms
    restart_delay_max: 800ms
""")
    z.wait_log(r"crashy: restarting in 800ms \(restart 5\)", timeout=15)
    log = z.log()
    delays = re.findall(r"crashy: restarting in (\d+)ms", log)
    assert delays[:5] == ["100", "200", "400", "800", "800"], delays
    svc = json.loads(z.cli("status", "crashy", "--json").stdout)["services"][0]
    assert svc["restart_delay_max"] == 0.8 and svc["failures"] >= 5
