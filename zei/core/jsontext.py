"""JSON text (RFC 8259) for the control protocol and zei's log records, without `json`.

The standard json package imports `re` (and with it `enum`, `re._parser`, ...): in PID 1
that is about 1.5 MB of memory it would hold for good, and in every CLI call ~5 ms of a
round trip whose whole budget is a few times the interpreter's own start-up; the frozen
binary has no `_json` accelerator either, so json would run its pure-Python code anyway.
This module is the small part of json zei needs, with the same output bytes:

    dumps(obj)                as json.dumps(obj): ensure_ascii, separators ", " and ": ",
                              NaN/Infinity as json writes them, keys str/int/float/bool/None
    dumps(obj, compact=True)  as json.dumps(obj, separators=(",", ":"))
    loads(text)               as json.loads(text) for any valid JSON text (and NaN,
                              Infinity, -Infinity, which json also takes); invalid text,
                              control characters in strings, nesting deeper than MAX_DEPTH
                              or trailing data raise ValueError

Strings are scanned with str.find between escapes and encoded with one C-level check on
the common case (printable ASCII without quote or backslash); numbers follow RFC 8259's
grammar with ASCII digits only (as json's C scanner). Pure: no I/O.
"""
from __future__ import annotations

MAX_DEPTH = 200                 # nesting of arrays/objects loads() accepts

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r",
            "\t": "\\t"}
_UNESCAPE = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r",
             "t": "\t"}
