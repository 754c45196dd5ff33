"""The reading assistant's service: who may be read, the question tracked, the answer streamed and tracked.

The reader's attributes reach the assistant as they reach the tutorial's agent: a tool
reading the `reader_context` Service through the Signals API with the official client
(`ReaderContextTool`), bound to the current reader's id, so nothing in a question or a
story can point it at anyone else. The tool is only given when the reader allows
behavioural use and keeps "Use my reading history" on. Everything here blocks: the
Reflex state runs it in worker threads.
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from snowplow_signals import SignalsSandbox

from media_demo.articles import Corpus
from media_demo.assistant.answer import Answer, AskRequest, Generator, Intent, Pick, ReaderFacts, Sentence
from media_demo.assistant.intents import classify
from media_demo.definitions import READER_CONTEXT_SERVICE, category_read_count
from media_demo.personalise import SessionFacts, segment_for
from media_demo.recommend.profile import ReaderProfile
from media_demo.services.reader_views import ReaderViews
from media_demo.signals.engine.consent import BEHAVIOURAL, Consent
from media_demo.tracking import NewsroomTracker, Page, Reader

logger = logging.getLogger(__name__)

QUESTIONS_PER_MINUTE = 8
TOOL_TIMEOUT_SECONDS = 5.0
FALLBACK_NOTE = "Something went wrong while writing this answer, so here is the newsroom's own."


class AssistantBusyError(Exception):
    """The reader asked too often; the message says when to try again."""


class ReaderContextTool:
    """The assistant's tool: the current reader's attributes, through the Signals API's `reader_context` Service."""

    def __init__(self, api_url: str, token: str) -> None:
        self._client = SignalsSandbox(api_url=api_url, sandbox_token=token)

    def read(self, domain_userid: str) -> dict[str, Any]:
        """One reader's attributes (flat names, as the SDK returns a service's)."""
        return self._client.get_service_attributes(
            name=READER_CONTEXT_SERVICE, attribute_key="domain_userid", identifier=domain_userid
        )


class RateLimit:
    """At most `per_minute` questions per reader in any minute (in this process; bounded memory)."""

    def __init__(self, per_minute: int = QUESTIONS_PER_MINUTE, readers: int = 10_000) -> None:
        if per_minute < 1:
            raise ValueError("per_minute: must be at least 1")
        self.per_minute = per_minute
        self._readers = readers
        self._asked: collections.OrderedDict[str, collections.deque[float]] = collections.OrderedDict()
        self._lock = threading.Lock()

    def take(self, reader: str, now: float | None = None) -> float:
        """Count one question; returns 0, or the seconds to wait when the reader is over the limit."""
        now = time.monotonic() if now is None else now
        with self._lock:
            asked = self._asked.pop(reader, None) or collections.deque()
            while asked and now - asked[0] >= 60:
                asked.popleft()
            wait = 60 - (now - asked[0]) if len(asked) >= self.per_minute else 0.0
            if not wait:
                asked.append(now)
            self._asked[reader] = asked
            while len(self._asked) > self._readers:
                self._asked.popitem(last=False)
            return wait

    def forget(self, readers: frozenset[str]) -> None:
        """Deleted readers leave no trace here."""
        with self._lock:
            for reader in readers:
                self._asked.pop(reader, None)


@dataclass(frozen=True, slots=True)
class Question:
    """A question accepted for answering: its request, and what is tracked about it."""

    id: str
    intent: Intent
    topic: str
    request: AskRequest
    page: Page
    history_reason: str  # why the reader's history is not used ("" when it is)


def facts_of(
    attributes: Mapping[str, Any], categories: tuple[str, ...], previous_visit: dt.datetime | None, segment: Any
) -> ReaderFacts:
    """The reader as the tool read them, made plain for the answer."""
    counts = {c: int(attributes.get(category_read_count(c)) or 0) for c in categories}
    sections = tuple(c for c in sorted(counts, key=lambda c: (-counts[c], c)) if counts[c] > 0)
    return ReaderFacts(
        sections=sections,
        read=tuple(attributes.get("articles_read") or ()),
        reads=int(attributes.get("article_read_count") or 0),
        previous_visit=previous_visit,
        segment_label=segment.label if segment is not None else "",
        segment_description=segment.why if segment is not None else "",
        asked_about=tuple(attributes.get("topics_asked") or ()),
    )


