"""Answers from a model file run in this process by llama.cpp (`llama-cpp-python`, the `[llm]` extra).

A small model such as SmolLM2 has no function calling in llama.cpp's chat formats, so the reader
tool is run by the generator instead of the model: when the request carries `read_attributes`
(the reader allowed their history to be used), it is called once and its sanitised result goes
into the prompt as a labelled data block. It is still the bound reader's callable, taking no id.

One `Llama` is loaded once, on first use (or `load()`), and is not thread-safe: answers take
turns behind a lock. A question that cannot get the model within the timeout gets the built-in
answer instead of a queue.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from media_demo.assistant.answer import AskRequest, Generator, Intent
from media_demo.assistant.model_answer import Deadline, ModelBusyError, ModelGenerator, ModelUnavailableError
from media_demo.assistant.prompting import Evidence, Retrieve, build_messages, read_reader
from media_demo.assistant.timing import Timings

MISSING_LLAMA = (
    "llama_cpp is not installed: the local model needs the [llm] extra "
    "(make llm, or pip install -e '.[llm]'), and ASSISTANT_MODEL_PATH naming a GGUF model file"
)


class LocalModelGenerator(ModelGenerator):
    """Streams an answer from a GGUF model file through `llama_cpp.Llama.create_chat_completion`."""

    name = "local-model"

    def __init__(
        self,
        model_path: str | Path,
        retrieve: Retrieve,
        fallback: Generator,
        *,
        timeout: float = 30.0,
        max_tokens: int = 256,
        temperature: float = 0.2,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        intent_of: Callable[[AskRequest], Intent] | None = None,
    ) -> None:
        super().__init__(retrieve, fallback, timeout, intent_of)
        if importlib.util.find_spec("llama_cpp") is None:
            raise ImportError(MISSING_LLAMA)
        path = Path(model_path)
        if not path.is_file():
            raise ValueError(f"model_path: no model file at {path} (set ASSISTANT_MODEL_PATH to a .gguf file)")
        if max_tokens < 1:
            raise ValueError(f"max_tokens: at least 1 (got {max_tokens})")
        self.model_path = path
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.n_ctx = n_ctx
        self.n_threads = n_threads or max(1, os.cpu_count() or 1)
        self._lock = threading.Lock()
        self._llama: Any = None

    def load(self) -> None:
        """Load the model now rather than on the first question (a second or so for a small model)."""
        with self._lock:
            self._load()

    def _load(self) -> Any:
        """The loaded model; call with the lock held."""
        if self._llama is None:
            import llama_cpp  # the optional [llm] extra: imported only when a local model is used

            self._llama = llama_cpp.Llama(
                model_path=str(self.model_path), n_ctx=self.n_ctx, n_threads=self.n_threads, verbose=False
            )
        return self._llama

    def _reply(
        self, request: AskRequest, evidence: Sequence[Evidence], timings: Timings, deadline: Deadline
    ) -> Iterator[str]:
        reader_data = read_reader(request) if request.read_attributes is not None else None
        messages = build_messages(request, evidence, reader_data)
        if not self._lock.acquire(timeout=deadline.remaining):
            raise ModelBusyError(f"{self.model_path.name}: another answer held the model for {self.timeout:g} s")
        try:
            try:
                llama = self._load()
                stream = llama.create_chat_completion(
                    messages=messages, stream=True, max_tokens=self.max_tokens, temperature=self.temperature
                )
            except (OSError, ValueError, RuntimeError) as error:
                raise ModelUnavailableError(f"{self.model_path.name}: {error}") from error
            try:
                for chunk in stream:
                    deadline.check()
                    content = chunk["choices"][0]["delta"].get("content") if chunk.get("choices") else None
                    if content:
                        timings.token()
                        yield content
            finally:
                stream.close()  # stops decoding when the answer is abandoned part way
        finally:
            self._lock.release()
