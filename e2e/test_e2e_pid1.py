"""PID 1 duties as the best init suites test them: signals, spawn state, exit statuses,
deadlines, orphans, a held stdout, a second TERM."""
import re
import time

from engine import ignore_reserved_signals
from harness import fields, poll_until, sh


def two_probes(c):
    c.wait_log(r"^a\[out\] waiting$")
    c.wait_log(r"^b\[out\] waiting$")


TWO = "services:\n  a:\n    command: [probe]\n  b:\n    command: [probe]\n    user: alice\n"


def test_hup_usr1_usr2_sent_to_the_container_reach_every_service(zei):
    c = zei(TWO)
    two_probes(c)
    for sig in ("HUP", "USR1", "USR2"):
        c.kill(sig)
        c.wait_log(rf"^a\[out\] got SIG{sig} from=1$")
        c.wait_log(rf"^b\[out\] got SIG{sig} from=1$")
    c.wait_log(r"received SIGHUP; forwarding to a, b")
    log = c.logs()
    for svc in ("a", "b"):
        got = re.findall(rf"^{svc}\[out\] got (SIG\w+)", log, re.M)
        assert got == ["SIGHUP", "SIGUSR1", "SIGUSR2"], (svc, got)


def test_zei_signal_reaches_only_that_service_and_its_whole_group(zei):
    c = zei("""
services:
  a:
    command: [probe]
  b:
    command: [probe]
  pair:
    command: [sh, -c, "probe & exec probe"]
""")
    two_probes(c)
    c.wait_log(r"^pair\[out\] waiting$", count=2)
    r = c.zei("signal", "a:USR1")
    assert r.returncode == 0, r.stderr
    c.wait_log(r"^a\[out\] got SIGUSR1 from=1$")
    r = c.zei("signal", "b:SIGUSR2")
    assert r.returncode == 0, r.stderr
    c.wait_log(r"^b\[out\] got SIGUSR2 from=1$")
    r = c.zei("signal", "pair:hup")
    assert r.returncode == 0, r.stderr
    c.wait_log(r"^pair\[out\] got SIGHUP from=1$", count=2)      # both processes of the group
    log = c.logs()
    assert re.findall(r"^a\[out\] got (\S+)", log, re.M) == ["SIGUSR1"]
    assert re.findall(r"^b\[out\] got (\S+)", log, re.M) == ["SIGUSR2"]
    r = c.zei("signal", "nope:HUP")
    assert r.returncode == 4 and "nope" in r.stderr


def test_services_start_with_empty_mask_and_default_dispositions(zei):
    c = zei(f"""
services:
  rootprobe:
    command: [probe]
  userprobe:
    command: [probe]
    user: alice
  raw:
    command: {sh("exec grep -E '^Sig(Blk|Ign)' /proc/self/status")}
""")
    for svc in ("rootprobe", "userprobe"):
        f = fields(c.wait_log(rf"^{svc}\[out\] (ready .*)$")[0])
        assert int(f["blocked"], 16) == 0, f
        assert int(f["ignored"], 16) == 0, f
        assert f["pid"] == f["pgid"] == f["sid"], f        # own session and process group
        assert f["ppid"] == "1", f
    c.wait_log(r"^raw\[out\] SigBlk:\s+0+$")
    c.wait_log(r"^raw\[out\] SigIgn:\s+0+$")


def test_default_dispositions_even_when_pid1_inherits_reserved_signals_ignored(zei):
    """glibc's posix_spawn (make, ...) leaves signals 32/33 ignored in the child and runc
    passes that on to PID 1; libc's sigaction() refuses to touch them. Services must
    still start with nothing ignored."""
    c = zei("services:\n  p:\n    command: [probe]\n  q:\n    command: [probe]\n    user: bob\n",
            preexec_fn=ignore_reserved_signals)
    for svc in ("p", "q"):
        f = fields(c.wait_log(rf"^{svc}\[out\] (ready .*)$")[0])
        assert int(f["ignored"], 16) == 0 and int(f["blocked"], 16) == 0, f
    c.kill("HUP")                                   # and zei still works as PID 1
    c.wait_log(r"^q\[out\] got SIGHUP from=1$")


