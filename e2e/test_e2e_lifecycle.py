"""Lifecycle in the real image: the container's exit code is the essential service's, each
service is stopped its own way on `stop`, and a short grace kills only that service early."""
import datetime
import json
import re

from harness import sh


def test_the_containers_exit_code_is_the_essential_services(zei):
    c = zei("""
services:
  side:
    command: [probe]
  job:
    command: [sh, -c, "sleep 0.5; exit 3"]
    essential: true
""")
    assert c.wait_exit(30) == 3                   # `podman run ...; echo $?` says 3
    log = c.logs()
    assert "essential service job exited (exit code 3); zei exits with 3" in log
    assert re.search(r"^side\[out\] got SIGTERM from=1$", log, re.M)


def test_a_job_with_a_sidecar_exits_0_when_the_job_succeeds(zei):
    c = zei(f"""
services:
  proxy:
    command: [probe]
  job:
    command: {sh("sleep 0.3; exit 0")}
    oneshot: true
    essential: true
    depends_on: [proxy]
""")
    assert c.wait_exit(30) == 0


def test_stop_signal_int_is_what_the_service_gets_on_stop(zei):
    c = zei("""
shutdown_timeout: 8s
services:
  web:
    command: [probe]
    stop_signal: INT
    stop_grace_period: 1s
  db:
    command: [probe]
""")
    c.wait_log(r"^web\[out\] waiting$")
    c.wait_log(r"^db\[out\] waiting$")
    took = c.stop(10)
    log = c.logs()
    assert re.search(r"^web\[out\] got SIGINT from=1$", log, re.M), log
    assert not re.search(r"^web\[out\] got SIGTERM", log, re.M)
    assert re.search(r"^db\[out\] got SIGTERM from=1$", log, re.M)
    assert took < 8, took


def test_a_term_ignorer_with_a_1s_grace_is_killed_after_1s_while_others_get_their_full_grace(zei):
    c = zei("""
shutdown_timeout: 4s
services:
  stubborn:
    command: [probe, --ignore-term]
    stop_grace_period: 1s
  patient:
    command: [probe, --ignore-term]
""", env={"ZEI_LOG_FORMAT": "json"})
    c.wait_log(r'"source": "stubborn", "stream": "stdout", "msg": "waiting"')
    c.wait_log(r'"source": "patient", "stream": "stdout", "msg": "waiting"')
    took = c.stop(10)
    assert 3.5 <= took < 9, took                  # patient waited for the whole shutdown_timeout
    assert c.exit_code() == 1
    log = c.logs()
    events = [json.loads(line) for line in log.splitlines() if line.startswith("{")]

    def when(pred):
        hit = next(e for e in events if pred(e))
        return datetime.datetime.strptime(hit["time"], "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()
    term = when(lambda e: e["msg"].startswith("received SIGTERM"))
    killed = when(lambda e: e.get("service") == "stubborn" and e["msg"] == "did not stop within 1s; sending SIGKILL")
    assert 0.9 <= killed - term < 2.0, killed - term
    assert re.search(r"shutdown timeout \(4s\) reached; sending SIGKILL to patient\"", log), log
