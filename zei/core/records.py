"""Immutable records without dataclasses (which import inspect: ~3 MB and ~10 ms per start).

record("Kill", "name pid sig") is a namedtuple whose equality also compares the type, so
Kill("a", 1, 15) never equals another record that happens to hold the same values.
"""
from __future__ import annotations

import collections


def record(name, fields, defaults=(), doc=None):
    base = collections.namedtuple(name, fields, defaults=defaults)

    def __eq__(self, other):
        return type(self) is type(other) and tuple.__eq__(self, other)

    def __ne__(self, other):
        return not __eq__(self, other)

    cls = type(name, (base,), {"__slots__": (), "__eq__": __eq__, "__ne__": __ne__,
                               "__hash__": tuple.__hash__, "__doc__": doc or base.__doc__})
    return cls