def test_exit_codes_and_signal_deaths_show_in_status(zei):
    c = zei(f"""
services:
  ok:
    command: [probe, --exit, "0"]
  code7:
    command: [probe, --exit, "7"]
  code255:
    command: {sh("exit 255")}
  segv:
    command: {sh("kill -SEGV $$")}
  killed:
    command: {sh("kill -KILL $$")}
  missing:
    command: [no-such-program]
""")
    c.wait_log(r"code7: exited \(exit code 7\)")
    c.wait_log(r"code255: exited \(exit code 255\)")
    c.wait_log(r"segv: exited \(killed by SIGSEGV\)")
    c.wait_log(r"killed: exited \(killed by SIGKILL\)")
    c.wait_log(r'missing: could not start: exec "no-such-program": executable file not found in PATH .* \(ENOENT\)')
    s = c.status_json()
    assert s["ok"]["last_exit"] == {"code": 0} and s["ok"]["state"] == "exited"
    assert s["code7"]["last_exit"] == {"code": 7} and s["code7"]["state"] == "failed"
    assert s["code255"]["last_exit"] == {"code": 255}
    assert s["segv"]["last_exit"] == {"signal": 11}
    assert s["killed"]["last_exit"] == {"signal": 9}
    assert "ENOENT" in str(s["missing"]["last_exit"])
    table = c.zei("list").stdout
    for name, shown in (("code7", "exit 7"), ("code255", "exit 255"), ("segv", "SIGSEGV"),
                        ("killed", "SIGKILL"), ("ok", "exit 0")):
        line = [ln for ln in table.splitlines() if ln.startswith(name + " ")][0]
        assert line.rstrip().endswith(shown), line
    r = c.zei("status", "code7")
    assert r.returncode == 3 and "last exit:  exit 7" in r.stdout, r.stdout
    assert c.running()                                 # zei carries on


def test_term_ignoring_service_is_killed_at_the_deadline_and_the_container_stops_in_time(zei):
    c = zei("""
shutdown_timeout: 2s
services:
  stubborn:
    command: [probe, --ignore-term]
  polite:
    command: [probe]
""")
    c.wait_log(r"^stubborn\[out\] waiting$")
    c.wait_log(r"^polite\[out\] waiting$")
    took = c.stop(10)                       # docker's default grace: zei must beat it
    assert 1.8 <= took < 6, took
    assert c.exit_code() == 1               # something had to be SIGKILLed (README)
    c.wait_log(r"^stubborn\[out\] got SIGTERM")
    c.wait_log(r"sending SIGKILL to stubborn")
    c.wait_log(r"stubborn: stopped \(killed by SIGKILL\)")
    c.wait_log(r"polite: stopped \(exit code 0\)")


def test_storm_of_orphans_leaves_no_zombie(zei):
    c = zei(f"""
services:
  storm:
    command: {sh("for i in $(seq 1000); do (sleep 0.05 &); done; echo storm-done; exec sleep 1000")}
""")
    c.wait_log(r"^storm\[out\] storm-done$", timeout=60)

    def settled():
        procs = c.processes()
        zombies = [p for p, (pp, st, comm) in procs.items() if st == "Z"]
        orphans = [p for p, (pp, st, comm) in procs.items() if pp == 1 and comm == "sleep"]
        return not zombies and len(orphans) <= 1 and procs
    procs = poll_until(settled, 20, 0.2, "every orphan of the storm reaped")
    assert procs[1][2] == "zei"
    assert c.zei("status", "storm").returncode == 0


def test_background_grandchild_holding_stdout_does_not_hang_restarts_or_shutdown(zei):
    c = zei(f"""
shutdown_timeout: 5s
services:
  holder:
    command: {sh("sleep 1000 & echo parent-done")}
    restart: always
    max_restarts: 2
    restart_delay: 100ms
  keeper:
    command: {sh("sleep 1000 & exec probe")}
""")
    c.wait_log(r"holder: exited \(exit code 0\)", count=3)
    c.wait_log(r"holder: gave up after 2 restart")
    c.wait_log(r"^keeper\[out\] waiting$")
    t0 = time.monotonic()
    r = c.zei("restart", "keeper")
    assert r.returncode == 0, r.stderr
    assert time.monotonic() - t0 < 5
    c.wait_log(r"^keeper\[out\] waiting$", count=2)
    took = c.stop(10)
    assert c.exit_code() == 0 and took < 5, took


def test_second_term_during_shutdown_changes_nothing(zei):
    c = zei(f"""
shutdown_timeout: 5s
services:
  slow:
    command: {sh("trap 'sleep 1; echo bye; exit 0' TERM; echo ready; while :; do sleep 0.05; done")}
""")
    c.wait_log(r"^slow\[out\] ready$")
    c.kill("TERM")
    c.wait_log(r"slow: sending SIGTERM")
    c.kill("TERM")
    c.kill("INT")
    assert c.wait_exit(10) == 0
    log = c.logs()
    assert "received SIGTERM again; shutdown already in progress" in log
    assert log.count("slow[out] bye") == 1
    assert "SIGKILL" not in log
