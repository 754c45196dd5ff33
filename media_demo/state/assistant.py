"""The "Ask the Current" panel's state: the conversation of this tab, streamed in as it is written.

A question is accepted and tracked in one worker thread (`AssistantService.ask`, with the
reader's attributes read through the Signals API when allowed); the answer is written in
another, by a background task that sends the page what is new every few tens of
milliseconds without holding the tab's state lock, so the reader can still click around.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
import time
from typing import Any

import reflex as rx

from media_demo import routes
from media_demo.assistant.answer import MAX_QUESTION_CHARS, Answer, Pick
from media_demo.definitions import ASSISTANT_OFFER
from media_demo.newsroom import get_newsroom
from media_demo.services.assistant import AssistantBusyError, Question, ReaderContextTool
from media_demo.state.reader import ReaderState
from media_demo.tracking import Page, Reader

logger = logging.getLogger(__name__)

STREAM_EVERY_SECONDS = 0.05
MAX_MESSAGES = 40  # a tab keeps the last twenty questions and answers
STARTERS = (
    "What's new for me since my last visit?",
    "What should I read next, and why?",
    "Why am I seeing these recommendations?",
    "What do you know about me?",
)
SUMMARISE = "Summarise this article"

# Questions accepted and not yet answered, by id: the background task that answers takes it (same process).
_PENDING: dict[str, tuple[Question, Reader]] = {}
_PENDING_LOCK = threading.Lock()


@dataclasses.dataclass
class ChatSource:
    slug: str = ""
    title: str = ""
    href: str = ""


@dataclasses.dataclass
class ChatMessage:
    id: str = ""
    role: str = "assistant"  # "reader" | "assistant"
    text: str = ""
    sources: list[ChatSource] = dataclasses.field(default_factory=list)
    note: str = ""
    writing: bool = False
    generator: str = ""
    offer: str = ""  # a catch-up the assistant offers: the question its button asks
    offer_id: str = ""  # the intervention that made the offer (its clicks and dismissals are tracked)


def reader_tool() -> ReaderContextTool:
    """The Signals API the tool reads: the remote deployment's in remote mode, else this app's own."""
    room = get_newsroom()
    settings = room.settings
    if settings.signals_api_url:
        return ReaderContextTool(settings.signals_api_url, settings.signals_api_token or "")
    return ReaderContextTool(rx.config.get_config().api_url, room.api_token)


def paragraphs(answer: Answer) -> str:
    """The answer laid out for reading: a new paragraph where it moves on to another story."""
    blocks: list[list[str]] = []
    current: str | None = None
    for sentence in answer.sentences:
        if not blocks or (sentence.slug is not None and sentence.slug != current):
            blocks.append([])
            current = sentence.slug if sentence.slug is not None else current
        blocks[-1].append(sentence.text)
    return "\n\n".join(" ".join(block) for block in blocks)


def _article_slug(path: str) -> str | None:
    return (
        path.removeprefix(routes.ARTICLE_PREFIX).strip("/") or None if path.startswith(routes.ARTICLE_PREFIX) else None
    )


class AssistantState(rx.State):
    """This tab's conversation with the assistant."""

    is_open: bool = False
    messages: list[ChatMessage] = []
    draft: str = ""
    busy: bool = False
    use_history: bool = True
    history_note: str = ""  # why the reader's history is not used, shown beside the toggle

    @rx.var
    def remaining(self) -> int:
        """Characters the reader may still type."""
        return MAX_QUESTION_CHARS - len(self.draft)

    @rx.event
    async def open_panel(self):
        """Open the panel (and say whether the reader's history can be used)."""
        self.is_open = True
        await self._explain_history()
        return rx.set_focus("assistant-input")

    @rx.event
    def close_panel(self):
        """Close the panel (the button, or Escape); the conversation stays for when it opens again."""
        self.is_open = False
        return rx.set_focus("assistant-launcher")

    @rx.event
    def set_draft(self, value: str):
        """What the reader is typing (capped)."""
        if isinstance(value, str):
            self.draft = value[:MAX_QUESTION_CHARS]

    @rx.event
    async def set_use_history(self, value: bool):
        """The "Use my reading history" toggle."""
        if isinstance(value, bool):
            self.use_history = value
            await self._explain_history()

    async def _explain_history(self) -> None:
        reader_state = await self.get_state(ReaderState)
        duid = reader_state.domain_userid
        service = get_newsroom().assistant
        self.history_note = await asyncio.to_thread(service.history_reason, duid, self.use_history)

    @rx.event
    async def submit(self, form_data: dict[str, Any]):
        """The form's send button (or Enter)."""
        return await self._ask(self.draft)

    @rx.event
    async def ask(self, question: str):
        """Ask one of the suggested questions (or the catch-up an offer proposes)."""
        self.is_open = True
        return await self._ask(question if isinstance(question, str) else "")

    async def _ask(self, text: str):
        text = " ".join(text.split())
        if self.busy or not text:
            return None
        self.draft = ""
        reader_message = ChatMessage(id=f"q{time.time_ns()}", role="reader", text=text[:MAX_QUESTION_CHARS])
        reply = ChatMessage(id=f"a{time.time_ns()}", writing=True)
        self.messages = [*self.messages, reader_message, reply][-MAX_MESSAGES:]
        self.busy = True
        reader_state = await self.get_state(ReaderState)
        service, tool = get_newsroom().assistant, reader_tool()
        page = Page(url=str(self.router.url) or "/", title="Ask the Current")
        slug, use_history, days_away = _article_slug(self.router.url.path), self.use_history, reader_state._days_away
        panel = [Pick(card.slug, card.reason) for card in reader_state.recommendations]  # what the reader sees
        try:
            reader, question = await reader_state._as_reader(
                lambda reader: service.ask(reader, page, text, slug, use_history, tool, days_away, panel)
            )
        except (ValueError, AssistantBusyError) as exc:
            self._finish(reply.id, str(exc).removeprefix("question: ").capitalize(), [], "", "")
            return None
        self.history_note = question.history_reason
        with _PENDING_LOCK:
            _PENDING[question.id] = (question, reader)
        return AssistantState.write_answer(question.id, reply.id)

    def _finish(self, message_id: str, text: str, sources: list[ChatSource], note: str, generator: str) -> None:
        self.messages = [
            dataclasses.replace(m, text=text, sources=sources, note=note, writing=False, generator=generator)
            if m.id == message_id
            else m
            for m in self.messages
        ]
        self.busy = False

    @rx.event(background=True)
    async def write_answer(self, question_id: str, message_id: str):
        """Stream the answer into message `message_id` as it is written, then show its sources and track it."""
        with _PENDING_LOCK:
            pending = _PENDING.pop(question_id, None)
        if pending is None:
            return
        question, reader = pending
        service = get_newsroom().assistant
        loop = asyncio.get_running_loop()
        parts: asyncio.Queue[str | Answer | None] = asyncio.Queue()

        def write() -> None:  # in a worker thread: the generator blocks (a model may take seconds)
            try:
                for part in service.answer(question):
                    loop.call_soon_threadsafe(parts.put_nowait, part)
            finally:
                loop.call_soon_threadsafe(parts.put_nowait, None)

        started = time.perf_counter()
        worker = loop.run_in_executor(None, write)
        text, shown, first_text_ms, answer = "", "", None, None
        last_sent = 0.0
        while (part := await parts.get()) is not None:
            if isinstance(part, Answer):
                answer = part
                continue
            if first_text_ms is None:
                first_text_ms = int((time.perf_counter() - started) * 1000)
            text += part
            if time.perf_counter() - last_sent >= STREAM_EVERY_SECONDS:
                shown, last_sent = text, time.perf_counter()
                async with self:
                    self._stream(message_id, shown)
        try:
            await worker
        except Exception:  # `answer` never raises; if it ever does, the reader still gets a reply below
            logger.exception("writing an answer failed")
        total_ms = int((time.perf_counter() - started) * 1000)
        corpus = get_newsroom().corpus
        if answer is None:  # cannot happen (`answer` always ends with one), but never leave the reader waiting
            async with self:
                self._finish(message_id, "Sorry, I could not answer that just now.", [], "", "")
            return
        sources = [ChatSource(s.slug, s.title, routes.article_url(s.slug)) for s in answer.sources if s.slug in corpus]
        async with self:
            self._finish(message_id, paragraphs(answer), sources, answer.note, answer.generator)
        await asyncio.to_thread(service.answered, reader, question, answer, (total_ms, first_text_ms))

    def _stream(self, message_id: str, text: str) -> None:
        self.messages = [dataclasses.replace(m, text=text) if m.id == message_id else m for m in self.messages]

    @rx.event
    def clear(self):
        """Start a new conversation."""
        if not self.busy:
            self.messages = []

    async def offer_catch_up(self, text: str, question: str, intervention_id: str) -> None:
        """An intervention proposes a catch-up: open the panel with the offer (its button asks `question`)."""
        if self.busy:
            return
        offer = ChatMessage(id=f"o{time.time_ns()}", text=text, offer=question, offer_id=intervention_id)
        self.messages = [*self.messages, offer][-MAX_MESSAGES:]
        self.is_open = True
        await self._explain_history()
        await self._track_offer(offer, "impression")

    async def _track_offer(self, offer: ChatMessage, action: str) -> None:
        reader_state = await self.get_state(ReaderState)
        if not reader_state.domain_userid:
            return
        page = Page(url=str(self.router.url) or "/", title="Ask the Current")
        track = get_newsroom().tracker.intervention_interaction
        await reader_state._as_reader(lambda reader: track(reader, page, ASSISTANT_OFFER, action, offer.offer_id))

    def _offer(self, message_id: str) -> ChatMessage | None:
        return next((m for m in self.messages if m.id == message_id and m.offer), None)

    @rx.event
    async def accept_offer(self, message_id: str):
        """The reader takes the catch-up: ask it."""
        offer = self._offer(message_id)
        if offer is None or self.busy:
            return None
        self.messages = [dataclasses.replace(m, offer="") if m.id == message_id else m for m in self.messages]
        await self._track_offer(offer, "click")
        return await self._ask(offer.offer)

    @rx.event
    async def dismiss_offer(self, message_id: str):
        """The reader declines: the offer goes, and is not made again."""
        offer = self._offer(message_id)
        if offer is None:
            return
        self.messages = [m for m in self.messages if m.id != message_id]
        if not self.messages:
            self.is_open = False
        await self._track_offer(offer, "dismiss")
