"""The core decides, the shell does: zei/core imports nothing that touches the system, and
nothing of zei/shell or the entry modules; the package boundary is the architecture."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ZEI = Path(__file__).resolve().parents[2] / "zei"
CORE = tuple(sorted(p.stem for p in (ZEI / "core").glob("*.py") if p.stem != "__init__"))
SHELL = tuple(sorted(p.stem for p in (ZEI / "shell").glob("*.py") if p.stem != "__init__"))
FORBIDDEN = {"os", "signal", "select", "socket", "time", "subprocess", "_signal", "_socket"}


def imported_modules(source):
    """Every module name a source imports, at any depth (inside functions too)."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:                       # from . import x / from .x import y
                base = "zei" + ("." + node.module if node.module else "")
                names.add(base)
                if not node.module:
                    names.update(f"zei.{alias.name}" for alias in node.names)
            else:
                names.add(node.module)
                if node.module == "zei":
                    names.update(f"zei.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "__import__":
            if node.args and isinstance(node.args[0], ast.Constant):
                names.add(node.args[0].value)
    return names


def test_the_checker_sees_every_import_form():
    src = ("import os\nimport os.path as p\nfrom time import monotonic\n"
           "def f():\n    import select\n    from zei import spawn\n    __import__('socket')\n"
           "from . import daemon\n")
    found = imported_modules(src)
    assert {"os", "os.path", "time", "select", "zei.spawn", "socket", "zei.daemon"} <= found


@pytest.mark.parametrize("module", CORE)
def test_core_module_imports_no_system_module(module):
    names = imported_modules((ZEI / "core" / f"{module}.py").read_text())
    bad = sorted(n for n in names if n.split(".")[0] in FORBIDDEN)
    assert not bad, f"zei/core/{module}.py imports {bad}; the core must not touch the system"


@pytest.mark.parametrize("module", CORE)
def test_core_module_imports_only_the_core(module):
    names = imported_modules((ZEI / "core" / f"{module}.py").read_text())
    outside = sorted(n for n in names if n == "zei" or (n.startswith("zei.") and not n.startswith("zei.core")))
    assert not outside, f"zei/core/{module}.py imports {outside}; the core imports only zei.core"


def test_the_layout_is_the_architecture():
    assert {"supervisor", "policy", "shutdown", "config", "model", "protocol", "control"} <= set(CORE)
    assert {"daemon", "spawn", "reaper", "signals", "privileges", "server", "client"} <= set(SHELL)
    top = sorted(p.stem for p in ZEI.glob("*.py"))
    assert top == ["__init__", "__main__", "cli", "prelude", "render", "usage"], top


@pytest.mark.parametrize("module", SHELL)
def test_shell_modules_do_not_import_the_entry(module):
    names = imported_modules((ZEI / "shell" / f"{module}.py").read_text())
    assert not {"zei.cli", "zei.prelude", "zei.__main__", "zei.render"} & names
