"""zei.core.jsontext against the standard json package: the same text out, the same values in,
an error where json has one."""
from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zei.core import jsontext

scalars = (st.none() | st.booleans() | st.integers() | st.integers(min_value=-2**80, max_value=2**80)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text())
keys = st.text() | st.integers() | st.booleans() | st.none() | st.floats(allow_nan=False)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=5)
                      | st.tuples(inner, inner)
                      | st.dictionaries(keys, inner, max_size=5), max_leaves=30)


def same(a, b):
    """Equal as JSON values (NaN equals NaN; tuples are lists)."""
    return json.dumps(a, sort_keys=False) == json.dumps(b, sort_keys=False)


@settings(max_examples=600, deadline=None)
@given(values)
def test_dumps_is_json_dumps(obj):
    assert jsontext.dumps(obj) == json.dumps(obj)
    assert jsontext.dumps(obj, compact=True) == json.dumps(obj, separators=(",", ":"))


@settings(max_examples=600, deadline=None)
@given(values, st.sampled_from([None, 0, 2, "\t"]))
def test_loads_reads_what_json_writes(obj, indent):
    text = json.dumps(obj, indent=indent, ensure_ascii=indent is None)
    assert same(jsontext.loads(text), json.loads(text))


JSONISH = st.text(alphabet='{}[]":,-+.eE0123456789 \t\n\\/ubfnrtaxlsNI\x00\x1f\u00e9\ud800\udc00',
                  max_size=40)


def outcome(loader, text):
    try:
        return "ok", json.dumps(loader(text))
    except (ValueError, RecursionError):
        return "error", None


@settings(max_examples=3000, deadline=None)
@given(JSONISH)
def test_any_text_same_outcome_as_json(text):
    assert outcome(jsontext.loads, text) == outcome(json.loads, text)


@settings(max_examples=1000, deadline=None)
@given(st.text(max_size=30))
def test_any_string_literal_round_trips(s):
    assert jsontext.quote(s) == json.dumps(s)
    assert jsontext.loads(jsontext.quote(s)) == s
    assert jsontext.loads(json.dumps(s, ensure_ascii=False)) == s


@pytest.mark.parametrize("text, value", [
    ('{"cmd":"list"}', {"cmd": "list"}),
    (' [1, -0, 2.5e3, 1E-2, -1.0] ', [1, 0, 2500.0, 0.01, -1.0]),
    ('"\\ud83d\\ude00 \\u00e9 \\/ \\n"', "\U0001F600 \u00e9 / \n"),
    ('"\\ud800x"', "\ud800x"),                      # a lone surrogate stays, as json keeps it
    ('{"a": 1, "a": 2}', {"a": 2}),
    ("123456789012345678901234567890", 123456789012345678901234567890),
])
def test_examples(text, value):
    assert jsontext.loads(text) == value == json.loads(text)


@pytest.mark.parametrize("text", [
    "", " ", "[1,]", "{,}", '{"a" 1}', "[1 2]", "01", "1.", ".5", "-", "+1", "1e", '"\x01"',
    '"abc', '"\\x"', '"\\u12"', "nul", "[" * 300 + "]" * 300, "{}x", "tru", "NaNx",
])
def test_invalid_text_raises_value_error(text):
    with pytest.raises(ValueError):
        jsontext.loads(text)


def test_constants_as_json_takes_them():
    got = jsontext.loads('[NaN, Infinity, -Infinity]')
    assert math.isnan(got[0]) and got[1:] == [math.inf, -math.inf]


def test_unserializable_is_a_type_error():
    with pytest.raises(TypeError):
        jsontext.dumps({"a": object()})
    with pytest.raises(TypeError):
        jsontext.dumps({(1, 2): 3})


def test_nesting_past_the_bound_is_a_value_error_not_a_crash():
    deep = []
    for _ in range(jsontext.MAX_DEPTH + 5):
        deep = [deep]
    with pytest.raises(ValueError):
        jsontext.dumps(deep)
    with pytest.raises(ValueError):
        jsontext.loads("[" * 100000)
