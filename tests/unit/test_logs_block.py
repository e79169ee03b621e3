"""The block fast path (LineSplitter.feed_block + Output.block) equals feed() + lines() exactly.

The daemon uses the block path for every read from a service pipe because it avoids a Python
object per line (docs/benchmarks.md, B10); these properties keep it byte-for-byte identical
to the line path, long-line cutting included."""
from __future__ import annotations

from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from zei.shell import logs
from zei.shell.logs import LineSplitter, Output

# Small MAX_LINE so that generated data often crosses it; the real value is tested too.
chunk = st.binary(max_size=40).map(lambda b: b.replace(b"\x00", b"\n"))
chunks = st.lists(st.one_of(chunk, st.sampled_from([b"\n", b"x" * 17, b"y" * 9 + b"\n"])), max_size=12)


class Capture(Output):
    def __init__(self, fmt):
        super().__init__(fd=-1, fmt=fmt)
        self.data = b""

    def write_bytes(self, data, event=False):
        self.data += data


@settings(max_examples=300, deadline=None)
@given(chunks, st.sampled_from([4, 5, 8]))
def test_feed_block_matches_feed(parts, max_line):
    with mock.patch.object(logs, "MAX_LINE", max_line):
        by_line, by_block = LineSplitter(), LineSplitter()
        for part in parts:
            expected = b"".join(line + b"\n" for line in by_line.feed(part))
            assert by_block.feed_block(part) == expected
            assert by_block.partial == by_line.partial
        assert by_block.finish() == by_line.finish()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(max_size=300).map(lambda b: b.replace(b"\x00", b"\n")), max_size=6))
def test_feed_block_matches_feed_at_real_size(parts):
    parts = [p * 200 for p in parts]                       # up to 60 KB: crosses MAX_LINE
    by_line, by_block = LineSplitter(), LineSplitter()
    for part in parts:
        assert by_block.feed_block(part) == b"".join(ln + b"\n" for ln in by_line.feed(part))
        assert by_block.partial == by_line.partial


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(max_size=20).map(lambda b: b.replace(b"\n", b"")), max_size=8),
       st.sampled_from(["text", "json"]), st.booleans(), st.sampled_from(["stdout", "stderr"]))
def test_block_output_matches_lines_output(lines, fmt, json_logs, stream):
    with mock.patch.object(logs, "_now", lambda: "2024-01-01T00:00:00.000Z"):
        a, b = Capture(fmt), Capture(fmt)
        a.lines("web", stream, lines, json_logs)
        b.block("web", stream, b"".join(line + b"\n" for line in lines), json_logs)
    assert a.data == b.data
