"""The settings choose the assistant's generator, and the newsroom answers through it: a real
llama.cpp server behind `ASSISTANT_LLM_URL` (its reader tool called by the model, read through the
Signals API), a real model file behind `ASSISTANT_MODEL_PATH`. Questions about the reader stay with
the built-in generator whichever model is set."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from media_demo.articles import Corpus
from media_demo.assistant.answer import Answer
from media_demo.assistant.builtin import BuiltInGenerator
from media_demo.assistant.choice import ByIntent
from media_demo.newsroom import Newsroom, get_index
from media_demo.settings import Settings
from media_demo.tracking import Page, Reader, new_domain_userid, touch_session
from tests.integration.conftest import API_TOKEN, read, running
from tests.integration.llm import llama_server, model_path
from tests.integration.test_assistant_service import CountingTool

PAGE = Page(url="http://localhost:3000/", title="Home")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with llama_server(model_path()) as url:
        yield url


def newsroom(tmp_path: Path, corpus: Corpus, **assistant: object) -> Newsroom:
    settings = Settings(
        media_demo_db=tmp_path / "events.db", flush_interval_seconds=0.01, signals_api_token=API_TOKEN, **assistant
    )
    return Newsroom(settings, corpus, get_index())


def answer(room: Newsroom, text: str) -> Answer:
    reader = Reader(new_domain_userid(), touch_session(None, time.time()))
    question = room.assistant.ask(reader, PAGE, text, None, True, None)
    final = list(room.assistant.answer(question))[-1]
    assert isinstance(final, Answer)
    return final


def assert_from_the_archive(room: Newsroom, final: Answer, model: str) -> None:
    """The model's own cited answer, or the built-in one saying why it stood in."""
    assert final.sources and all(slug in room.corpus for slug in final.cited)
    assert final.generator == model or (final.generator == "built-in" and final.note)


def test_without_settings_the_built_in_generator_answers(tmp_path: Path, corpus: Corpus) -> None:
    room = newsroom(tmp_path, corpus)
    try:
        assert isinstance(room.assistant.generator, BuiltInGenerator)
    finally:
        room.close()


def test_an_openai_compatible_endpoint_answers_the_archives_questions(
    tmp_path: Path, corpus: Corpus, server: str
) -> None:
    room = newsroom(
        tmp_path,
        corpus,
        assistant_llm_url=server,
        assistant_llm_model="smollm2",
        assistant_llm_tool_calls=False,  # the reader's attributes as a data block, for models without tools
    )
    try:
        assert isinstance(room.assistant.generator, ByIntent)
        assert_from_the_archive(room, answer(room, "Catch me up on the comet"), "openai-compatible")
        about = answer(room, "What do you know about me?")
        assert about.generator == "built-in" and not about.note  # the reader's facts: never the model's
    finally:
        room.close()


def test_the_model_calls_the_reader_tool_which_reads_the_reader_through_the_signals_api(
    settings: Settings, corpus: Corpus, server: str
) -> None:
    """The tutorial's loop with a real model: it calls `get_reader_attributes`, and the app answers that
    call with the asking reader's attributes read by the official client from the Signals API."""
    model = {"assistant_llm_url": server, "assistant_llm_model": "smollm2", "assistant_llm_tool_choice": "required"}
    with running(settings.model_copy(update=model), corpus) as (room, url):
        tool = CountingTool(url, API_TOKEN)
        reader = Reader(new_domain_userid(), touch_session(None, time.time()))
        for article in room.corpus.in_category("science")[:2]:
            read(room, reader, article.slug)  # allows behavioural use first
        room.log.flush()
        question = room.assistant.ask(reader, PAGE, "Catch me up on the comet", None, True, tool)
        assert tool.asked == [reader.domain_userid]  # the facts the built-in answer would use
        final = list(room.assistant.answer(question))[-1]
        assert isinstance(final, Answer)
        assert tool.asked == [reader.domain_userid] * 2, "the model's call to the tool did not read the reader"
        assert_from_the_archive(room, final, "openai-compatible")


def test_a_local_model_file_answers_the_archives_questions(tmp_path: Path, corpus: Corpus) -> None:
    room = newsroom(tmp_path, corpus, assistant_model_path=model_path())
    try:
        assert isinstance(room.assistant.generator, ByIntent)
        assert_from_the_archive(room, answer(room, "Catch me up on the comet"), "local-model")
    finally:
        room.close()
