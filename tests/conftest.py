"""Fixtures every suite under tests/ shares."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest


@pytest.fixture
def open_tmp():
    """A temporary directory other users can traverse (pytest's own base is 0700)."""
    path = Path(tempfile.mkdtemp(prefix="zei-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def started_as(monkeypatch):
    """Fake the process credentials zei.shell.privileges reads (nothing changes for real)."""
    def fake(ruid, rgid, euid=0):
        monkeypatch.setattr(os, "getresuid", lambda: (ruid, euid, euid))
        monkeypatch.setattr(os, "getresgid", lambda: (rgid, euid, euid))
    return fake
