"""Micro-segments: who a reader is right now, decided by rules that are data, not if-chains.

A segment is a name, a label, a description and a rule over the reader's
`ReaderProfile` (their `reader_profile` attributes) plus the `SessionFacts` the
caller knows. Segments are tried in priority order and the first whose rule
holds wins; the match says *why*, condition by condition, so the inspector can
show it. The same `Condition`/`Rule` vocabulary drives the contextual rules of
`media_demo.personalise.context`.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from media_demo.articles import section_label
from media_demo.recommend.profile import ReaderProfile

NEW_VISITOR = "new_visitor"  # the segment of a first visit with nothing read: the default front page
LOYALIST_MIN_READS = 3
LOYALIST_MIN_SHARE = 0.6
DEEP_READER_ARTICLES = 8
RETURNING_AFTER_DAYS = 1.0

_COMPARE: dict[str, tuple[Callable[[Any, Any], bool], str]] = {
    "==": (operator.eq, "="),
    "!=": (operator.ne, "≠"),
    ">=": (operator.ge, "≥"),
    ">": (operator.gt, ">"),
    "<=": (operator.le, "≤"),
    "<": (operator.lt, "<"),
}
# How each fact reads in a "why"; `{...}` are filled from the facts themselves.
FACT_LABELS: dict[str, str] = {
    "page_view_count": "pages viewed",
    "article_read_count": "articles read",
    "distinct_articles_read": "different articles read",
    "top_category_share": "share of reads in {top_category_label}",
    "top_category_reads": "reads in {top_category_label}",
    "session_index": "visit number",
    "days_since_last_visit": "days since the last visit",
    # Facts of the request context (media_demo.personalise.context).
    "local_hour": "local hour",
    "referrer_medium": "came from",
    "referrer_source": "referrer",
    "search_term": "search term",
    "newsletter": "newsletter link",
    "campaign_topic": "link topic",
    "language": "preferred language",
}
PERCENT_FACTS = frozenset({"top_category_share"})


def _show(fact: str, value: Any) -> str:
    if value is None:
        return "unknown"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if fact in PERCENT_FACTS:
        return f"{value:.0%}"
    if isinstance(value, str):
        return f"“{value}”"
    if isinstance(value, float):
        return f"{value:g}" if value == int(value) else f"{value:.1f}"
    return str(value)


class _Lenient(dict):
    """`format_map` source that leaves unknown names visible instead of raising."""

    def __init__(self, facts: Mapping[str, Any]) -> None:
        super().__init__(facts)

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


@dataclass(frozen=True)
class Condition:
    """`fact op value`, e.g. `Condition("article_read_count", ">=", 3)`; `present` needs no value.

    A fact that is missing or None never satisfies a comparison: an unknown
    "days since the last visit" is not "at least one day".
    """

    fact: str
    op: Literal["==", "!=", ">=", ">", "<=", "<", "present"]
    value: Any = None

    def __post_init__(self) -> None:
        if self.op != "present" and self.op not in _COMPARE:
            raise ValueError(f"op: unknown operator {self.op!r}")

    def holds(self, facts: Mapping[str, Any]) -> bool:
        """Whether the reader's facts satisfy the condition; a missing fact or one of another type never does."""
        actual = facts.get(self.fact)
        if self.op == "present":
            return actual not in (None, "", False)
        if actual is None:
            return False
        try:
            return bool(_COMPARE[self.op][0](actual, self.value))
        except TypeError:  # a text fact compared with a number: a broken rule must not break a page
            return False

    def explain(self, facts: Mapping[str, Any]) -> str:
        """The condition with the reader's value, e.g. `articles read: 4 (≥ 3)`."""
        label = FACT_LABELS.get(self.fact, self.fact.replace("_", " ")).format_map(_Lenient(facts))
        actual = _show(self.fact, facts.get(self.fact))
        if self.op == "present":
            return f"{label}: {actual}"
        return f"{label}: {actual} ({_COMPARE[self.op][1]} {_show(self.fact, self.value)})"


@dataclass(frozen=True)
class Rule:
    """Conditions combined with `all` or `any`."""

    conditions: tuple[Condition, ...]
    mode: Literal["all", "any"] = "all"

    def matched(self, facts: Mapping[str, Any]) -> tuple[Condition, ...] | None:
        """The conditions that hold when the rule does (for `any`, only those), else None."""
        held = tuple(c for c in self.conditions if c.holds(facts))
        if self.mode == "all":
            return held if len(held) == len(self.conditions) else None
        return held or None


