"""Resident memory: once the services are started, PID 1 gives back the binary's read-only pages.

Start-up runs most of zei's code once (parsing the hand-over, building the supervisor,
importing), and the kernel maps 64 KiB around every page faulted in from the binary
(fault-around): by then ~5.6 MB of code and read-only data are resident, of which the idle
loop uses a few dozen pages. The frozen binary carries a small C helper
(build/zei_release.c) that madvise(MADV_DONTNEED)s its read-only segments — code, constants,
the embedded bytecode, never a page the program wrote — so they leave PID 1's RSS and
stay in the page cache, clean and shared, faulting back in as code runs (a request, a
restart). The kernel would reclaim exactly these pages first under memory pressure; zei
does it once, when boot is over, instead of holding them until then.

The helper reaches Python as builtins.__zei_release_startup_pages, taken out of builtins
here; from the source tree (python -m zei) there is none and release() does nothing.
"""
from __future__ import annotations

import builtins

_release = builtins.__dict__.pop("__zei_release_startup_pages", None)


def release():
    """Bytes of the binary's read-only segments given back (0 where there is no helper)."""
    if _release is None:
        return 0
    try:
        return _release()
    except OSError:
        return 0
