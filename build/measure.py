"""Measure dist/zei the way docs/build.md reports it (run by `make measure`).

  startup  exec -> first line of main: build/startup_probe.py compiled with the flags of
           dist/zei (.cache/probe/zei-probe, `build/build.sh --probe`) prints
           CLOCK_MONOTONIC at its first line; the parent reads the clock just before
           posix_spawn. Same probe run by /usr/bin/python3.11 from source for comparison.
  version  wall time of `zei --version` (spawn to exit).
  rss      VmRSS of an idle daemon (PID 1 of a new PID namespace, given config) after it
           settled, the same from source, and of the idle probe and `python3.11 -S`.
Medians over N runs; the machine's load is printed too.
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ZEI = os.environ.get("ZEI_BIN", os.path.join(ROOT, "dist", "zei"))
PROBE = os.path.join(ROOT, ".cache", "probe", "startup_probe.dist", "zei-probe")
N = int(os.environ.get("N", "30"))


def now():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def to_main_ms(argv, env):
    r, w = os.pipe()
    t0 = now()
    pid = os.posix_spawn(argv[0], argv, env, file_actions=[(os.POSIX_SPAWN_DUP2, w, 1)])
    os.close(w)
    with os.fdopen(r) as out:
        first = out.readline()
    os.waitpid(pid, 0)
    return (int(first) - t0) / 1e6


def wall_ms(argv, env):
    t0 = now()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=True)
    return (now() - t0) / 1e6


def median(f, *args):
    """'median (min)' of N runs, after one to warm the page cache."""
    f(*args)
    runs = [f(*args) for _ in range(N)]
    return "%6.1f ms (min %.1f)" % (statistics.median(runs), min(runs))


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def idle_rss(argv, env, settle=1.5):
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL)
    time.sleep(settle)
    try:
        return rss_kb(proc.pid)
    finally:
        proc.kill()
        proc.wait()


def daemon_rss(argv, env):
    """argv as PID 1 of a new PID namespace; VmRSS of that PID 1 (seen from outside) after
    it settled; then SIGTERM to it (not to unshare, which would not pass it on)."""
    proc = subprocess.Popen(["unshare", "--pid", "--fork", "--mount-proc", *argv], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kids = []
    try:
        time.sleep(3.0)
        kids = open("/proc/%d/task/%d/children" % (proc.pid, proc.pid)).read().split()
        return rss_kb(int(kids[0])) if kids else None
    finally:
        if kids:
            os.kill(int(kids[0]), 15)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.kill(int(kids[0]), 9)
            proc.wait()


def main():
    env = {"PATH": "/usr/bin:/bin"}
    site = os.path.join(ROOT, ".cache", "buildvenv", "lib", "python3.11", "site-packages")
    src_env = dict(env, PYTHONPATH=ROOT + ":" + site)
    print("load average: %s" % open("/proc/loadavg").read().split()[:3])
    print("binary: %s, %d bytes" % (ZEI, os.path.getsize(ZEI)))
    if os.path.exists(PROBE):
        print("exec -> first line of main (median of %d):" % N)
        print("  frozen probe            %s" % median(to_main_ms, [PROBE], env))
        print("  python3.11 -S (source)  %s" % median(
            to_main_ms, ["/usr/bin/python3.11", "-S", os.path.join(ROOT, "build", "startup_probe.py")], src_env))
        print("idle RSS:")
        print("  frozen probe            %6d kB" % idle_rss([PROBE, "--idle"], env))
        print("  python3.11 -S (source)  %6d kB" % idle_rss(
            ["/usr/bin/python3.11", "-S", os.path.join(ROOT, "build", "startup_probe.py"), "--idle"], src_env))
    else:
        print("(no probe: run build/build.sh --probe for the startup numbers)")
    print("`--version` wall time (median of %d):" % N)
    print("  dist/zei                %s" % median(wall_ms, [ZEI, "--version"], env))
    print("  python3.11 -S -m zei    %s" % median(
        wall_ms, ["/usr/bin/python3.11", "-S", "-m", "zei", "--version"], src_env))
    config = sys.argv[1] if len(sys.argv) > 1 else None
    if config is None:
        fd, config = tempfile.mkstemp(suffix=".yaml")
        with os.fdopen(fd, "w") as f:
            f.write('version: "1.0"\nservices:\n  sleeper:\n    command: ["sleep", "3600"]\n')
    if os.geteuid() == 0:
        print("idle daemon RSS, PID 1 with %s (median of 3):" % config)
        print("  dist/zei                %6d kB" % statistics.median(
            daemon_rss([ZEI, "-c", config], env) for _ in range(3)))
        print("  python3.11 -S -m zei    %6d kB" % statistics.median(
            daemon_rss(["/usr/bin/python3.11", "-S", "-m", "zei", "-c", config], src_env)
            for _ in range(3)))


if __name__ == "__main__":
    main()
