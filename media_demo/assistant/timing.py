"""How fast a model answered: time to its first token and tokens per second, per answer.

Kept apart from the generators so the evaluation can read the same numbers whichever model
wrote the answer, and so a test can check them without a clock of its own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass(slots=True)
class Timings:
    """One answer's clock, filled in by the generator as the model produces tokens.

    A token is one streamed piece of the model's text (llama.cpp, vLLM and Ollama send one
    token per piece). `fallback` names why the model's answer was replaced, if it was.
    """

    started: float = field(default_factory=time.perf_counter)
    first_token: float | None = None
    last_token: float | None = None
    tokens: int = 0
    fallback: str = ""

    def token(self) -> None:
        """Record one token as it arrives."""
        now = time.perf_counter()
        if self.first_token is None:
            self.first_token = now
        self.last_token = now
        self.tokens += 1

    @property
    def time_to_first_token(self) -> float | None:
        """Seconds from the question to the model's first token (None: it produced none)."""
        return None if self.first_token is None else self.first_token - self.started

    @property
    def tokens_per_second(self) -> float | None:
        """Decoding speed after the first token (None: fewer than two tokens to time)."""
        if self.first_token is None or self.last_token is None or self.tokens < 2:
            return None
        elapsed = self.last_token - self.first_token
        return (self.tokens - 1) / elapsed if elapsed > 0 else None
