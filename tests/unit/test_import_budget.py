"""What PID 1 and a CLI call import: the modules measured as the cost of every start-up and
of PID 1's memory (docs/benchmarks.md, issue 14) stay out, so a convenience import cannot
bring them back unnoticed. Each check runs in a fresh interpreter, as the binary would."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# enum and re (with json, typing, socket, signal, selectors that import them) cost a CLI call
# ~15 ms and PID 1 ~1.1 MB; docopt and PyYAML belong to the parsing child only
HEAVY = {"enum", "re", "json", "typing", "socket", "signal", "selectors", "inspect", "docopt",
         "yaml", "dataclasses", "traceback", "difflib"}
# a CLI call drops its privileges and talks to the socket: not even the config model
CLI_HEAVY = HEAVY | {"contextlib", "collections", "zei.shell.users", "zei.core.model"}


def modules_after(code):
    out = subprocess.run([sys.executable, "-I", "-S", "-c",
                          f"import sys; sys.path.insert(0, {str(ROOT)!r})\n{code}\n"
                          "print(' '.join(sorted(sys.modules)))"],
                         capture_output=True, text=True, timeout=60, check=True)
    return set(out.stdout.split())


def test_pid1_holds_none_of_the_heavy_modules():
    found = modules_after("import zei.__main__, zei.prelude, zei.shell.daemon")
    assert not HEAVY & found, sorted(HEAVY & found)


@pytest.mark.parametrize("argv", [["ready"], ["logs", "-n", "5", "web"], ["signal", "web:HUP"]])
def test_a_cli_call_imports_none_of_them(argv):
    code = ("import zei.__main__ as m\n"
            f"code = m.command_line(['--socket', '/nonexistent/zei.sock', *{argv!r}])\n"
            "assert code == 1, code")
    found = modules_after(code)
    assert "zei.cli" in found and "zei.shell.client" in found        # the call did run
    assert not CLI_HEAVY & found, sorted(CLI_HEAVY & found)