def all_of(*conditions: Condition) -> Rule:
    """A rule that needs every condition."""
    return Rule(tuple(conditions), "all")


def any_of(*conditions: Condition) -> Rule:
    """A rule that needs one condition at least."""
    return Rule(tuple(conditions), "any")


def why(conditions: Iterable[Condition], facts: Mapping[str, Any]) -> str:
    """The explanations of the matched conditions, joined for one line of the inspector."""
    return "; ".join(c.explain(facts) for c in conditions)


@dataclass(frozen=True)
class SessionFacts:
    """What the caller knows of the reader's visit, beside their profile.

    `session_index` is the visit number of the `dc_session` cookie (1 = first visit);
    `days_since_last_visit` is None when unknown (no earlier visit, or not tracked).
    """

    session_index: int = 1
    days_since_last_visit: float | None = None


FIRST_VISIT = SessionFacts()


def segment_facts(profile: ReaderProfile, session: SessionFacts = FIRST_VISIT) -> dict[str, Any]:
    """The flat mapping the segment rules are evaluated on: the reader's profile plus their visit."""
    top = profile.top_category
    return {
        "page_view_count": profile.page_view_count,
        "article_read_count": profile.article_read_count,
        "distinct_articles_read": profile.distinct_articles_read,
        "top_category": top,
        "top_category_label": section_label(top) if top else "no section",
        "top_category_reads": profile.category_reads.get(top, 0) if top else 0,
        "top_category_share": profile.top_category_share,
        "session_index": session.session_index,
        "days_since_last_visit": session.days_since_last_visit,
    }


@dataclass(frozen=True)
class Segment:
    """A named group of readers and the rule that puts a reader in it."""

    name: str
    label: str
    description: str
    rule: Rule
    names_topic: bool = False  # the match carries the reader's top category


@dataclass(frozen=True)
class SegmentMatch:
    """The segment a reader is in, and why (the conditions that held, with the reader's values)."""

    name: str
    label: str
    why: str
    topic: str | None = None


# Priority order: the first segment whose rule holds wins.
SEGMENTS: tuple[Segment, ...] = (
    Segment(
        NEW_VISITOR,
        "New visitor",
        "First visit and nothing read yet: the default front page.",
        all_of(Condition("article_read_count", "==", 0), Condition("session_index", "<=", 1)),
    ),
    Segment(
        "topic_loyalist",
        "Topic loyalist",
        f"Most reads ({LOYALIST_MIN_SHARE:.0%} or more of at least {LOYALIST_MIN_READS}) in one section.",
        all_of(
            Condition("article_read_count", ">=", LOYALIST_MIN_READS),
            Condition("top_category_share", ">=", LOYALIST_MIN_SHARE),
        ),
        names_topic=True,
    ),
    Segment(
        "deep_reader",
        "Deep reader",
        f"Has read {DEEP_READER_ARTICLES} or more different articles, across sections.",
        all_of(Condition("distinct_articles_read", ">=", DEEP_READER_ARTICLES)),
    ),
    Segment(
        "returning_reader",
        "Returning reader",
        "Came back after a day or more away.",
        all_of(Condition("session_index", ">=", 2), Condition("days_since_last_visit", ">=", RETURNING_AFTER_DAYS)),
    ),
    Segment(
        "casual_browser",
        "Casual browser",
        "Has looked around and read a little, with no habit yet.",
        all_of(Condition("distinct_articles_read", "<", DEEP_READER_ARTICLES)),
    ),
)
SEGMENTS_BY_NAME: dict[str, Segment] = {s.name: s for s in SEGMENTS}
NO_MATCH = SegmentMatch("reader", "Reader", "no segment rule matched")


def segment_for(
    profile: ReaderProfile, session: SessionFacts = FIRST_VISIT, segments: Sequence[Segment] = SEGMENTS
) -> SegmentMatch:
    """The first segment (in priority order) whose rule holds for this reader on this visit."""
    flat = segment_facts(profile, session)
    for segment in segments:
        held = segment.rule.matched(flat)
        if held is not None:
            topic = flat["top_category"] if segment.names_topic else None
            return SegmentMatch(segment.name, segment.label, why(held, flat), topic)
    return NO_MATCH
