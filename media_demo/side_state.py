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


def changed_rows(
    reads: ReadStats,
    interventions: InterventionEngine,
    consent: ConsentLedger,
    links: IdentityLinks,
    coreads: CoReads | None = None,
) -> tuple[list[Row], list[Key]]:
    """The rows to write and to delete for everything changed since the last call."""
    upserts: list[Row] = []
    deletes: list[Key] = []

    def put(group: str, entity: str, value: Any) -> None:
        if value is None:
            deletes.append((group, entity))
        else:
            upserts.append((group, entity, orjson.dumps(value)))

    for slug, key in reads.take_changed():
        put(f"{READS}{SEP}{slug}", key, reads.entry(slug, key))
    for target in interventions.take_changed():
        rule, target_key, target_id = target
        put(f"{INTERVENTIONS}{SEP}{rule}{SEP}{target_key}", target_id, interventions.dump_one(target))
    for reader in consent.take_changed():
        put(CONSENT, reader, consent.dump_one(reader))
    for user in links.take_changed():
        put(LINKS, user, links.devices(user) or None)
    if coreads is not None:
        for reader in coreads.take_changed():
            put(COREADS, reader, coreads.entry(reader))
    return upserts, deletes


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
