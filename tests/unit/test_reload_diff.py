"""zei.core.reload.diff: what a reload changes, as a table (issue 13, `zei reload`)."""
from __future__ import annotations

import pytest

from fakes import spec
from zei.core.model import Config, Healthcheck, with_command
from zei.core.reload import diff, summary


def cfg(*specs, **top):
    return Config(path="z.yaml", services=tuple(specs), **top)


CASES = [
    ("nothing", cfg(spec("a")), cfg(spec("a")), (), (), (), ("a",), ()),
    ("only the line moved", cfg(spec("a", line=3)), cfg(spec("a", line=9)), (), (), (), ("a",), ()),
    ("command", cfg(spec("a")), cfg(spec("a", command=("/bin/false",))),
     (("a", ("command",)),), (), (), (), ()),
    ("two fields", cfg(spec("a")), cfg(spec("a", command=("x",), environment=(("K", "v"),))),
     (("a", ("command", "environment")),), (), (), (), ()),
    ("healthcheck", cfg(spec("a")), cfg(spec("a", healthcheck=Healthcheck(kind="tcp", port=1))),
     (("a", ("healthcheck",)),), (), (), (), ()),
    ("added", cfg(spec("a")), cfg(spec("a"), spec("b")), (), ("b",), (), ("a",), ()),
    ("removed", cfg(spec("a"), spec("b")), cfg(spec("a")), (), (), ("b",), ("a",), ()),
    ("renamed", cfg(spec("a")), cfg(spec("b")), (), ("b",), ("a",), (), ()),
    ("shutdown_timeout", cfg(spec("a")), cfg(spec("a"), shutdown_timeout=5.0), (), (), (), ("a",),
     ("shutdown_timeout",)),
    ("file order kept", cfg(spec("a"), spec("b")), cfg(spec("b", user="x"), spec("c"), spec("a", user="y")),
     (("b", ("user",)), ("a", ("user",))), ("c",), (), (), ()),
]


@pytest.mark.parametrize("what, old, new, changed, added, removed, unchanged, settings", CASES,
                         ids=[c[0] for c in CASES])
def test_diff(what, old, new, changed, added, removed, unchanged, settings):
    d = diff(old, new)
    assert (d.changed, d.added, d.removed, d.unchanged, d.settings) == \
        (changed, added, removed, unchanged, settings)


def test_summary_one_line_per_change():
    d = diff(cfg(spec("web"), spec("old")),
             cfg(spec("web", command=("x",), environment=(("A", "1"),)), spec("cache")))
    assert summary(d) == ["web: restarted (changed: command, environment)", "cache: added", "old: removed"]


def test_command_mode_main_is_never_restarted():
    old = with_command(cfg(spec("a")), ["sh"])
    new = with_command(cfg(spec("a"), spec("b")), ["sh"])
    d = diff(old, new)
    assert d.added == ("b",) and "main" in d.unchanged and d.changed == ()
