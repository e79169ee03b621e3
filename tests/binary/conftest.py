"""Fixtures of tests/binary: the frozen artifact itself, dist/zei (or $ZEI_BIN).

These tests skip only when the binary does not exist AND $ZEI_REQUIRE_BIN is unset;
`make test` sets ZEI_REQUIRE_BIN=1, so there a missing binary (or a missing tool, or not
being root) fails instead of skipping. Helpers live in binhelpers.py.
"""
from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import pytest

from binhelpers import ROOT, suid_capable_base, unavailable, zei_bin_path


@pytest.fixture(scope="session")
def zei_bin() -> Path:
    path = zei_bin_path()
    if not path.is_file():
        unavailable(f"{path} does not exist: run `make build`")
    return path


@pytest.fixture(scope="session")
def version() -> str:
    text = (ROOT / "zei" / "__init__.py").read_text()
    return re.search(r'__version__ = "([^"]+)"', text).group(1)


@pytest.fixture
def world_dir():
    """A fresh 0755 directory that user nobody can traverse, removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="zei-bin-test-", dir=suid_capable_base()))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


