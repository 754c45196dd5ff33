"""The paper's own words: its name, its tagline and how each section describes itself (no Reflex)."""

from __future__ import annotations

PAPER_NAME = "The Daily Current"
TAGLINE = "News that learns what you read"

SECTION_BLURBS = {
    "technology": "Batteries, software, satellites and the machines that run on them.",
    "business": "Companies, markets, jobs and the money that moves between them.",
    "science": "Discoveries from the deep sea to deep space.",
    "health": "Medicine, research and how we look after ourselves.",
    "culture": "Film, music, books, games and the stages where they live.",
    "sport": "Results, records and the stories behind them.",
}