_CONTROL = frozenset(chr(i) for i in range(32))
_DIGITS = frozenset("0123456789")
_NUMBER_CHARS = frozenset("0123456789+-.eE")
_WS = frozenset(" \t\n\r")
_WORDS = {"n": ("null",), "t": ("true",), "f": ("false",), "N": ("NaN",), "I": ("Infinity",)}
_CONSTANTS = {"null": None, "true": True, "false": False,
              "NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


# ---- dumps ---------------------------------------------------------------------------------

def dumps(obj, compact=False):
    parts = []
    _encode(obj, parts, ("," if compact else ", "), (":" if compact else ": "), 0)
    return "".join(parts)


def quote(text):
    """A str as a JSON string literal, as json.dumps(text)."""
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return '"' + text + '"'
    out = []
    for c in text:
        if " " <= c <= "~":
            out.append(_ESCAPES.get(c, c))
        elif c in _ESCAPES:
            out.append(_ESCAPES[c])
        else:
            n = ord(c)
            if n > 0xFFFF:
                n -= 0x10000
                out.append("\\u%04x\\u%04x" % (0xD800 | n >> 10, 0xDC00 | n & 0x3FF))
            else:
                out.append("\\u%04x" % n)
    return '"' + "".join(out) + '"'


def _float(value):
    if value != value:
        return "NaN"
    if value == float("inf"):
        return "Infinity"
    if value == float("-inf"):
        return "-Infinity"
    return float.__repr__(value)


def _key(key):
    if isinstance(key, str):
        return quote(key)
    if isinstance(key, bool) or key is None:
        return '"' + ("true" if key is True else "false" if key is False else "null") + '"'
    if isinstance(key, int):
        return '"' + int.__repr__(key) + '"'
    if isinstance(key, float):
        return '"' + _float(key) + '"'
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")


def _encode(obj, parts, item_sep, key_sep, depth):
    if isinstance(obj, str):
        parts.append(quote(obj))
    elif obj is None:
        parts.append("null")
    elif obj is True:
        parts.append("true")
    elif obj is False:
        parts.append("false")
    elif isinstance(obj, int):
        parts.append(int.__repr__(obj))
    elif isinstance(obj, float):
        parts.append(_float(obj))
    elif depth > MAX_DEPTH:
        raise ValueError("nested too deep (or circular)")
    elif isinstance(obj, dict):
        if not obj:
            parts.append("{}")
            return
        parts.append("{")
        first = True
        for key, value in obj.items():
            if not first:
                parts.append(item_sep)
            first = False
            parts.append(_key(key))
            parts.append(key_sep)
            _encode(value, parts, item_sep, key_sep, depth + 1)
        parts.append("}")
    elif isinstance(obj, (list, tuple)):
        if not obj:
            parts.append("[]")
            return
        parts.append("[")
        for i, value in enumerate(obj):
            if i:
                parts.append(item_sep)
            _encode(value, parts, item_sep, key_sep, depth + 1)
        parts.append("]")
    else:
        raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


# ---- loads ---------------------------------------------------------------------------------

def loads(text):
    if isinstance(text, (bytes, bytearray)):
        text = text.decode("utf-8")
    pos = _skip(text, 0)
    value, pos = _value(text, pos, 0)
    pos = _skip(text, pos)
    if pos != len(text):
        raise ValueError(f"extra data at character {pos}")
    return value


def _skip(text, pos):
    while text[pos:pos + 1] in _WS:
        pos += 1
    return pos


def _value(text, pos, depth):
    c = text[pos:pos + 1]
    if c == '"':
        return _string(text, pos + 1)
    if c == "{":
        return _object(text, pos + 1, depth + 1)
    if c == "[":
        return _array(text, pos + 1, depth + 1)
    if c in _DIGITS or c == "-":
        if c == "-" and text.startswith("-Infinity", pos):
            return _CONSTANTS["-Infinity"], pos + 9
        return _number(text, pos)
    for word in _WORDS.get(c, ()):
        if text.startswith(word, pos):
            return _CONSTANTS[word], pos + len(word)
    raise ValueError(f"expecting a value at character {pos}")


def _number(text, start):
    end = start + 1
    while text[end:end + 1] in _NUMBER_CHARS:
        end += 1
    s = text[start:end]
    if s.isdigit() and (s[0] != "0" or len(s) == 1):       # the usual case: a plain count
        return int(s), end
    # RFC 8259: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?; take the longest valid prefix
    i = 1 if s.startswith("-") else 0
    if i >= len(s) or s[i] not in _DIGITS:
        raise ValueError(f"expecting a value at character {start}")
    j = i + 1
    if s[i] != "0":
        while j < len(s) and s[j] in _DIGITS:
            j += 1
    integer, is_float = j, False
    if j + 1 < len(s) and s[j] == "." and s[j + 1] in _DIGITS:
        j += 2
        while j < len(s) and s[j] in _DIGITS:
            j += 1
        is_float = True
    if j < len(s) and s[j] in "eE":
        k = j + 1
        if k < len(s) and s[k] in "+-":
            k += 1
        if k < len(s) and s[k] in _DIGITS:
            while k < len(s) and s[k] in _DIGITS:
                k += 1
            j, is_float = k, True
    if not is_float:
        return int(s[:integer]), start + integer
    return float(s[:j]), start + j


def _string(text, pos):
    """(the string starting after its opening quote at pos, the position after its end)."""
    out = []
    while True:
        end = text.find('"', pos)
        if end < 0:
            raise ValueError(f"unterminated string at character {pos - 1}")
        esc = text.find("\\", pos, end)
        if esc < 0:
            chunk = text[pos:end]
            if not _CONTROL.isdisjoint(chunk):
                raise ValueError("invalid control character in a string")
            if not out:
                return chunk, end + 1
            out.append(chunk)
            return "".join(out), end + 1
        chunk = text[pos:esc]
        if not _CONTROL.isdisjoint(chunk):
            raise ValueError("invalid control character in a string")
        out.append(chunk)
        pos = _escape(text, esc + 1, out)


def _escape(text, pos, out):
    """Decode the escape after a backslash at pos-1 into out; the position after it."""
    c = text[pos:pos + 1]
    if c in _UNESCAPE and c:
        out.append(_UNESCAPE[c])
        return pos + 1
    if c != "u":
        raise ValueError(f"invalid escape at character {pos - 1}")
    code = _hex4(text, pos + 1)
    pos += 5
    if 0xD800 <= code <= 0xDBFF and text.startswith("\\u", pos):
        low = _hex4(text, pos + 2)
        if 0xDC00 <= low <= 0xDFFF:
            out.append(chr(0x10000 + ((code - 0xD800) << 10 | (low - 0xDC00))))
            return pos + 6
    out.append(chr(code))
    return pos


def _hex4(text, pos):
    digits = text[pos:pos + 4]
    if len(digits) != 4 or not all(c in "0123456789abcdefABCDEF" for c in digits):
        raise ValueError(f"invalid \\u escape at character {pos - 2}")
    return int(digits, 16)


def _object(text, pos, depth):
    if depth > MAX_DEPTH:
        raise ValueError("nested too deep")
    obj = {}
    pos = _skip(text, pos)
    if text.startswith("}", pos):
        return obj, pos + 1
    while True:
        if not text.startswith('"', pos):
            raise ValueError(f"expecting a property name at character {pos}")
        key, pos = _string(text, pos + 1)
        if text[pos:pos + 1] != ":":
            pos = _skip(text, pos)
            if not text.startswith(":", pos):
                raise ValueError(f"expecting ':' at character {pos}")
        value, pos = _value(text, _skip(text, pos + 1), depth)
        obj[key] = value
        pos, done = _next_item(text, pos, "}")
        if done:
            return obj, pos


def _array(text, pos, depth):
    if depth > MAX_DEPTH:
        raise ValueError("nested too deep")
    items = []
    pos = _skip(text, pos)
    if text.startswith("]", pos):
        return items, pos + 1
    while True:
        value, pos = _value(text, pos, depth)
        items.append(value)
        pos, done = _next_item(text, pos, "]")
        if done:
            return items, pos


def _next_item(text, pos, closer):
    """After a member at pos: (start of the next member, False) past a comma, or (the
    position after the closing bracket, True); anything else is an error."""
    c = text[pos:pos + 1]
    if c in _WS:
        pos = _skip(text, pos)
        c = text[pos:pos + 1]
    if c == ",":
        return _skip(text, pos + 1), False
    if c == closer:
        return pos + 1, True
    raise ValueError(f"expecting ',' or '{closer}' at character {pos}")
