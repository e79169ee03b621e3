"""zei.shell.residency from the source tree: no C helper, so release() gives back nothing and
never fails (the frozen binary's behaviour is tests/binary's)."""
from __future__ import annotations

import builtins

from zei.shell import residency


def test_without_the_binary_helper_release_is_a_no_op():
    assert not hasattr(builtins, "__zei_release_startup_pages")
    assert residency.release() == 0


def test_a_failing_helper_is_not_an_error(monkeypatch):
    def fails():
        raise OSError(22, "Invalid argument")
    monkeypatch.setattr(residency, "_release", fails)
    assert residency.release() == 0
