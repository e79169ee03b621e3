"""The core decides, the shell does: core modules import nothing that touches the system."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ZEI = Path(__file__).resolve().parents[2] / "zei"
CORE = ("supervisor", "config", "model", "actions", "protocol", "control", "records")
FORBIDDEN = {"os", "signal", "select", "socket", "time", "subprocess"}


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
    names = imported_modules((ZEI / f"{module}.py").read_text())
    bad = sorted(n for n in names if n.split(".")[0] in FORBIDDEN)
    assert not bad, f"zei/{module}.py imports {bad}; the core must not touch the system"


@pytest.mark.parametrize("module", CORE)
def test_core_module_imports_only_core_zei_modules(module):
    names = imported_modules((ZEI / f"{module}.py").read_text())
    zei_mods = {n.split(".")[1] for n in names
                if n.startswith("zei.") and not n.split(".")[1].startswith("__")}
    assert zei_mods <= set(CORE), f"zei/{module}.py imports shell modules {sorted(zei_mods - set(CORE))}"
