"""What is measured: the metric groups, the trial sizes and every metric's definition.

METRICS maps a key ("B4", "B2.rss") to (title, unit, which inits, definition): the report's
rows in this order, and its definitions section word for word (docs/benchmarks.md is generated
from them, so this text is where a definition changes). The group of a key is the part before
the dot (`--only B2`). "Which inits" may be the pseudo-init FLOOR: the same work with no init,
measured in zei's rotation. FULL and SMOKE are the sizes of a full run and of `--smoke`;
every `*_rounds` is what `--rounds N` overrides.
"""
from bench import FLOOR, INITS, SUPERVISORS

GROUPS = ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B9", "B10", "B11", "B12", "B13")
COMMAND_INITS = ("zei", "tini", "dumb-init", "catatonit")     # inits with a command mode (B13)
HIGHER_IS_BETTER = {"B10.rate"}
COUNT_UNITS = ("lines", "processes", "code", "services")

FULL = dict(idle_rounds=2, idle_window=10.0, k6_rounds=10, ignore_rounds=2, ignore_deadline=2.0,
            storm_rounds=3, storm_n=5000, sig_rounds=2, sig_per_round=100, restart_rounds=3,
            restarts_per_round=20, cli_rounds=3, cli_per_round=10, scale_rounds=5, scale_k=200,
            scale_list=5, log_rounds=7, log_lines=200_000,
            health_rounds=3, health_k=10, health_interval=0.2, health_window=10.0, health_bursts=5,
            health50_rounds=2, health50_k=50, health50_window=10.0,
            ops_cli_rounds=3, ops_cli_per_round=10, ops_mem_rounds=2, ops_k=200,
            reload_rounds=3, reload_per_round=3, cmd_rounds=10)
SMOKE = dict(idle_rounds=1, idle_window=1.0, k6_rounds=1, ignore_rounds=1, ignore_deadline=1.0,
             storm_rounds=1, storm_n=200, sig_rounds=1, sig_per_round=5, restart_rounds=1,
             restarts_per_round=3, cli_rounds=1, cli_per_round=2, scale_rounds=1, scale_k=20,
             scale_list=1, log_rounds=1, log_lines=5_000,
             health_rounds=1, health_k=2, health_interval=0.2, health_window=1.0, health_bursts=2,
             health50_rounds=1, health50_k=5, health50_window=2.0,
             ops_cli_rounds=1, ops_cli_per_round=2, ops_mem_rounds=1, ops_k=10,
             reload_rounds=1, reload_per_round=2, cmd_rounds=1)

