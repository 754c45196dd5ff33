"""What one reader's digest says: built at send time from their profile, the stories, and the recommender.

With behavioural consent and a history: the reader's own sections first (most read first), each
with stories they have not read, newest first, marked when new since their last digest; then the
recommender's picks with their reasons. Without behavioural consent (or without any history), the
most-read stories only, and the digest says why. Nothing here renders or sends: `render` does that.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from media_demo.articles import Article, Corpus, section_label
from media_demo.recommend import ReaderProfile, Recommendation

TOP_SECTIONS = 3  # the reader's sections a digest opens with
PER_SECTION = 3
PICKS = 3
MOST_READ = 6
BRIEFING_STORIES = 5
NO_CONSENT = (
    "You have not allowed us to use your reading history, so this digest shows what is most read across "
    "The Daily Current rather than stories picked for you. You can change that in Your privacy choices."
)
NO_HISTORY = "Read a few stories and your next digest will start with the sections you read most."


@dataclass(frozen=True, slots=True)
class DigestItem:
    """One story in a digest, with why it is there; `position` counts from 1 over the whole digest."""

    article: Article
    note: str
    position: int
    new: bool


@dataclass(frozen=True, slots=True)
class DigestSection:
    """A block of the digest: a heading, a line saying why, its stories."""

    key: str  # a section's name, or "picks" / "most_read"
    heading: str
    why: str
    items: tuple[DigestItem, ...]


@dataclass(frozen=True, slots=True)
class Digest:
    """One reader's digest for one period."""

    digest_id: str
    period: str
    frequency: str
    greeting_name: str
    personalised: bool
    note: str  # why it is not personalised ("" when it is)
    sections: tuple[DigestSection, ...]
    since: dt.datetime | None
    title: str = ""  # what this mail is, in its footer and subject: "daily digest", "Sport briefing"
    intro: str = ""  # the line after the greeting

    @property
    def name(self) -> str:
        """What the mail calls itself."""
        return self.title or f"{self.frequency} digest"

    @property
    def items(self) -> list[DigestItem]:
        """Every story, in the order shown."""
        return [item for section in self.sections for item in section.items]

    @property
    def section_order(self) -> list[str]:
        """The readers' sections the digest opened with, in order (what the `email_sent` event records)."""
        return [s.key for s in self.sections if s.key not in ("picks", "most_read")]

    @property
    def is_briefing(self) -> bool:
        """A section briefing rather than the reader's digest."""
        return bool(self.title)


def is_new(article: Article, since: dt.datetime | None) -> bool:
    """Whether `article` reached the newsroom after `since` (a first digest marks nothing as new)."""
    if since is None:
        return False
    if article.updated is not None:
        return article.updated > since
    return article.published > since.date()


def build_digest(
    *,
    digest_id: str,
    period: str,
    frequency: str,
    greeting_name: str,
    corpus: Corpus,
    profile: ReaderProfile | None,
    picks: Sequence[Recommendation],
    most_read: Sequence[Recommendation],
    since: dt.datetime | None,
) -> Digest:
    """The digest of a reader whose `profile` may be used (None: no behavioural consent), with the
    recommender's `picks` for them and everyone's `most_read` (topped up with the newest stories while few have
    been read), both computed by the caller."""
    counter = _Positions()
    if profile is None or not profile.has_history:
        note = NO_CONSENT if profile is None else NO_HISTORY
        items = tuple(counter.item(r.article, r.reason, since) for r in most_read[:MOST_READ])
        if any(r.kind == "popular" for r in most_read[:MOST_READ]):
            block = DigestSection("most_read", "Most read", "What readers of The Daily Current read most.", items)
        else:  # a new site: nobody has read anything yet
            block = DigestSection("most_read", "The latest", "The newest stories in The Daily Current.", items)
        return Digest(digest_id, period, frequency, greeting_name, False, note, (block,), since)

    shown: set[str] = set(profile.read)
    sections: list[DigestSection] = []
    ranked = sorted(((n, c) for c, n in profile.category_reads.items() if n > 0), key=lambda nc: (-nc[0], nc[1]))
    for count, category in ranked[:TOP_SECTIONS]:
        fresh = [a for a in corpus.in_category(category) if a.slug not in shown][:PER_SECTION]  # newest first
        if not fresh:
            continue
        shown.update(a.slug for a in fresh)
        label = section_label(category)
        why = f"You have read {count} {'story' if count == 1 else 'stories'} in {label}."
        items = tuple(counter.item(a, _new_note(a, since) or "In a section you read", since) for a in fresh)
        sections.append(DigestSection(category, label, why, items))
    chosen = [r for r in picks if r.article.slug not in shown][:PICKS]
    if chosen:
        items = tuple(counter.item(r.article, r.reason, since) for r in chosen)
        sections.append(DigestSection("picks", "Picked for you", "From what you read, and why.", items))
    return Digest(digest_id, period, frequency, greeting_name, True, "", tuple(sections), since)


def build_briefing(
    *,
    digest_id: str,
    period: str,
    section: str,
    greeting_name: str,
    stories: Sequence[Article],
    read: frozenset[str],
    since: dt.datetime | None,
) -> Digest:
    """A weekly section briefing: the section's stories the caller ranked (the week's most read first), those
    the reader has read left out when we may know it (`read` is empty without behavioural consent)."""
    label = section_label(section)
    counter = _Positions()
    chosen = [a for a in stories if a.slug not in read][:BRIEFING_STORIES]
    items = tuple(counter.item(a, _new_note(a, since) or "Among the week's most read", since) for a in chosen)
    block = DigestSection(section, label, f"The week's best {label.lower()} reporting.", items)
    return Digest(
        digest_id,
        period,
        "weekly",
        greeting_name,
        False,
        "",
        (block,),
        since,
        title=f"{label} briefing",
        intro=f"Here is the week in {label}.",
    )


def _new_note(article: Article, since: dt.datetime | None) -> str:
    return "New since your last digest" if is_new(article, since) else ""


class _Positions:
    """Numbers the stories of a digest from 1, in the order they appear (each click says which it was)."""

    def __init__(self) -> None:
        self._next = 1

    def item(self, article: Article, note: str, since: dt.datetime | None) -> DigestItem:
        item = DigestItem(article, note, self._next, is_new(article, since))
        self._next += 1
        return item
