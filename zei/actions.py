"""What the pure core asks the shell to do. Plain immutable records, no behaviour.

The supervisor returns lists of these; `zei.daemon` carries them out, one syscall family
each, and feeds the outcome (a pid, a spawn failure) back to the supervisor as an event.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Spawn:
    """Start service `name`; the shell answers with spawned() or spawn_failed()."""
    name: str


@dataclass(frozen=True)
class Kill:
    """Send `sig` to the process group led by `pid` (ESRCH is normal)."""
    name: str
    pid: int
    sig: int


@dataclass(frozen=True)
class KillAll:
    """Send `sig` to every process in the namespace but zei itself (kill(-1, sig))."""
    sig: int


@dataclass(frozen=True)
class Log:
    level: str                 # debug | info | warn | error
    source: str                # "zei" or a service name
    message: str
    fields: tuple = field(default=())   # ((key, value), ...)


@dataclass(frozen=True)
class Reply:
    """Answer a control request identified by `token`."""
    token: object
    payload: dict


@dataclass(frozen=True)
class Exit:
    code: int
