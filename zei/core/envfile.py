"""Parsing one env file (`env_file:`), with docker compose's rules. Pure: text in, pairs out.

A line is `KEY=VALUE`, or `export KEY=VALUE`; blank lines and lines starting with `#` are
ignored, and each line's leading and trailing whitespace is trimmed (around the `=` too).
A value may be quoted: 'single quotes' keep their text as is; "double quotes" understand
the escapes \\n \\t \\r \\\\ \\" and \\$ (any other backslash stays). A quoted value ends at
its closing quote on the same line, and after it only whitespace or a `# comment` may
follow. An unquoted value ends at ` #` (a comment after whitespace) and is trimmed. No `${VAR}`
interpolation: a `$` is a `$`.

A name is a letter or `_`, then letters, digits, `_`, `.` or `-` (compose's names, which
shells cannot always spell but programs can read). A line without `=`, with another name,
or a value that is unusable for execve (a NUL, a lone surrogate) is a problem naming its
line; every problem of the file is reported. A problem shows a name, never a value (nor a
line without `=`: it may be a pasted secret).
"""
from __future__ import annotations

import re

MAX_SIZE = 1 << 20                  # bytes: an env file is settings, not data
_NAME_RE = re.compile(r"\A[A-Za-z_][A-Za-z0-9_.-]*\Z")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "$": "$"}
_WS = " \t\r\f\v"


def _short(text):
    text = text if text.isprintable() else repr(text)
    return text if len(text) <= 60 else text[:57] + "..."


def _unquote_double(rest):
    """The value of `"..."` at the start of `rest`, and what follows it; None if unclosed."""
    out, i = [], 1
    while i < len(rest):
        c = rest[i]
        if c == "\\" and i + 1 < len(rest):
            nxt = rest[i + 1]
            out.append(_ESCAPES.get(nxt, "\\" + nxt))
            i += 2
            continue
        if c == '"':
            return "".join(out), rest[i + 1:]
        out.append(c)
        i += 1
    return None


def parse_line(line):
    """One line -> None (blank or comment), (name, value), or raises ValueError(reason)."""
    text = line.strip(_WS)
    if not text or text.startswith("#"):
        return None
    if text.startswith("export") and text[6:7] in (" ", "\t"):
        text = text[6:].lstrip(_WS)
    name, sep, rest = text.partition("=")
    name = name.rstrip(_WS)
    if not sep:
        raise ValueError("expected KEY=VALUE: the line has no '='")     # not shown: it may be a secret
    if not _NAME_RE.fullmatch(name):
        raise ValueError(f"not a valid variable name (got {_short(name)}); names are a letter "
                         "or '_', then letters, digits, '_', '.' or '-'")
    rest = rest.lstrip(_WS)
    if rest[:1] in ("'", '"'):
        quote = rest[0]
        if quote == "'":
            end = rest.find("'", 1)
            got = None if end < 0 else (rest[1:end], rest[end + 1:])
        else:
            got = _unquote_double(rest)
        if got is None:
            raise ValueError(f"{name}: the value has no closing {quote} on its line")
        value, after = got
        after = after.strip(_WS)
        if after and not after.startswith("#"):
            raise ValueError(f"{name}: unexpected text after the closing {quote}")
    else:
        value = re.split(r"[ \t]#", rest, maxsplit=1)[0].rstrip(_WS)
    why = _unusable(value)
    if why is not None:
        raise ValueError(f"{name}: the value {why}")
    return name, value


def _unusable(text):
    if "\0" in text:
        return "must not contain a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid UTF-8 text"
    return None


def too_big(text):
    """Whether a file's text is over MAX_SIZE bytes (a reader hands at most one more)."""
    return len(text) > MAX_SIZE or len(text.encode("utf-8", "surrogateescape")) > MAX_SIZE


def parse(text):
    """A whole file -> (pairs, problems): pairs ((name, value), ...) in file order, a name
    given twice keeping its last value (at its first place); problems ((line, reason), ...).
    Bytes that are not UTF-8 arrive as lone surrogates (surrogateescape): their line is a
    problem."""
    values, problems = {}, []
    for number, line in enumerate(text.split("\n"), 1):
        try:
            got = parse_line(line)
        except ValueError as e:
            problems.append((number, str(e)))
            continue
        if got is not None:
            values[got[0]] = got[1]
    return tuple(values.items()), tuple(problems)

