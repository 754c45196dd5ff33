"""Reflex configuration of the load test's floor app (`floor_app/floor_app.py`): as the newspaper's, minus its theme.

Run by `make loadtest ARGS=--floor` from this folder, as `reflex run --env prod --backend-only`.
"""

import os

os.environ.setdefault("REFLEX_USE_NPM", "1")

import reflex as rx
from reflex.plugins.sitemap import SitemapPlugin

config = rx.Config(
    app_name="floor_app",
    state_manager_mode="memory",  # as the newspaper's embedded default
    telemetry_enabled=False,
    show_built_with_reflex=False,
    disable_plugins=[SitemapPlugin],
)
