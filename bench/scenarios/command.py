"""Command mode (B13): `INIT -- true` as PID 1 of a fresh namespace, from the init's exec
to its exit, and the exit code passed on (`INIT -- sh -c 'exit 7'` must exit 7).

zei's command mode is its tini replacement: `zei -- COMMAND` runs COMMAND as its one service
`main` and exits with its status; with no `-c` and no /etc/zei/zei.yaml it reads no config
(Launch.run_command hides a host's /etc/zei inside the trial's mount namespace). The floor:
the stamp shell execs `true` itself. supervisord has no command mode.
"""
from __future__ import annotations

from bench import FLOOR, BenchError
from bench.launch import Launch
from bench.metrics import COMMAND_INITS
from bench.proc import exit_status


def phase_command(b):
    """B13 command mode: INIT -- true (no supervisord); its floor: no init"""
    def fn(lc, init):
        t, rc = lc.run_command(["true"])
        if init == FLOOR:
            if rc != 0:
                raise BenchError(f"`true` with no init exited {exit_status(rc)}")
            b.add("B13.floor", FLOOR, t * 1000)
            return
        b.add("B13", init, t * 1000)
        b.add("B13.exit", init, exit_status(rc))
        again = Launch(b, init)                  # the exit code passed on: another namespace
        try:
            b.add("B13.exit7", init, exit_status(again.run_command(["sh", "-c", "exit 7"])[1]))
        finally:
            again.stop()
    b.rounds(b.p["cmd_rounds"], "B13", fn, among=(*COMMAND_INITS, FLOOR), show="B13")


PHASES = [({"B13"}, phase_command)]
