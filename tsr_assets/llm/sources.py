"""Chat sources behind one interface: an OpenAI-compatible HTTP endpoint, g4f, the offline writer.

A source turns one prompt into the model's raw answer text. It raises `RateLimited` (HTTP 429,
with the server's `Retry-After` when given), `TransientError` (5xx, timeouts, dropped
connections: worth retrying) or `PermanentError` (other 4xx: retrying will not help).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp

from tsr_assets.llm.request_cache import RequestCache


class SourceError(Exception):
    """Base class of errors a chat source raises."""

    reason = "error"


class RateLimited(SourceError):
    """The server said 429; `retry_after` is its `Retry-After` in seconds, if it sent one."""

    reason = "rate_limited"

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TransientError(SourceError):
    """A failure that may pass: server error, timeout, connection reset, garbage response."""

    reason = "transient"


class PermanentError(SourceError):
    """A failure that will not pass by retrying (bad request, unknown model, auth)."""

    reason = "permanent"


@dataclass(frozen=True)
class Usage:
    """Tokens one answer cost. `estimated`: the endpoint reported none, so they were guessed
    from the text's length (`estimate_tokens`)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated: bool = False

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.prompt_tokens + other.prompt_tokens,
                     self.completion_tokens + other.completion_tokens,
                     self.estimated or other.estimated)


@dataclass(frozen=True)
class ChatAnswer:
    """One answer: its text, what it cost, and why the model stopped (`length`: cut off at
    `max_tokens`)."""

    text: str
    usage: Usage = Usage()
    finish_reason: str | None = None
    #: From the request cache (paid for by an earlier run) or a batch (billed at its discount).
    cached: bool = False
    batched: bool = False


@dataclass(frozen=True)
class Prices:
    """Prices per million input (prompt) and output (completion) tokens; None: unknown."""

    input_per_million: float | None = None
    output_per_million: float | None = None

    def cost(self, usage: Usage) -> float | None:
        """What `usage` costs, or None when no price is set."""
        if self.input_per_million is None and self.output_per_million is None:
            return None
        return (usage.prompt_tokens * (self.input_per_million or 0.0)
                + usage.completion_tokens * (self.output_per_million or 0.0)) / 1e6


def estimate_tokens(text: str) -> int:
    """A rough token count for endpoints that report none: one token per 4 UTF-8 bytes.

    BPE vocabularies of chat models give English about 4 bytes per token and Indic scripts
    (3 bytes per character) about 3-8; the estimate is marked as such wherever it is stored.
    """
    return max(1, -(-len(text.encode("utf-8")) // 4)) if text else 0


@dataclass(frozen=True)
class GenerationControls:
    """What every request asks of the model besides the prompt."""

    max_tokens: int | None = None
    temperature: float | None = None
    stop: tuple[str, ...] = ()
    system_prompt: str | None = None
    seed: int | None = None
    #: `json_object` asks the endpoint for JSON mode (where it supports it).
    response_format: str | None = None
    #: Passed through into the request body as is (e.g. vLLM's `guided_json`).
    extra_body: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.response_format not in (None, "json_object", "text"):
            raise ValueError(f"response_format {self.response_format!r}: use json_object, text "
                             "or leave it empty")
        if self.max_tokens is not None and self.max_tokens < 1:
            raise ValueError("max_tokens must be at least 1")

    def messages(self, prompt: str) -> list[dict[str, str]]:
        """The chat messages: the optional system prompt, then the prompt."""
        system = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        return [*system, {"role": "user", "content": prompt}]

    def request_fields(self) -> dict[str, Any]:
        """The OpenAI-style request fields these controls set (unset ones left out)."""
        fields: dict[str, Any] = {}
        if self.max_tokens is not None:
            fields["max_tokens"] = self.max_tokens
        if self.temperature is not None:
            fields["temperature"] = self.temperature
        if self.stop:
            fields["stop"] = list(self.stop)
        if self.seed is not None:
            fields["seed"] = self.seed
        if self.response_format:
            fields["response_format"] = {"type": self.response_format}
        return {**fields, **self.extra_body}


class ChatSource(Protocol):
    """Anything that can answer a prompt."""

    provider: str
    model: str

    async def complete(self, prompt: str) -> ChatAnswer:
        """The model's answer to one user prompt."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


def answer_usage(prompt_text: str, answer: str, reported: dict | None) -> Usage:
    """Usage as the endpoint reported it, else estimated from the texts."""
    if isinstance(reported, dict) and isinstance(reported.get("completion_tokens"), int):
        return Usage(int(reported.get("prompt_tokens") or 0), reported["completion_tokens"])
    return Usage(estimate_tokens(prompt_text), estimate_tokens(answer), estimated=True)


def parse_retry_after(value: str | None) -> float | None:
    """`Retry-After` in seconds (only the delta-seconds form; dates are ignored)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


class OpenAICompatibleSource:
    """Any `/chat/completions` endpoint: vLLM, Ollama, llama.cpp server, hosted APIs."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        controls: GenerationControls = GenerationControls(),
        max_connections: int = 64,
        cache: RequestCache | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.provider = f"openai-compatible:{self.base_url}"
        self.controls = controls
        self.cache = cache
        self._api_key = api_key
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    @property
    def api_key(self) -> str | None:
        """The key from the environment (for the batch client; never logged)."""
        return self._api_key

    def request_body(self, prompt: str) -> dict:
        """The `/chat/completions` body of one prompt (online and batch send the same)."""
        return {"model": self.model, "messages": self.controls.messages(prompt),
                **self.controls.request_fields()}

    def is_cached(self, prompt: str) -> bool:
        """True when the prompt's next request is answered by the cache (nothing is sent)."""
        return self.cache is not None and self.cache.contains(
            self.cache.peek_key(self.request_body(prompt)))

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    async def _post(self, body: dict) -> tuple[int, str, float | None]:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections))
        try:
            async with self._session.post(f"{self.base_url}/chat/completions", json=body,
                                          headers=self._headers()) as response:
                return (response.status, await response.text(),
                        parse_retry_after(response.headers.get("Retry-After")))
        except (aiohttp.ClientError, ConnectionError) as exc:
            raise TransientError(f"connection failed: {type(exc).__name__}") from None

    async def complete(self, prompt: str) -> ChatAnswer:
        """POST one chat completion and return the first choice's message, usage and
        finish reason."""
        body = self.request_body(prompt)
        key = self.cache.next_key(body) if self.cache is not None else None
        cached = self.cache.get(key) if key is not None else None
        if cached is not None:
            return dataclasses.replace(parse_completion(cached, body["messages"]), cached=True)
        status, text, retry_after = await self._post(body)
        raise_for_status(status, text, retry_after)
        answer = parse_completion(text, body["messages"])
        if key is not None:
            self.cache.put(key, self.model, text)
        return answer

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None


