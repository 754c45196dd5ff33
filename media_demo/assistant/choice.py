"""Which generator writes the answers: the settings decide, the built-in one is always there behind it.

A model only writes answers that come from the archive (catch-ups, summaries, open
questions): those about the reader or the recommender's picks are facts of the app,
not of any story, so the built-in generator states them and a model could only fall back.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from media_demo.assistant.answer import Answer, AskRequest, Generator, Intent
from media_demo.assistant.builtin import BuiltInGenerator
from media_demo.assistant.intents import classify
from media_demo.assistant.local_model import LocalModelGenerator
from media_demo.assistant.passages import PassageIndex
from media_demo.assistant.prompting import Evidence
from media_demo.assistant.remote_model import OpenAICompatibleGenerator
from media_demo.settings import Settings

MODEL_INTENTS = frozenset({Intent.CATCH_UP, Intent.SUMMARISE, Intent.OPEN})
PASSAGES_FOR_A_MODEL = 4


def intent_of(request: AskRequest) -> Intent:
    """The request's intent, as the built-in generator reads it."""
    return classify(request.question, on_article=request.page_slug is not None)[0]


class Retriever:
    """The passages a model gets: the story's own for a summary, else the best over the archive."""

    def __init__(self, index: PassageIndex, k: int = PASSAGES_FOR_A_MODEL) -> None:
        self._index, self._k = index, k

    def __call__(self, request: AskRequest) -> Sequence[Evidence]:
        """The evidence for one request, best first."""
        intent, topic = classify(request.question, on_article=request.page_slug is not None)
        if intent is Intent.SUMMARISE and request.page_slug is not None and request.page_slug in self._index:
            passages = self._index.of(request.page_slug)[: self._k]
        else:
            passages = [hit.passage for hit in self._index.search(topic or request.question, self._k)]
        return [Evidence(p.slug, p.title, p.text) for p in passages]


class ByIntent:
    """A model for the archive's questions, the built-in generator for the rest."""

    def __init__(self, model: Generator, builtin: Generator) -> None:
        self.model, self.builtin = model, builtin
        self.name = model.name

    def generate(self, request: AskRequest) -> Iterator[str | Answer]:
        """The chosen generator's chunks, then its answer."""
        chosen = self.model if intent_of(request) in MODEL_INTENTS else self.builtin
        yield from chosen.generate(request)


def build_generator(settings: Settings, builtin: BuiltInGenerator, index: PassageIndex) -> Generator:
    """The generator the settings ask for: an OpenAI-compatible endpoint, a local model file, or the built-in."""
    retrieve = Retriever(index)
    if settings.assistant_llm_url:
        model: Generator = OpenAICompatibleGenerator(
            settings.assistant_llm_url,
            settings.assistant_llm_model or "default",
            settings.assistant_llm_api_key,
            settings.assistant_llm_timeout,
            retrieve,
            builtin,
            tool_calls=settings.assistant_llm_tool_calls,
            tool_choice=settings.assistant_llm_tool_choice,
            intent_of=intent_of,
        )
    elif settings.assistant_model_path:
        model = LocalModelGenerator(
            settings.assistant_model_path,
            retrieve,
            builtin,
            timeout=settings.assistant_llm_timeout,
            intent_of=intent_of,
        )
    else:
        return builtin
    return ByIntent(model, builtin)
