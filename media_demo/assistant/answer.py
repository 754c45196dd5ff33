"""What the assistant is asked and what it answers, whichever generator writes the answer.

Every generator (built in, an OpenAI-compatible endpoint, a local model file) takes an
`AskRequest` and yields text as it is produced, then one `Answer` last. An answer is a
list of sentences, each naming the story it comes from: a sentence that states a fact
must name its story, so the page can show its sources and a test can check that no
sentence says what no story says.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

MAX_QUESTION_CHARS = 500


class Intent(enum.StrEnum):
    """What a question asks for; decides what is retrieved and how the answer is built."""

    WHATS_NEW = "whats_new"  # "What's new for me since my last visit?"
    CATCH_UP = "catch_up"  # "Catch me up on <topic or story>"
    SUMMARISE = "summarise"  # "Summarise this article" (on an article page)
    NEXT_READ = "next_read"  # "What should I read next, and why?"
    WHY_RECOMMENDED = "why_recommended"  # "Why am I seeing these recommendations?"
    ABOUT_ME = "about_me"  # "What do you know about me?"
    OPEN = "open"  # anything else: answered from the archive only


@dataclass(frozen=True, slots=True)
class ReaderFacts:
    """The reader as the assistant's tool reads them (their attributes, made plain).

    Only built when the reader allows behavioural use and keeps "Use my reading
    history" on; otherwise the request carries none and the tool is never called.
    """

    sections: tuple[str, ...] = ()  # categories they read, most read first
    read: tuple[str, ...] = ()  # slugs read, oldest to most recent
    reads: int = 0  # article views in all
    previous_visit: dt.datetime | None = None  # start of their previous visit (UTC), if any
    segment_label: str = ""
    segment_description: str = ""
    asked_about: tuple[str, ...] = ()  # topics of their earlier questions, most recent last


@dataclass(frozen=True, slots=True)
class Pick:
    """One of the recommender's picks for this reader, with the reason it gives."""

    slug: str
    reason: str


@dataclass(frozen=True, slots=True)
class AskRequest:
    """One question, with what the assistant may know when answering it.

    `reader` is None when the reader has not allowed behavioural use or turned their
    history off: the answer then uses no history. `read_attributes` is the tool a model
    may call (the reader's raw attributes, through the Signals API); None in that case too.
    `picks` are the recommender's picks as shown (with history or without).
    """

    question: str
    page_slug: str | None = None  # the story the reader is on, if any
    reader: ReaderFacts | None = None
    picks: tuple[Pick, ...] = ()
    read_attributes: Callable[[], Mapping[str, Any]] | None = None
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    def __post_init__(self) -> None:
        if not self.question.strip():
            raise ValueError("question: ask something (it is empty)")
        if len(self.question) > MAX_QUESTION_CHARS:
            raise ValueError(f"question: at most {MAX_QUESTION_CHARS} characters (got {len(self.question)})")

    @property
    def uses_history(self) -> bool:
        """Whether the answer may use the reader's history."""
        return self.reader is not None


@dataclass(frozen=True, slots=True)
class Sentence:
    """One sentence of an answer; `slug` is the story it states a fact from (None: framing only)."""

    text: str
    slug: str | None = None


@dataclass(frozen=True, slots=True)
class Source:
    """A story an answer used, linked under it."""

    slug: str
    title: str


@dataclass(frozen=True, slots=True)
class Answer:
    """A finished answer: its sentences, the stories they cite, and who wrote it."""

    intent: Intent
    sentences: tuple[Sentence, ...]
    sources: tuple[Source, ...]
    generator: str  # "built-in", "openai-compatible", "local-model"
    note: str = ""  # said to the reader, e.g. why the built-in answer replaced a model's

    @property
    def text(self) -> str:
        """The answer as one paragraph."""
        return " ".join(s.text for s in self.sentences)

    @property
    def cited(self) -> tuple[str, ...]:
        """The slugs of the stories it cites, in the order shown."""
        return tuple(s.slug for s in self.sources)


class Generator(Protocol):
    """Writes answers. `generate` yields text chunks as they are produced, then the `Answer` last."""

    name: str

    def generate(self, request: AskRequest) -> Iterator[str | Answer]:
        """Text chunks as they are produced, then the finished `Answer`."""
        ...