def raise_for_status(status: int, text: str, retry_after: float | None = None) -> None:
    """The source error an HTTP status means (nothing for 2xx)."""
    if status == 429:
        raise RateLimited("HTTP 429", retry_after)
    if status >= 500 or status == 408:
        raise TransientError(f"HTTP {status}")
    if status >= 400:
        raise PermanentError(f"HTTP {status}: {text[:200]}")


def parse_completion(text: str | dict, messages: list[dict]) -> ChatAnswer:
    """A chat completion's first choice as an answer (usage estimated when not reported)."""
    try:
        data = json.loads(text) if isinstance(text, str) else text
        choice = data["choices"][0]
        content = choice["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise TransientError("response is not a chat completion") from None
    content = content if isinstance(content, str) else ""
    prompt_text = "\n".join(m["content"] for m in messages)
    return ChatAnswer(content, answer_usage(prompt_text, content, data.get("usage")),
                      choice.get("finish_reason"))


class G4FSource:
    """g4f's async client: a named g4f provider, or any OpenAI-compatible `base_url`.

    With `base_url`, the provider is built for that URL so g4f does not fetch its provider
    list from the internet (it then asks `GET {url}/models` before each completion).
    """

    def __init__(
        self,
        model: str,
        provider_name: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        controls: GenerationControls = GenerationControls(),
    ) -> None:
        import g4f
        from g4f.client import AsyncClient
        from g4f.client.factory import create_custom_provider

        self.model = model
        self.controls = controls
        if base_url:
            provider = create_custom_provider(base_url, api_key=api_key)
            self._client = AsyncClient(provider=provider, base_url=base_url, api_key=api_key)
            self.provider = f"g4f:{base_url.rstrip('/')}"
        else:
            provider = getattr(g4f.Provider, provider_name) if provider_name else None
            self._client = AsyncClient(provider=provider, api_key=api_key)
            self.provider = f"g4f:{provider_name or 'auto'}"

    async def complete(self, prompt: str) -> ChatAnswer:
        """Ask g4f for one completion, mapping its errors onto the source error classes."""
        from g4f import errors

        messages = self.controls.messages(prompt)
        try:
            response = await self._client.chat.completions.create(
                model=self.model, messages=messages, **self.controls.request_fields())
        except errors.RateLimitError as exc:
            raise RateLimited(f"g4f: {type(exc).__name__}") from None
        except (errors.ModelNotFoundError, errors.MissingAuthError, errors.PaymentRequiredError,
                errors.BadRequestError, errors.ProviderNotFoundError) as exc:
            raise PermanentError(f"g4f: {type(exc).__name__}: {str(exc)[:200]}") from None
        except Exception as exc:  # noqa: BLE001 - g4f raises many types; all are retryable here
            text = str(exc)
            if "429" in text:
                raise RateLimited(f"g4f: {text[:200]}") from None
            raise TransientError(f"g4f: {type(exc).__name__}: {text[:200]}") from None
        try:
            choice = response.choices[0]
            content = choice.message.content
        except (AttributeError, IndexError):
            raise TransientError("g4f returned no choices") from None
        content = content if isinstance(content, str) else ""
        usage = getattr(response, "usage", None)
        reported = usage.model_dump() if hasattr(usage, "model_dump") else usage
        prompt_text = "\n".join(m["content"] for m in messages)
        return ChatAnswer(content, answer_usage(prompt_text, content, reported),
                          getattr(choice, "finish_reason", None))

    async def close(self) -> None:
        """g4f manages its own sessions per request."""
