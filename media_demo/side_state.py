"""The newsroom's state beside the engine's attributes, checkpointed entry by entry.

Read counts per (story, reader), intervention transitions per target, consent
per reader, identity links per account and each reader's co-read window all grow with every reader there
has ever been. A checkpoint writes only the entries changed since the last
one (and deletes the ones that went), so its cost follows the traffic since
the last checkpoint, not all of history. The rows share the engine's state
table under group ids that start with "@", keyed by the reader (or account)
they belong to, so deleting a reader's rows by id removes these too.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from media_demo.recommend import CoReads, ReadStats
from media_demo.signals.engine.consent import ConsentLedger
from media_demo.signals.engine.identity import IdentityLinks
from media_demo.signals.engine.interventions import InterventionEngine

PREFIX = "@"
READS = "@reads"
INTERVENTIONS = "@interventions"
CONSENT = "@consent"
LINKS = "@links"
COREADS = "@coreads"
SEP = "\x1f"  # between a group id's parts: never part of a slug, rule name or key name

Row = tuple[str, str, bytes]  # (group id, entity, JSON)
Key = tuple[str, str]  # (group id, entity)


Change = tuple[str, Any]  # (kind, key within it): one entry to rewrite, as `take_changed` names it


def take_changed(
    reads: ReadStats,
    interventions: InterventionEngine,
    consent: ConsentLedger,
    links: IdentityLinks,
    coreads: CoReads | None = None,
) -> list[Change]:
    """The entries changed since the last call, named, not yet read: cheap under the lock.

    A checkpoint takes them in one short hold and reads them (`rows_of`) in slices, so no hold
    lasts as long as serialising every changed entry would.
    """
    changes: list[Change] = [(READS, key) for key in reads.take_changed()]
    changes += [(INTERVENTIONS, target) for target in interventions.take_changed()]
    changes += [(CONSENT, reader) for reader in consent.take_changed()]
    changes += [(LINKS, user) for user in links.take_changed()]
    if coreads is not None:
        changes += [(COREADS, reader) for reader in coreads.take_changed()]
    return changes


def rows_of(
    changes: Iterable[Change],
    reads: ReadStats,
    interventions: InterventionEngine,
    consent: ConsentLedger,
    links: IdentityLinks,
    coreads: CoReads | None = None,
) -> list[tuple[Key, bytes | None]]:
    """((group id, entity), JSON) of each change as the entry is now; None for an entry that went (a delete)."""
    rows: list[tuple[Key, bytes | None]] = []
    for kind, key in changes:
        value: Any
        if kind == READS:
            slug, reader = key
            group, entity, value = f"{READS}{SEP}{slug}", reader, reads.entry(slug, reader)
        elif kind == INTERVENTIONS:
            rule, target_key, target_id = key
            group, entity, value = (
                f"{INTERVENTIONS}{SEP}{rule}{SEP}{target_key}",
                target_id,
                interventions.dump_one(key),
            )
        elif kind == CONSENT:
            group, entity, value = CONSENT, key, consent.dump_one(key)
        elif kind == LINKS:
            group, entity, value = LINKS, key, links.devices(key) or None
        elif coreads is not None:
            group, entity, value = COREADS, key, coreads.entry(key)
        else:
            continue
        rows.append(((group, entity), None if value is None else orjson.dumps(value)))
    return rows


def restore_rows(
    rows: Iterable[Row],
    reads: ReadStats,
    interventions: InterventionEngine,
    consent: ConsentLedger,
    links: IdentityLinks,
    coreads: CoReads | None = None,
) -> None:
    """Put back what `changed_rows` wrote (the restored entries are not reported as changed)."""
    for group, entity, raw in rows:
        value = orjson.loads(raw)
        kind, _, rest = group.partition(SEP)
        if kind == READS:
            reads.restore(rest, entity, value)
        elif kind == INTERVENTIONS:
            rule, _, target_key = rest.partition(SEP)
            interventions.restore((rule, target_key, entity), value)
        elif kind == CONSENT:
            consent.restore(entity, value)
        elif kind == LINKS:
            links.restore(entity, value)
        elif kind == COREADS and coreads is not None:
            coreads.restore(entity, value)
    for journal in (reads, interventions, consent, links, coreads):
        if journal is not None:
            journal.take_changed()


def restore_legacy(
    extra: dict[str, Any],
    reads: ReadStats,
    interventions: InterventionEngine,
    consent: ConsentLedger,
    links: IdentityLinks,
    coreads: CoReads | None = None,
) -> None:
    """Load a checkpoint written before entries were kept one by one (all in its `extra` document).

    Everything loaded counts as changed, so the next checkpoint writes it as rows. Such a checkpoint
    predates co-reads: they start from the log's tail after it (`coreads` is left as it is).
    """
    for slug, entries in ReadStats.load(extra.get("read_stats", {})).dump().items():
        for key, value in entries.items():
            reads.restore(slug, key, value)
    interventions.load(extra.get("interventions", []))
    consent.load(extra.get("consent", []))
    links.load(extra.get("links", {}))
