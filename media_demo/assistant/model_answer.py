"""The part every model-backed generator shares: retrieve, stream the model, check its citations, fall back.

How a replacement reaches the page. Text a model streamed cannot be taken back, so the contract
is: the `Answer` yielded last is the answer, always. The page shows the streamed text while it
arrives and then renders the final `Answer`'s sentences in its place (they are the same words
with the [n] markers taken out when the model's answer stands). When the model's answer is
replaced, the final `Answer` is the fallback generator's, with its own `generator` name and a
`note` saying why, for the page to show above it. If the model streamed nothing before it
failed, the fallback's own chunks are passed through, so the reader still sees text arrive.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence

from media_demo.assistant.answer import Answer, AskRequest, Generator, Intent
from media_demo.assistant.prompting import Evidence, Retrieve, cite, looks_like_prose
from media_demo.assistant.timing import Timings

log = logging.getLogger(__name__)

# Said to the reader above the newsroom's answer, one per reason the model's answer was not used.
NOTE_NO_PASSAGES = "No story matched the question closely enough for the model, so here is the newsroom's own answer."
NOTE_UNCITED = "The model's answer cited no story, so here is the newsroom's own answer."
NOTE_TIMEOUT = "The model did not answer in time, so here is the newsroom's own answer."
NOTE_UNAVAILABLE = "The model could not be reached, so here is the newsroom's own answer."
NOTE_BUSY = "The model is busy with another question, so here is the newsroom's own answer."


class ModelTimeoutError(Exception):
    """The model took longer than the generator's timeout."""


class ModelUnavailableError(Exception):
    """The model could not be asked (endpoint down, refused the request, model file missing)."""


class ModelBusyError(ModelUnavailableError):
    """The model is answering someone else and did not come free in time (a local model answers one at a time)."""


class Deadline:
    """A point in time past which the model's answer is abandoned."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._at = time.monotonic() + seconds

    @property
    def remaining(self) -> float:
        """Seconds left (never below zero)."""
        return max(0.0, self._at - time.monotonic())

    def check(self) -> None:
        """Raise `ModelTimeoutError` once the deadline has passed."""
        if time.monotonic() > self._at:
            raise ModelTimeoutError(f"no complete answer within {self.seconds:g} s")


def _open_intent(_request: AskRequest) -> Intent:
    return Intent.OPEN


class ModelGenerator(ABC):
    """A generator whose text comes from a language model, held to the passages it was given.

    Subclasses only say how to stream the model's reply (`_reply`); this class retrieves the
    passages, times the tokens, parses the [n] citations into sentences, and hands the question
    to `fallback` when the model fails, runs out of time, or cites no retrieved story.
    """

    name: str = "model"

    def __init__(
        self,
        retrieve: Retrieve,
        fallback: Generator,
        timeout: float,
        intent_of: Callable[[AskRequest], Intent] | None = None,
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout: must be positive seconds (got {timeout})")
        self._retrieve = retrieve
        self.fallback = fallback
        self.timeout = timeout
        self._intent_of = intent_of or _open_intent
        self.last_timings: Timings | None = None  # the most recent answer's, for a quick look

    @abstractmethod
    def _reply(
        self, request: AskRequest, evidence: Sequence[Evidence], timings: Timings, deadline: Deadline
    ) -> Iterator[str]:
        """The model's reply as it streams, one token per piece (calling `timings.token()` for each).

        Raises `ModelTimeoutError` past `deadline` and `ModelUnavailableError` when the model cannot be asked.
        """

    def generate(self, request: AskRequest, timings: Timings | None = None) -> Iterator[str | Answer]:
        """Text chunks as the model writes them, then the `Answer` (see the module docstring).

        Pass `timings` to read this answer's time to first token and tokens per second;
        `last_timings` holds the most recent answer's too.
        """
        timings = timings if timings is not None else Timings()
        self.last_timings = timings
        evidence = list(self._retrieve(request))
        if not evidence:
            yield from self._replace(request, timings, NOTE_NO_PASSAGES, "no passages", streamed=False)
            return
        deadline = Deadline(self.timeout)
        parts: list[str] = []
        try:
            for chunk in self._reply(request, evidence, timings, deadline):
                parts.append(chunk)
                yield chunk
        except ModelTimeoutError as error:
            log.warning("%s: %s", self.name, error)
            yield from self._replace(request, timings, NOTE_TIMEOUT, "timeout", streamed=bool(parts))
            return
        except ModelUnavailableError as error:
            log.warning("%s: %s", self.name, error)
            note = NOTE_BUSY if isinstance(error, ModelBusyError) else NOTE_UNAVAILABLE
            yield from self._replace(request, timings, note, "unavailable", streamed=bool(parts))
            return
        sentences, sources = cite("".join(parts), evidence)
        if not sources or not looks_like_prose(sentences):
            yield from self._replace(request, timings, NOTE_UNCITED, "uncited", streamed=bool(parts))
            return
        yield Answer(self._intent_of(request), sentences, sources, self.name)

    def _replace(
        self, request: AskRequest, timings: Timings, note: str, reason: str, *, streamed: bool
    ) -> Iterator[str | Answer]:
        """The fallback's answer with `note`; its chunks too when the model streamed nothing yet."""
        timings.fallback = reason
        for item in self.fallback.generate(request):
            if isinstance(item, Answer):
                yield dataclasses.replace(item, note=note)
                return
            if not streamed:
                yield item
        raise RuntimeError(f"{self.fallback.name}: generate() ended without an Answer")
