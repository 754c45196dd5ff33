"""The reading assistant, "Ask the Current": retrieval over the stories, then an answer that cites them."""

from media_demo.assistant.answer import (
    Answer,
    AskRequest,
    Generator,
    Intent,
    Pick,
    ReaderFacts,
    Sentence,
    Source,
)
from media_demo.assistant.builtin import BuiltInGenerator
from media_demo.assistant.intents import classify
from media_demo.assistant.passages import Passage, PassageIndex, ScoredPassage

__all__ = [
    "Answer",
    "AskRequest",
    "BuiltInGenerator",
    "Generator",
    "Intent",
    "Passage",
    "PassageIndex",
    "Pick",
    "ReaderFacts",
    "ScoredPassage",
    "Sentence",
    "Source",
    "classify",
]
