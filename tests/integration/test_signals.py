"""PID 1 duties: signal forwarding, graceful shutdown, reaping orphans and zombies."""
import signal

from conftest import poll_until, probe, q


def test_hup_usr1_usr2_are_forwarded_to_every_service(zei_run):
    z = zei_run(f"""
services:
  a:
    command: {probe()}
  b:
    command: {probe()}
""")
    z.wait_ready("a", "b")
    for sig in (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
        z.signal(sig)
        z.wait_log(rf"^a\[out\] got {sig.name}$")
        z.wait_log(rf"^b\[out\] got {sig.name}$")
    z.wait_log(r"received SIGHUP; forwarding to a, b")


def test_shutdown_stops_dependents_first(zei_run):
    z = zei_run(f"""
shutdown_timeout: 10s
services:
  db:
    command: {probe()}
  app:
    command: {probe()}
    depends_on: [db]
  web:
    command: {probe()}
    depends_on: [app]
""")
    z.wait_ready("db", "app", "web")           # handlers installed before the TERM
    z.signal(signal.SIGTERM)
    assert z.wait_exit() == 0
    log = z.log()
    assert log.index("web[out] got SIGTERM") < log.index("app[out] got SIGTERM") < log.index("db[out] got SIGTERM")


def test_term_ignoring_service_is_killed_at_deadline(zei_run):
    z = zei_run(f"""
shutdown_timeout: 1s
services:
  stubborn:
    command: {probe("--ignore-term")}
  polite:
    command: {probe()}
""")
    z.wait_ready("stubborn", "polite")
    code, elapsed = z.term_and_wait()
    assert code == 1
    assert 0.9 <= elapsed < 5, elapsed
    z.wait_log(r"sending SIGKILL to stubborn")
    z.wait_log(r"stubborn: stopped \(killed by SIGKILL\)")


def test_shutdown_does_not_wait_longer_than_needed(zei_run):
    z = zei_run(f"""
shutdown_timeout: 30s
services:
  a:
    command: {probe()}
  b:
    command: {q("sleep", "1000")}
""")
    z.wait_ready("a")
    code, elapsed = z.term_and_wait()
    assert code == 0 and elapsed < 5


def test_second_term_during_shutdown_is_harmless(zei_run):
    z = zei_run(f"""
shutdown_timeout: 3s
services:
  slow:
    command: {q("sh", "-c", "trap 'sleep 0.5; exit 0' TERM; echo ready; while :; do sleep 0.05; done")}
""")
    z.wait_log(r"^slow\[out\] ready")
    z.signal(signal.SIGTERM)
    z.wait_log(r"slow: sending SIGTERM")
    z.signal(signal.SIGTERM)
    z.signal(signal.SIGINT)
    assert z.wait_exit(10) == 0
    z.wait_log(r"received SIGTERM again; shutdown already in progress")


def test_orphans_are_reaped_no_zombies(zei_run):
    # The service forks 200 grandchildren that outlive it briefly: they reparent to PID 1.
    z = zei_run(f"""
services:
  spawner:
    command: {q("sh", "-c", "for i in $(seq 200); do (sleep 0.2 &) ; done; echo spawned; exec sleep 1000")}
""")
    z.wait_log(r"^spawner\[out\] spawned")

    def no_zombies():
        procs = z.processes()
        zombies = [p for p, (pp, st, c) in procs.items() if st == "Z"]
        sleepers = [p for p, (pp, st, c) in procs.items() if c == "sleep" and pp == 1 and p != 1]
        return not zombies and len(sleepers) <= 1
    poll_until(no_zombies, 10, what="no zombies left")


def test_orphans_get_term_at_shutdown(zei_run):
    z = zei_run(f"""
shutdown_timeout: 5s
services:
  leaver:
    command: {q("sh", "-c", "setsid sleep 1000 & echo left; exec sleep 1000")}
""")
    z.wait_log(r"^leaver\[out\] left")
    code, elapsed = z.term_and_wait()
    assert code == 0 and elapsed < 4


def test_grandchild_holding_stdout_does_not_hang_restart_or_shutdown(zei_run):
    z = zei_run(f"""
shutdown_timeout: 5s
services:
  holder:
    command: {q("sh", "-c", "sleep 1000 & echo parent-done")}
    restart: always
    max_restarts: 1
    restart_delay: 50ms
""")
    z.wait_log(r"holder: exited \(exit code 0\)", count=2)
    z.wait_log(r"holder: gave up after 1 restart")
    z.signal(signal.SIGTERM)
    assert z.wait_exit(10) == 0


def test_exit_codes_and_signal_deaths_in_status(zei_run):
    z = zei_run(f"""
services:
  code7:
    command: {q("sh", "-c", "exit 7")}
  killed:
    command: {q("sh", "-c", "kill -SEGV $$")}
""")
    z.wait_log(r"code7: exited \(exit code 7\)")
    z.wait_log(r"killed: exited \(killed by SIGSEGV\)")
    out = z.cli("list").stdout
    assert "exit 7" in out and "SIGSEGV" in out
