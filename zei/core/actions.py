"""What the pure core asks the shell to do. Plain immutable records, no behaviour.

The supervisor returns lists of these; `zei.shell.daemon` carries them out, one syscall family
each, and feeds the outcome (a pid, a spawn failure) back to the supervisor as an event.
"""
from __future__ import annotations

from zei.core.records import record

Spawn = record("Spawn", "name", doc="Start service `name`; the shell answers with spawned() or spawn_failed().")
Kill = record("Kill", "name pid sig", doc="Send `sig` to the process group led by `pid` (ESRCH is normal).")
KillAll = record("KillAll", "sig", doc="Send `sig` to every process in the namespace but zei (kill(-1, sig)).")
Log = record("Log", "level source message fields", defaults=((),),
             doc="level: debug|info|warn|error; source: 'zei' or a service; fields: ((key, value), ...).")
Reply = record("Reply", "token payload", doc="Answer the control request identified by `token`.")
Exit = record("Exit", "code", doc="End zei with this exit code.")
Check = record("Check", "name seq", doc="Run check number `seq` of service `name`'s healthcheck; "
               "the shell answers with check_result().")
CancelCheck = record("CancelCheck", "name", doc="Abandon the health check in flight for `name` (no result).")
NotifyUp = record("NotifyUp", "message", doc="Send an sd_notify datagram to zei's own NOTIFY_SOCKET, if any.")
Reconfigure = record("Reconfigure", "config", doc="A reload applied `config`: set up what its new "
                     "services need (probes, notify sockets, ready log lines) before they start.")
