"""Answers from any OpenAI-compatible chat endpoint: Ollama, vLLM, llama.cpp's server, OpenAI itself.

Through the `openai` client rather than raw HTTP: it already knows the streaming format, the
pieces a streamed tool call arrives in, and each server's error shapes, and it is the client
those servers document. Retries are off (`max_retries=0`): a reader waiting on a slow model is
better served by the built-in answer now than by the same request again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import openai
from openai.types.chat import ChatCompletionChunk

from media_demo.assistant.answer import AskRequest, Generator, Intent
from media_demo.assistant.model_answer import Deadline, ModelGenerator, ModelTimeoutError, ModelUnavailableError
from media_demo.assistant.prompting import (
    READER_TOOL,
    READER_TOOL_NAME,
    Evidence,
    Retrieve,
    build_messages,
    read_reader,
)
from media_demo.assistant.timing import Timings

# What each `tool_choice` setting sends on the first request, when the reader tool is offered.
TOOL_CHOICES: dict[str, str | dict[str, Any]] = {
    "auto": "auto",
    "required": {"type": "function", "function": {"name": READER_TOOL_NAME}},
}


@dataclass
class _ToolCall:
    """One tool call as its streamed pieces add up (its arguments are never read: the tool takes none)."""

    id: str = ""
    name: str = ""


class OpenAICompatibleGenerator(ModelGenerator):
    """Streams an answer from a chat-completions endpoint, with one round of the reader tool.

    The `get_reader_attributes` tool is offered only when the request carries `read_attributes`;
    when the model calls it, the generator runs that callable (bound to the reader asking: it
    takes no arguments, and whatever arguments the model sent are ignored), sends the sanitised
    result back, and streams the final answer with no further tool calls allowed. Fallback and
    replacement follow `ModelGenerator`.

    `tool_choice` is `"auto"` (the model decides whether to read the reader) or `"required"`
    (the first request names the tool, so the model reads the reader before it answers). A named
    choice is the form every OpenAI-compatible server implements: llama-cpp-python's server, with
    a model's own chat template, ignores tools under "auto" but streams a call to a named tool.
    Small models rarely decide to call a tool; `"required"` makes them.

    `tool_calls=False` is for a server or model with no function calling at all: the generator
    then reads the reader itself, as `LocalModelGenerator` does, and sends the sanitised result
    as a data block in the prompt.
    """

    name = "openai-compatible"

    def __init__(
        self,
        url: str,
        model: str,
        api_key: str | None,
        timeout: float,
        retrieve: Retrieve,
        fallback: Generator,
        *,
        max_tokens: int = 256,
        temperature: float = 0.2,
        tool_calls: bool = True,
        tool_choice: str = "auto",
        intent_of: Callable[[AskRequest], Intent] | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        super().__init__(retrieve, fallback, timeout, intent_of)
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"url: an http(s) base URL such as http://localhost:11434/v1 (got {url!r})")
        if not model:
            raise ValueError("model: name the model the endpoint serves (ASSISTANT_LLM_MODEL)")
        if max_tokens < 1:
            raise ValueError(f"max_tokens: at least 1 (got {max_tokens})")
        self.model = model
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.tool_calls = tool_calls
        if tool_choice not in TOOL_CHOICES:
            raise ValueError(f"tool_choice: one of {', '.join(TOOL_CHOICES)} (got {tool_choice!r})")
        self.tool_choice: str | dict[str, Any] = TOOL_CHOICES[tool_choice]
        # Local servers need no key, but the client insists on one.
        self._client = openai.OpenAI(
            base_url=url,
            api_key=api_key or "not-needed",
            timeout=timeout,
            max_retries=0,
            http_client=http_client,
        )

    def close(self) -> None:
        """Close the client's connections."""
        self._client.close()

    def _reply(
        self, request: AskRequest, evidence: Sequence[Evidence], timings: Timings, deadline: Deadline
    ) -> Iterator[str]:
        offered = request.read_attributes is not None
        if offered and not self.tool_calls:
            yield from self._stream(build_messages(request, evidence, read_reader(request)), timings, deadline, {})
            return
        messages = build_messages(request, evidence)
        calls: dict[int, _ToolCall] = {}
        yield from self._stream(messages, timings, deadline, calls, tools=offered)
        wanted = [call for call in calls.values() if call.name == READER_TOOL_NAME]
        if not (offered and wanted):
            return  # no call, or a call to a tool that was never offered: it is not run
        result = read_reader(request)  # once, however many calls: each would read the same reader
        # An empty string, not null: llama-cpp-python's server refuses a null content (checked against it).
        messages.append(
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {
                        "id": call.id or f"call_{i}",
                        "type": "function",
                        "function": {"name": READER_TOOL_NAME, "arguments": "{}"},
                    }
                    for i, call in enumerate(wanted)
                ],
            }
        )
        for i, call in enumerate(wanted):
            messages.append({"role": "tool", "tool_call_id": call.id or f"call_{i}", "content": result})
        yield from self._stream(messages, timings, deadline, {}, tools=True, final=True)

    def _stream(
        self,
        messages: list[dict[str, Any]],
        timings: Timings,
        deadline: Deadline,
        calls: dict[int, _ToolCall],
        *,
        tools: bool = False,
        final: bool = False,
    ) -> Iterator[str]:
        """One streamed completion: its text pieces, with any tool call gathered into `calls`."""
        # After the tool's result, the tool stays described (some servers want it with a tool message in
        # the history) but may not be called again: one round only. Left out entirely when not offered.
        offer: dict[str, Any] = {}
        if tools:
            offer = {"tools": [READER_TOOL], "tool_choice": "none" if final else self.tool_choice}
        # Messages and tools are plain dicts in the documented shape, not the client's TypedDicts.
        create: Any = self._client.chat.completions.create
        stream: openai.Stream[ChatCompletionChunk]
        try:
            stream = create(
                model=self.model,
                messages=messages,
                stream=True,
                max_tokens=self.max_tokens,
                temperature=self.temperature,
                timeout=max(deadline.remaining, 0.01),
                **offer,
            )
        except openai.APITimeoutError as error:
            raise ModelTimeoutError(f"{self.model}: {error}") from error
        except openai.OpenAIError as error:
            raise ModelUnavailableError(f"{self.model}: {error}") from error
        try:
            for chunk in stream:
                deadline.check()
                if not chunk.choices:
                    continue
                delta = chunk.choices[0].delta
                for piece in delta.tool_calls or ():
                    call = calls.setdefault(piece.index, _ToolCall())
                    call.id = piece.id or call.id
                    if piece.function is not None:
                        call.name = piece.function.name or call.name
                if delta.content:
                    timings.token()
                    yield delta.content
        except (openai.APITimeoutError, httpx.TimeoutException) as error:
            raise ModelTimeoutError(f"{self.model}: {error}") from error
        except (openai.OpenAIError, httpx.HTTPError, json.JSONDecodeError) as error:
            raise ModelUnavailableError(f"{self.model}: {error}") from error
        finally:
            stream.close()
