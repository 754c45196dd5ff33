"""How fast a model-backed generator answers, over a few questions: for `make eval` to print."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from media_demo.assistant.answer import Answer, AskRequest
from media_demo.assistant.timing import Timings


class TimedGenerator(Protocol):
    """A generator that fills in a `Timings` as it answers (the model-backed ones do)."""

    name: str

    def generate(self, request: AskRequest, timings: Timings | None = None) -> Iterator[str | Answer]:
        """Text chunks, then the `Answer`; `timings` is filled in on the way."""
        ...


@dataclass(frozen=True, slots=True)
class Speed:
    """Time to first token (median over the answers) and decoding speed (over all their tokens)."""

    answers: int
    replaced: int  # answers where the fallback's answer replaced the model's
    time_to_first_token_p50: float | None  # seconds; None when no answer produced a token
    tokens_per_second: float | None
    tokens: int

    def __str__(self) -> str:
        ttft = "n/a" if self.time_to_first_token_p50 is None else f"{self.time_to_first_token_p50 * 1000:.0f} ms"
        rate = "n/a" if self.tokens_per_second is None else f"{self.tokens_per_second:.1f} tok/s"
        return f"{self.answers} answers ({self.replaced} replaced): first token p50 {ttft}, {rate}"


def measure(generator: TimedGenerator, requests: Iterable[AskRequest]) -> Speed:
    """Answer each request in turn (reading every chunk, as the page would) and sum up the timings."""
    runs: list[Timings] = []
    for request in requests:
        timings = Timings()
        for _ in generator.generate(request, timings):
            pass
        runs.append(timings)
    firsts = [t.time_to_first_token for t in runs if t.time_to_first_token is not None]
    timed = [t for t in runs if t.first_token is not None and t.last_token is not None and t.tokens >= 2]
    decoded = sum(t.tokens - 1 for t in timed)
    elapsed = sum((t.last_token or 0.0) - (t.first_token or 0.0) for t in timed)
    return Speed(
        answers=len(runs),
        replaced=sum(1 for t in runs if t.fallback),
        time_to_first_token_p50=statistics.median(firsts) if firsts else None,
        tokens_per_second=decoded / elapsed if elapsed > 0 else None,
        tokens=sum(t.tokens for t in runs),
    )
