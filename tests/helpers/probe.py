#!/usr/bin/env python3
"""Test service: reports how it was started, then each signal it receives.

Prints one line `ready pid=N pgid=N sid=N uid=N gid=N groups=A,B blocked=HEX ignored=HEX
cwd=PATH` (mask and ignored set read from /proc/self/status), then `got SIGNAME` for each
catchable signal. Options: --ignore-term (never exits on TERM), --exit-on-term N.
"""
import os
import signal
import sys

args = sys.argv[1:]
ignore_term = "--ignore-term" in args
exit_code = 0
if "--exit-on-term" in args:
    exit_code = int(args[args.index("--exit-on-term") + 1])


def status_field(name):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(name + ":"):
                return line.split()[1]
    return "?"


# Read the inherited state before touching any disposition.
blocked, ignored = status_field("SigBlk"), status_field("SigIgn")
groups = ",".join(str(g) for g in sorted(os.getgroups()))
print(f"ready pid={os.getpid()} pgid={os.getpgrp()} sid={os.getsid(0)} uid={os.getuid()} "
      f"euid={os.geteuid()} gid={os.getgid()} groups={groups} blocked={blocked} ignored={ignored} "
      f"cwd={os.getcwd()} home={os.environ.get('HOME')} user={os.environ.get('USER')}", flush=True)


def on_signal(sig, frame):
    print(f"got {signal.Signals(sig).name}", flush=True)
    if sig == signal.SIGTERM and not ignore_term:
        sys.exit(exit_code)


for s in (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGINT, signal.SIGTERM,
          signal.SIGQUIT, signal.SIGWINCH, signal.SIGCONT):
    signal.signal(s, on_signal)
while True:
    signal.pause()
