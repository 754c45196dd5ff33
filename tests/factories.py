"""Small builders shared by unit tests, integration tests and benchmarks: canonical events, stories, article folders."""

from __future__ import annotations

import itertools
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from media_demo.definitions import ARTICLE_SCHEMA
from media_demo.settings import ARTICLES_DIR
from media_demo.signals.engine.events import CanonicalEvent

SNOWPLOW = "com.snowplowanalytics.snowplow"
_ids = itertools.count()


def page_view(user: str = "u1", timestamp: float = 0.0, **atomic: Any) -> CanonicalEvent:
    fields = {
        "event_id": str(uuid.UUID(int=next(_ids))),
        "event": "page_view",
        "event_vendor": SNOWPLOW,
        "event_name": "page_view",
        "event_version": "1-0-0",
        "domain_userid": user,
    }
    fields.update(atomic)
    return CanonicalEvent(atomic=fields, timestamp=timestamp)


def self_describing(
    schema: str, data: dict[str, Any], user: str = "u1", timestamp: float = 0.0, **atomic: Any
) -> CanonicalEvent:
    _, path = schema.split(":", 1)
    vendor, name, _format, version = path.split("/")
    fields = {
        "event_id": str(uuid.UUID(int=next(_ids))),
        "event": "unstruct",
        "event_vendor": vendor,
        "event_name": name,
        "event_version": version,
        "domain_userid": user,
    }
    fields.update(atomic)
    return CanonicalEvent(atomic=fields, timestamp=timestamp, event_schema=schema, event_data=data)


def article_view(
    slug: str, category: str, user: str = "u1", timestamp: float = 0.0, title: str | None = None
) -> CanonicalEvent:
    data = {"slug": slug, "title": title or slug.replace("-", " "), "category": category}
    return self_describing(ARTICLE_SCHEMA, data, user=user, timestamp=timestamp)


LIGHTHOUSE_BODY = """Volunteers at the Harrowgate lighthouse have restored its clockwork fog bell, silent since 1961
when the keepers left and an electric horn took its place. The bell's escapement was rebuilt from drawings kept in
the county archive, and a retired clockmaker cut the new teeth of its governor by hand over two winters.

The keepers' logbooks record every winding of the old mechanism: four turns of the crank each hour through a fog,
noted in pencil beside the weather. The volunteers read them aloud at the first trial, and the bell struck on
time for the whole of a wet afternoon while a small crowd stood on the harbour wall.

## What the bell is for now

The bell will not guide ships again: the coastguard's horn and the satellite charts do that. It will ring on the
first Sunday of each month and on the anniversary of the 1887 wreck of the schooner Marigold, whose crew were
brought ashore by the keepers. The trust that owns the tower hopes the bell will draw visitors to its small
museum, which holds the lamp's brass burner and the logbooks themselves.

"People hear it across the bay and come to ask what it is," said the trust's chair. "Then they climb the stairs."
"""


def story_fields(slug: str = "harrowgate-fog-bell-rings-again", **changes: object) -> dict[str, object]:
    """The JSON fields of an original test story (about 250 words), as the publishing API takes them."""
    fields: dict[str, object] = {
        "slug": slug,
        "title": "The Harrowgate fog bell rings again",
        "excerpt": "Volunteers rebuilt the lighthouse's clockwork bell from archive drawings; it will ring monthly.",
        "category": "culture",
        "author": "Tamsin Reyes",
        "published": "2026-11-20",
        "reading_minutes": 2,
        "tags": ["heritage", "lighthouses", "volunteers"],
        "body": LIGHTHOUSE_BODY,
    }
    fields.update(changes)
    return fields


# A few shipped stories, one per section but business: a newsroom small enough to start in a test.
SMALL_CORPUS = (
    "ai-scribe-software-spreads-through-clinics",
    "amateur-astronomers-track-breaking-comet",
    "keira-osei-nears-scoring-record",
    "chamber-opera-tour-village-halls",
    "farm-soil-microbes-childhood-allergies",
)


def articles_folder(target: Path, slugs: Sequence[str] = SMALL_CORPUS) -> Path:
    """A copy of some shipped article files (and FORMAT.md) in `target`, which is made."""
    target.mkdir(parents=True, exist_ok=True)
    for slug in slugs:
        shutil.copy(ARTICLES_DIR / f"{slug}.md", target / f"{slug}.md")
    shutil.copy(ARTICLES_DIR / "FORMAT.md", target / "FORMAT.md")
    return target


def coread_experiment(name: str, device: str = "any", exploration: float = 0.2, minimum_sample: int = 10) -> str:
    """An experiment's TOML: today's picks (`current`) against co-reads, half the readers each, from 2026."""
    return f"""
name = "{name}"
hypothesis = "Co-read picks get more clicks than today's picks."
start = 2026-01-01T00:00:00Z
minimum_sample = {minimum_sample}
[audience]
device = "{device}"
[[variants]]
name = "control"
strategy = "current"
weight = 0.5
[[variants]]
name = "coread"
strategy = "coread"
weight = 0.5
params = {{ exploration = {exploration} }}
"""
