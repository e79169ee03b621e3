"""What a finished run means: success, the restart policy with its backoff, and the
container's exit code when an essential service ends. Pure: plain values in, decisions out.

Success: an exit with one of the service's `success_exit_codes` (default [0]); a death by
signal never is. It counts everywhere: `on-failure`, the `exited` state, dependents waiting
for a oneshot, and an essential service's exit code.

Backoff (what docker and Kubernetes do): the first automatic restart waits `restart_delay`;
each further restart after a short run waits twice as long, up to `restart_delay_max`
(default: `restart_delay`, a fixed delay). A run of at least STABLE_RUN seconds, and at least
`restart_delay_max`, was no crash loop: it resets the delay and the count of consecutive
restarts, which is what `max_restarts` limits — so a service that crashes once a week is
never given up, and one that crash-loops is, after `max_restarts` restarts in a row.

Exit codes of an essential service, as tini and docker give them: its exit code (0 if it is
a success code), 128+N for a death by signal N, 127 when it could not start (its program
could not be exec'd, or a dependency failed for good).
"""
from __future__ import annotations

from zei.core import health
from zei.core.model import COMPLETED, HEALTHY, STARTED
from zei.core.records import record
from zei.core.service import BLOCKED, EXITED, FAILED, describe_exit

STABLE_RUN = 10.0          # seconds of running that reset backoff and the restart count
BACKOFF_FLOOR = 0.1        # the second delay when restart_delay is 0 and backoff is on
EXIT_CANNOT_START = 127

Next = record("Next", "state delay level message reason", defaults=(None, "info", "", ""),
              doc="What follows a run: the state, the delay before a restart, a log line, a reason.")


def succeeded(spec, code, sig):
    return sig is None and code in spec.success_exit_codes


def stable_after(spec):
    """How long a run must last to reset the backoff and the restart count."""
    return max(STABLE_RUN, spec.restart_delay_max or 0.0, spec.restart_delay)


def delay_for(spec, failures):
    """The wait before a restart that follows `failures` consecutive short runs (0 = first)."""
    cap = spec.restart_delay_max if spec.restart_delay_max is not None else spec.restart_delay
    cap = max(cap, spec.restart_delay)
    delay = spec.restart_delay
    if failures and not delay:          # restart_delay 0: the first restart is at once, then
        delay, failures = BACKOFF_FLOOR, failures - 1      # 100ms, 200ms, ... as docker does
    for _ in range(failures):
        if delay >= cap:
            break
        delay *= 2
    return min(delay, cap)


def after_run(svc, ok, ran, span):
    """The restart policy for a run that ended (ran: its duration; 0 for a failed start).
    Updates the service's counters (restarts, failures, delay) and returns a Next whose
    state is one of backoff, scheduled, exited or failed."""
    spec = svc.spec
    if ran >= stable_after(spec):
        svc.restarts = svc.failures = 0
    if spec.oneshot and ok:
        svc.restarts = svc.failures = 0
        if _periodic(spec):
            return _again(spec, span)
        return Next("exited", reason="completed")
    wants = spec.restart == "always" or (spec.restart == "on-failure" and not ok)
    if wants:
        if _spent(svc):
            msg = _gave_up(svc)
            if _periodic(spec):
                svc.restarts = svc.failures = 0
                return _again(spec, span, msg)
            return Next("failed", None, "error", msg, msg)
        return _backoff(svc, span)
    if _periodic(spec):
        return _again(spec, span)
    if ok:
        return Next("exited", reason="exited cleanly; not restarted (restart: " + spec.restart + ")")
    return Next("failed", reason="not restarted (restart: " + spec.restart + ")")


def _periodic(spec):
    return spec.interval is not None or spec.schedule is not None


def _again(spec, span, msg=""):
    """The next run of a periodic oneshot: `interval` after this one, or at its schedule's
    next time (no delay here: zei.core.schedule sets the deadline and says when)."""
    if spec.schedule is not None:
        return Next("scheduled", None, "info", msg)
    return Next("scheduled", spec.interval, "info", (msg + "; " if msg else "") + f"next run in {span(spec.interval)}")


def dependencies(svc, deps):
    """("starting" | "waiting" | "blocked", reason) for a service waiting on `deps`, a list of
    (dependency Service, condition, required) (zei.core.health decides each condition). A
    required dependency that can never meet its condition blocks its dependents until it
    comes back; one with required: false is then passed over."""
    dead, down = [], []
    for d, condition, required in deps:
        if health.met(d, condition):
            continue
        if health.impossible(d, condition):
            if required:
                dead.append(d.name if condition == STARTED else f"{d.name} ({_WORDS[condition]})")
            continue
        down.append(d.name if condition == STARTED else f"{d.name} to be {_WORDS[condition]}")
    if dead:
        return "blocked", "dependency failed: " + ", ".join(dead)
    return ("waiting", "waiting for " + ", ".join(down)) if down else ("starting", "")


_WORDS = {HEALTHY: "ready", COMPLETED: "completed successfully"}


def after_unhealthy(svc, good_for, span):
    """An unhealthy service was stopped to be restarted: an automatic restart whatever its
    restart policy (health governs this), counted for backoff and max_restarts. A run that
    was healthy for at least stable_after() was no crash loop: the counters start over."""
    spec = svc.spec
    if good_for >= stable_after(spec):
        svc.restarts = svc.failures = 0
    if _spent(svc):
        msg = "unhealthy; " + _gave_up(svc)
        return Next("failed", None, "error", msg, msg)
    return _backoff(svc, span, "unhealthy: ")


def _spent(svc):
    """max_restarts restarts in a row are used up."""
    return bool(svc.spec.max_restarts) and svc.restarts >= svc.spec.max_restarts


def _gave_up(svc):
    return f"gave up after {svc.restarts} restart(s) in a row (max_restarts {svc.spec.max_restarts})"


def _backoff(svc, span, prefix=""):
    """One more automatic restart: counted, after the current backoff delay."""
    spec = svc.spec
    svc.restarts += 1
    svc.delay = delay_for(spec, svc.failures)
    svc.failures += 1
    of = f" of {spec.max_restarts}" if spec.max_restarts else ""
    return Next("backoff", svc.delay, "info",
                f"{prefix}restarting in {span(svc.delay)} (restart {svc.restarts}{of})")


def essential_end(svc):
    """(exit code, what happened) if `svc` is essential and has ended for good, else None."""
    if not svc.spec.essential or svc.state not in (EXITED, FAILED, BLOCKED):
        return None
    if svc.state == BLOCKED:
        return EXIT_CANNOT_START, f"can never start ({svc.reason})"
    last = svc.last_exit or {}
    if "error" in last:
        return EXIT_CANNOT_START, "could not start: " + last["error"]
    return exit_code(svc), f"exited ({describe_exit(last.get('code'), last.get('signal'))})"


def exit_code(svc):
    """The container's exit code for an essential service that ended for good."""
    last = svc.last_exit or {}
    if "signal" in last:
        return 128 + last["signal"]
    if "code" in last:
        return 0 if last["code"] in svc.spec.success_exit_codes else last["code"]
    return EXIT_CANNOT_START
