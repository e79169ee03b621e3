"""Waiting for a condition with a deadline: the one way the suites wait (never sleep-and-hope).

Shared by tests/integration, tests/binary and e2e.
"""
import time


def poll_until(predicate, timeout=10.0, interval=0.02, what="condition"):
    """Call predicate until it returns something truthy (returned), or fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
