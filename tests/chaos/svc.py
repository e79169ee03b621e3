#!/usr/bin/env python3
"""The chaos harness's service programs: `svc.py MODE`, run by zei with the system python.

Every mode prints `ready` first, reports HUP/USR1/USR2 as `got SIGNAME` (so forwarding is
visible and never kills it) and, unless stated, exits at once on TERM.

    chatty    floods stdout: bursts of CHATTY_BURST numbered lines every 50 ms, each line
              `chatty pid=P seq=N xxx...`, written in whole-line chunks of at most 4096 bytes
              (PIPE_BUF: atomic, so even SIGKILL cannot tear a line; a torn line is zei's)
    crasher   dies after 0.2-2 s: exit 1, exit 0, SIGKILL or SIGABRT (random)
    flaky     exits after 0.5-3 s with 0, 1, 3 or 42 (restart: on-failure)
    db, app   long-running; on TERM they take 0.2 s to stop (so shutdown order shows)
    migrate   oneshot: 0.2 s of work, exit 0
    stubborn  ignores TERM: only the SIGKILL after shutdown_timeout ends it
    check     db's health check: exit 0 (60%), exit 1 (20%), hang past its timeout (10%),
              or 256 KiB of output then exit 0 (10%)
"""
import os
import random
import signal
import sys
import time

mode = sys.argv[1]
stopping = False


def on_signal(sig, frame):
    global stopping
    if sig == signal.SIGTERM:
        if mode == "stubborn":
            print("got SIGTERM (ignored)", flush=True)
            return
        if mode in ("db", "app"):
            stopping = True
            return
        sys.exit(0)
    print(f"got {signal.Signals(sig).name}", flush=True)


for s in (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGTERM):
    signal.signal(s, on_signal)
print(f"ready pid={os.getpid()} mode={mode}", flush=True)
rng = random.Random()

if mode == "chatty":
    pid, seq, pad = os.getpid(), 0, "x" * 32
    burst = int(os.environ.get("CHATTY_BURST", "600"))
    while True:
        chunk = []
        size = 0
        for _ in range(burst):
            line = f"chatty pid={pid} seq={seq} {pad}\n"
            seq += 1
            if size + len(line) > 4096:
                os.write(1, "".join(chunk).encode())
                chunk, size = [], 0
            chunk.append(line)
            size += len(line)
        if chunk:
            os.write(1, "".join(chunk).encode())
        time.sleep(0.05)
elif mode == "crasher":
    time.sleep(rng.uniform(0.2, 2.0))
    how = rng.choice(["exit1", "exit0", "kill", "abort"])
    print(f"crashing: {how}", flush=True)
    if how == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if how == "abort":
        os.abort()
    sys.exit(1 if how == "exit1" else 0)
elif mode == "flaky":
    time.sleep(rng.uniform(0.5, 3.0))
    code = rng.choice([0, 1, 3, 42])
    print(f"exiting {code}", flush=True)
    sys.exit(code)
elif mode == "check":
    roll = rng.random()
    if roll < 0.6:
        sys.exit(0)
    if roll < 0.8:
        print("check failed", flush=True)
        sys.exit(1)
    if roll < 0.9:
        time.sleep(30)                  # zei kills it (and its group) at the timeout
    for _ in range(64):
        os.write(1, b"y" * 4095 + b"\n")
    sys.exit(0)
elif mode == "migrate":
    time.sleep(0.2)
    print("migrated", flush=True)
elif mode in ("db", "app"):
    while not stopping:
        time.sleep(0.05)
    time.sleep(0.2)
    print("stopped cleanly", flush=True)
else:                                   # stubborn (and anything else): wait for signals
    while True:
        signal.pause()