class AssistantService:
    """Questions in, cited answers out, both tracked."""

    def __init__(
        self,
        corpus: Corpus,
        views: ReaderViews,
        tracker: NewsroomTracker,
        consent_of: Callable[[str], Consent | None],
        generator: Generator,
        builtin: Generator,
        rate_limit: RateLimit | None = None,
    ) -> None:
        self._corpus, self._views, self._tracker, self._consent_of = corpus, views, tracker, consent_of
        self.generator, self._builtin = generator, builtin
        self._limit = rate_limit or RateLimit()

    def forget(self, domain_userids: frozenset[str], _user_ids: frozenset[str] = frozenset()) -> None:
        """Deleted readers: their question counts go (`Privacy.on_forget`)."""
        self._limit.forget(domain_userids)

    def history_reason(self, domain_userid: str, use_history: bool) -> str:
        """Why the reader's history cannot be used ("" when it can)."""
        consent = self._consent_of(domain_userid) if domain_userid else None
        if consent is None or not consent.allows(BEHAVIOURAL):
            return "Your reading history is not used: you have not allowed personalisation (see Privacy)."
        if not use_history:
            return "Your reading history is off for this conversation."
        return ""

    def ask(
        self,
        reader: Reader,
        page: Page,
        text: str,
        page_slug: str | None,
        use_history: bool,
        tool: ReaderContextTool | None,
        days_away: float | None = None,
        panel: Sequence[Pick] = (),
    ) -> Question:
        """Accept a question (ValueError: invalid, naming the field; AssistantBusyError: too many) and track it.

        `panel` is what the reader's "Recommended for you" shows on their page (an experiment's variant
        included): when their history may be used, "what should I read next" names those same picks.
        """
        text = " ".join(text.split())
        wait = self._limit.take(reader.domain_userid)
        if wait:
            raise AssistantBusyError(f"You have asked a lot in the last minute: try again in {int(wait) + 1} s.")
        slug = page_slug if page_slug and page_slug in self._corpus else None
        intent, topic = classify(text, on_article=slug is not None)
        reason = self.history_reason(reader.domain_userid, use_history)
        now = dt.datetime.now(dt.UTC)
        facts, profile, read_attributes = None, ReaderProfile(), None  # without history: the most-read picks
        if not reason and tool is not None:
            duid = reader.domain_userid

            def read_attributes() -> Mapping[str, Any]:
                return tool.read(duid)  # bound here: the one reader this question belongs to

            attributes = self._read(read_attributes)
            profile = ReaderProfile.from_attributes(attributes, self._corpus.categories)
            segment = segment_for(profile, SessionFacts(reader.session.index, days_away))
            previous = now - dt.timedelta(days=days_away) if days_away is not None else None
            facts = facts_of(attributes, self._corpus.categories, previous, segment)
        picks = tuple(panel) if facts is not None and panel else self._picks(profile)
        request = AskRequest(text, slug, facts, picks, read_attributes, now)
        question = Question(str(uuid.uuid4()), intent, topic, request, page, reason)
        words = None if reason else (text, topic)  # the words only when the reader lets their history be used
        self._tracker.assistant_question(reader, page, question.id, intent.value, len(text), facts is not None, words)
        return question

    def _read(self, read_attributes: Callable[[], Mapping[str, Any]]) -> Mapping[str, Any]:
        try:
            return read_attributes()
        except Exception:  # the Signals API is down: answer without history rather than not at all
            logger.warning("the assistant could not read the reader's attributes", exc_info=True)
            return {}

    def _picks(self, profile: ReaderProfile) -> tuple[Pick, ...]:
        return tuple(Pick(r.article.slug, r.reason) for r in self._views.picks(profile))

    def answer(self, question: Question) -> Iterator[str | Answer]:
        """The answer's text as it is written, then the `Answer`; never raises (the built-in answer stands in)."""
        try:
            yield from self.generator.generate(question.request)
        except Exception:
            logger.exception("the %s generator failed", getattr(self.generator, "name", "?"))
            if self.generator is self._builtin:
                yield Answer(
                    question.intent,
                    (Sentence("Sorry, I could not answer that just now. Please try again."),),
                    (),
                    "built-in",
                )
                return
            for part in self._builtin.generate(question.request):
                if isinstance(part, Answer):
                    yield Answer(part.intent, part.sentences, part.sources, part.generator, FALLBACK_NOTE)

    def answered(self, reader: Reader, question: Question, answer: Answer, timings: tuple[int, int | None]) -> None:
        """Track the answer: who wrote it, how fast, which stories it cited."""
        fell_back = bool(answer.note) and answer.generator == "built-in" and self.generator is not self._builtin
        self._tracker.assistant_answer(
            reader,
            question.page,
            question.id,
            question.intent.value,
            answer.generator,
            timings,
            answer.cited,
            fell_back,
        )