# key -> (title, unit, which inits, definition). Targets: bench/summary.py.
METRICS = {
    "B1": ("idle wakeups", "switches / window", INITS,
           "Context switches of PID 1 (voluntary + nonvoluntary, from /proc/<pid>/task/*/status, "
           "summed over its threads) during a 10 s window with K=6 sleeping services "
           "(`sleep infinity`), taken after all six announced themselves and PID 1 was quiet for "
           "100 ms. Each switch is a wakeup. All five inits idle side by side during the same "
           "window (a count does not depend on load), with B1.full's zei. The config has no health checks (a "
           "check is a timed wakeup by design: its cost is B11)."),
    "B1.full": ("idle wakeups, log rings full", "switches / window", ("zei",),
                "B1 for a zei whose K=6 services first filled its log rings (the rings `zei logs` "
                "reads): each wrote 1.25× its ring's budget (256 KiB) plus 16 KiB of 100-byte "
                "lines (B12.rss_full's writers: `cat` of a file, an `END NAME` line, `done NAME` "
                "on the FIFO, then `exec sleep infinity`). zei's stdout is a pipe a harness "
                "thread keeps draining (zei is never blocked on it). Before the window every "
                "service reported `done`, every ring was read in full (`zei logs NAME -n 10000 "
                "--json`: it ends with the END line and has dropped its first, so it is full) "
                "and PID 1 was then quiet for 100 ms. Counted over the same window as B1's "
                "inits, side by side with them."),
    "B2.rss": ("memory, RSS", "MiB", INITS,
               "`Rss:` of /proc/<pid>/smaps_rollup of PID 1 with K=6 sleeping services, after "
               "startup settled (PID 1 quiet for 100 ms). 1 MiB = 2^20 bytes."),
    "B2.pss": ("memory, PSS", "MiB", INITS,
               "`Pss:` of the same smaps_rollup: shared pages divided among the processes that "
               "map them (the init's fair share of libc, libpython...)."),
    "B2.rss_used": ("memory after 3 CLI calls, RSS", "MiB", SUPERVISORS,
                    "B2.rss again after three `zei list` (`supervisorctl status`) calls, PID 1 "
                    "settled again: what requests bring back of what start-up gave up (zei "
                    "returns its binary's read-only pages once idle after boot, "
                    "zei/shell/residency.py; code a request runs faults back in)."),
    "B2.pss_used": ("memory after 3 CLI calls, PSS", "MiB", SUPERVISORS,
                    "`Pss:` at the same moment as B2.rss_used."),
    "B3": ("startup, K=6", "ms", INITS,
           "From the exec of the init (the stamp shell writes `exec` to the FIFO just before "
           "`exec INIT`) to the moment the last of K=6 services ran its first command (each "
           "service is `/bin/sh -c 'echo up NAME >FIFO; exec sleep infinity'`). Both ends are "
           "the harness reading the FIFO."),
    "B3.floor": ("startup, K=6, no init", "ms", (FLOOR,),
                 "B3's six services started by a bare shell as PID 1: the stamp shell execs "
                 "`/bin/sh run.sh` directly, the script the single-child inits get (six `SERVICE "
                 "&` lines, then `wait`). No init at all: what starting six shells in a fresh "
                 "namespace costs, the floor of B3. Measured from the same FIFO lines as B3, "
                 "in the same rounds (the floor takes its turn in the rotation)."),
    "B4": ("reap storm", "ms", INITS,
           "A service spawns N=5,000 `cat` processes whose stdin is a FIFO held open by the "
           "harness, then exits, so they become orphans of PID 1 (the harness waits until all N "
           "are PID 1's children). The harness closes its end: every orphan reads EOF and exits "
           "at once. Time from the close until none of them is left among PID 1's children "
           "(neither alive nor zombie)."),
    "B4.left": ("reap storm: orphans left", "processes", INITS,
                "Orphans still among PID 1's children (zombie or not) when the trial ended: 0 "
                "unless the 120 s deadline expired."),
    "B5": ("signal forwarding", "ms", INITS,
           "SIGHUP sent to PID 1 from the host (`kill`) → the service's Python handler runs "
           "(it writes its CLOCK_MONOTONIC to the FIFO; the service waits in select() on a "
           "signal wakeup fd, so no signal can slip past it). One service (K=1), signals sent "
           "one at a time, each after the previous one arrived. supervisord does not forward signals "
           "(SIGHUP reloads its config and restarts every program): not measured."),
    "B6": ("restart latency", "ms", SUPERVISORS,
           "A service with restart always and restart_delay 0 (supervisord: autorestart=true, "
           "startsecs=0) blocks reading a FIFO; the harness writes a line, the service exits 0. "
           "Time from that write to the next instance's `up` line on the event FIFO. "
           "Single-child inits do not restart services."),
    "B7.coop": ("shutdown, cooperative", "ms", INITS,
                "SIGTERM to PID 1 (from the host) → PID 1 exits (its pidfd becomes readable), "
                "K=6 `sleep` services that die on SIGTERM."),
    "B7.coop_exit": ("shutdown, cooperative: exit code", "code", INITS,
                     "Exit status of PID 1 in that trial (128+n for death by signal n). "
                     "Single-child inits pass on their child's status: the /bin/sh killed by "
                     "SIGTERM → 143."),
    "B7.ignore": ("shutdown, one TERM-ignoring service", "ms", INITS,
                  "As B7 cooperative, but one of the six services ignores SIGTERM "
                  "(`trap '' TERM` before `exec sleep`). zei runs with shutdown_timeout 2s and "
                  "supervisord with stopwaitsecs=2: both must SIGKILL it at the deadline, so "
                  "the expected time is just over 2,000 ms. Single-child inits have no "
                  "deadline: they exit as soon as their /bin/sh child dies, and the kernel "
                  "SIGKILLs what is left of the namespace."),
    "B7.ignore_exit": ("shutdown, TERM-ignoring: exit code", "code", INITS,
                       "Exit status of PID 1 in that trial."),
    "B8": ("CLI round trip", "ms", SUPERVISORS,
           "Wall time of one CLI process from spawn to exit, run from the host against the "
           "daemon's socket with K=6 services: `zei --socket S list` vs `supervisorctl -c C "
           "status`. The output is checked (every service listed). In zei's trials each call "
           "alternates with one of B8.floor."),
    "B8.floor": ("CLI floor: `python3 -I -S -c pass`", "ms", (FLOOR,),
                 "Wall time of `/usr/bin/python3 -I -S -c pass` (the system Python, isolated, "
                 "no site module) from spawn to exit, run from the host the same way as the CLI, "
                 "alternating call by call with `zei list` in zei's B8 trials: what starting a "
                 "Python program and exiting costs on this machine, the floor of a CLI written "
                 "in Python (frozen or not) that talks to a socket."),
    "B9.start": ("scale K=200: startup", "ms", INITS,
                 "B3 with K=200 services."),
    "B9.rss": ("scale K=200: RSS", "MiB", INITS,
               "B2 RSS with K=200 services."),
    "B9.list": ("scale K=200: CLI round trip", "ms", SUPERVISORS,
                "B8 with K=200 services (all 200 rows checked)."),
    "B10.time": ("log throughput: time", "ms", INITS,
                 "One service writes 200,000 lines of 100 bytes (an 8-digit sequence number, a "
                 "space, 90 `x`, newline; 100 lines per write()) to its stdout; the init's "
                 "stdout is a pipe the harness drains. Time from the harness's go (the service "
                 "waits on a FIFO with its 20 MB ready) until the last line reached the "
                 "harness. zei prefixes `NAME[out] `; supervisord uses "
                 "stdout_logfile=/dev/stdout with maxbytes 0. tini and dumb-init (the service "
                 "inherits the init's stdout) are the upper bound."),
    "B10.rate": ("log throughput: rate", "lines/s", INITS,
                 "200,000 / B10 time."),
    "B10.lost": ("log throughput: lines lost", "lines", INITS,
                 "Sequence numbers that never arrived (duplicates are counted as torn)."),
    "B10.torn": ("log throughput: lines torn", "lines", INITS,
                 "Received lines that contain the service's filler but are not exactly one "
                 "well-formed line (after the init's prefix), or repeat a sequence number."),
    "B11.exec": ("health check cost: exec", "ms CPU / check", ("zei",),
                 "PID 1's own CPU time per finished health check. K=10 `sleep infinity` "
                 "services, each with `healthcheck: {test: [CMD, /bin/true], interval: 200ms, "
                 "timeout: 1s}`; the trial starts once every service is healthy. CPU is the sum "
                 "of the first field of /proc/<pid>/task/*/schedstat of PID 1 (run time in ns: "
                 "its threads, not its children); checks are the sum of `health.checks` over "
                 "the rows of `zei --socket S status --json` (the CLI, run from the host). "
                 "A status request costs PID 1 CPU too, so the readings are arranged to "
                 "take it out: the harness reads CPU right after each status call returns, so "
                 "every interval between two readings holds one request (the one that closes "
                 "it; what PID 1 does after its reply, closing the connection, falls in the "
                 "next interval, again once per interval) and n checks, and costs s + n·c. "
                 "Checks finishing between PID 1's snapshot and the CPU reading shift n by "
                 "a fraction of a check at each end. The 10 s window "
                 "(n ≈ 450) and 5 status calls back to back right after it (n ≈ a few) give "
                 "the two unknowns: c = (ΔCPU_w − mean ΔCPU_b) / (n_w − mean n_b), the value "
                 "shown, and s (B11.status). What an exec check costs PID 1: the fork (a "
                 "copy-on-write copy of PID 1), the pipes, reading them, reaping, the bookkeeping; what the "
                 "forked child does before execve, and /bin/true itself, is the child's CPU "
                 "(B11.exec_child)."),
    "B11.exec_child": ("exec check: the check process's own CPU", "ms CPU / check", ("zei",),
                       "In the same trials as B11.exec: the CPU of the reaped check processes "
                       "(cutime + cstime of PID 1 from /proc/<pid>/stat, clock ticks of "
                       "10 ms; the services never exit, so only checks count) over the whole "
                       "stretch from the first to the last reading, per check. This is not "
                       "PID 1's time but what each check costs the machine besides: the "
                       "forked copy of zei running until execve, plus /bin/true."),
    "B11.tcp": ("health check cost: tcp", "ms CPU / check", ("zei",),
                "As B11.exec with `tcp: 127.0.0.1:PORT`: a non-blocking connect inside PID 1's "
                "loop, healthy once connected, then closed. The listener is a small accept "
                "loop (Python) the harness starts on the host, outside the PID namespace but in "
                "the same network namespace: its CPU is its own and not counted. The harness "
                "checks that it accepted at least as many connections as zei counted checks."),
    "B11.http": ("health check cost: http", "ms CPU / check", ("zei",),
                 "As B11.tcp with `http: http://127.0.0.1:PORT/health`: connect, send one GET, "
                 "read until the status line (the server answers `HTTP/1.1 200 OK` with a "
                 "2-byte body and closes)."),
    "B11.status": ("status request, K=10 with health", "ms CPU / request", ("zei",),
                   "s of B11.exec/tcp/http (all three kinds pooled): PID 1's CPU for one "
                   "`status --json` request (accept, read, a reply of 10 rows with their "
                   "health, send, close). Shown because every reading of the check counters "
                   "costs that much; it is not in the per-check figures."),
    "B11.cpu50": ("50 services, exec check every 1 s", "% of one core", ("zei",),
                  "K=50 `sleep infinity` services, each with `test: [CMD, /bin/true]`, "
                  "interval 1s, timeout 1s, all healthy; PID 1's CPU (schedstat, as B11.exec) "
                  "over a 10 s window divided by the window's wall time, in % of one core. "
                  "No status request falls inside the window: the check counts of B11.rate50 "
                  "are read before and after it."),
    "B11.rate50": ("50 services: checks done", "checks/s", ("zei",),
                   "Finished checks per second in those trials (Δ of the summed health.checks "
                   "between the status readings around the window, over the time between "
                   "them); ~50/s less the check's own duration: the next check is due an "
                   "interval after the previous one ended."),
    "B12.logs": ("`zei logs -n 100` round trip, K=6", "ms", ("zei",),
                 "Wall time of one `zei --socket S logs -n 100` from spawn to exit, run from the "
                 "host, with K=6 `sleep infinity` services that each wrote 300 lines of 100 bytes "
                 "at start (all in the rings before the first call: every service's last line "
                 "is seen in `zei logs NAME -n 1`). The output is checked: exactly 100 lines. "
                 "Calls alternate with B12.list in the same trial."),
    "B12.list": ("`zei list` round trip, same trials", "ms", ("zei",),
                 "B8's `zei list` in the trials of B12.logs, alternating with it call by call."),
    "B12.ratio": ("logs ÷ list", "×", ("zei",),
                  "Per trial: median of its B12.logs calls ÷ median of its B12.list calls."),
    "B12.rss_full": ("K=200, rings full: RSS", "MiB", ("zei",),
                     "`Rss:` of PID 1's smaps_rollup with 200 services that each wrote, at start, "
                     "1.25× its ring's budget plus 16 KiB of 100-byte lines (`cat` of a file the "
                     "harness wrote, then an `END NAME` line, then `exec sleep infinity`). "
                     "With 200 services the budget of each source is 16 MiB / 201 = 81.5 KiB "
                     "(the README's 16 MiB in all), so 118 KiB each, 23 MiB in all, of which "
                     "at most 16 MiB may stay. Read once every service reported `done` on the "
                     "FIFO (after its `END`) and PID 1 was then quiet for 100 ms (so every pipe "
                     "is drained); one ring in 20 and the last service to finish are then read "
                     "in full (`zei logs NAME -n 10000 --json`): each must end with its `END` "
                     "line and have dropped its oldest lines (it is full)."),
    "B12.pss_full": ("K=200, rings full: PSS", "MiB", ("zei",), "`Pss:` of the same reading."),
    "B12.rss_idle": ("K=200, no output: RSS", "MiB", ("zei",),
                     "The same 200 services without the output (`echo up`, then `exec sleep "
                     "infinity`; they write nothing to stdout), read the same way, in the same "
                     "round: B9.rss's setting."),
    "B12.pss_idle": ("K=200, no output: PSS", "MiB", ("zei",), "`Pss:` of that reading."),
    "B12.buffers": ("cost of full rings (anonymous memory, full − idle)", "MiB", ("zei",),
                    "`Anonymous:` of B12.rss_full's reading − that of B12.rss_idle's, same "
                    "round: what 200 full rings cost PID 1 in memory it allocated (not RSS: "
                    "the code that relays and stores output also faults the binary's pages back "
                    "in, which zei gave up after boot, zei/shell/residency.py). The bound is 16 MiB of lines (line bytes plus 256 bytes per chunk) "
                    "for all sources together; Python's per-object overhead beyond the counted "
                    "bytes and the allocator's fragmentation come on top."),
    "B12.held": ("K=200: line bytes held per ring", "KiB", ("zei",),
                 "Sum of the `msg` lengths + 1 (the newline) of the lines `zei logs NAME -n 10000 "
                 "--json` returns, for each ring read in full in B12.rss_full's trials (11 "
                 "per trial; the column counts rings). The budget (81.5 KiB) counts 256 bytes "
                 "per chunk (one read of a pipe) besides the lines, and old lines go a chunk "
                 "at a time, so a full ring holds between its budget minus one chunk and its "
                 "budget (README)."),
    "B12.reload": ("`zei reload`, 200 services, one changed", "ms", ("zei",),
                   "200 `sleep infinity` services running; the harness rewrites the config with "
                   "one service's command changed (a different no-op `: gen N;` prefix to its "
                   "shell script) and times `zei --socket S reload` from spawn to exit: zei "
                   "re-reads and validates the 200 services, stops the changed one (SIGTERM: "
                   "the sleep dies at once), starts the new one, then replies. The reply must "
                   "say `1 change(s)`; the new instance's `up` line must arrive. Three reloads "
                   "per trial, each changing another service."),
    "B12.reload_changed": ("reload: services whose pid changed", "services", ("zei",),
                           "Per reload: services whose pid differs between `status --json` "
                           "before and after (must be exactly 1, the changed one; every other "
                           "row also keeps runs 1 and its state running)."),
    "B13": ("command mode: `INIT -- true`", "ms", COMMAND_INITS,
            "`zei -- true`, `tini -- true`, `dumb-init -- true`, `catatonit -- true` as PID 1 of a "
            "fresh namespace: from the exec of the init (the stamp shell's `exec` line) until "
            "the unshare process that waits for it exited (its pidfd, the harness's own child, "
            "became readable: PID 1 may be gone before its host pid could be read), so every "
            "figure includes the namespace's teardown and unshare's wait (B13.floor). zei runs "
            "with no config (no `-c`, and no /etc/zei/zei.yaml: if the host has one, the stamp "
            "shell hides /etc/zei under a tmpfs of the trial's mount namespace) and a socket in "
            "the trial's directory: tini's job. supervisord has no command mode."),
    "B13.exit": ("command mode: exit code of `true`", "code", COMMAND_INITS,
                 "Exit status of PID 1 in those trials (unshare passes it on): 0."),
    "B13.exit7": ("command mode: exit code of `sh -c 'exit 7'`", "code", COMMAND_INITS,
                  "In each B13 trial, once more in another namespace with `INIT -- sh -c 'exit "
                  "7'`: the init must exit 7, its command's status."),
    "B13.floor": ("command mode, no init", "ms", (FLOOR,),
                  "The stamp shell execs `true` itself: the namespace, one exec and unshare's "
                  "wait, what every B13 figure contains besides the init. Same rounds as B13."),
}
