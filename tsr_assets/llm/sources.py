"""Chat sources behind one interface: an OpenAI-compatible HTTP endpoint, g4f, the offline writer.

A source turns one prompt into the model's raw answer text. It raises `RateLimited` (HTTP 429,
with the server's `Retry-After` when given), `TransientError` (5xx, timeouts, dropped
connections: worth retrying) or `PermanentError` (other 4xx: retrying will not help).
"""

from __future__ import annotations

import json
from typing import Protocol

import aiohttp


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


class ChatSource(Protocol):
    """Anything that can answer a prompt."""

    provider: str
    model: str

    async def complete(self, prompt: str) -> str:
        """The model's answer text for one user prompt."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


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
        temperature: float | None = None,
        max_connections: int = 64,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.provider = f"openai-compatible:{self.base_url}"
        self._api_key = api_key
        self._temperature = temperature
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    async def complete(self, prompt: str) -> str:
        """POST one chat completion and return the first choice's message content."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections)
            )
        body: dict = {"model": self.model, "messages": [{"role": "user", "content": prompt}]}
        if self._temperature is not None:
            body["temperature"] = self._temperature
        try:
            async with self._session.post(
                f"{self.base_url}/chat/completions", json=body, headers=self._headers()
            ) as response:
                text = await response.text()
                status = response.status
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
        except (aiohttp.ClientError, ConnectionError) as exc:
            raise TransientError(f"connection failed: {type(exc).__name__}") from None
        if status == 429:
            raise RateLimited("HTTP 429", retry_after)
        if status >= 500 or status == 408:
            raise TransientError(f"HTTP {status}")
        if status >= 400:
            raise PermanentError(f"HTTP {status}: {text[:200]}")
        try:
            content = json.loads(text)["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise TransientError("response is not a chat completion") from None
        return content if isinstance(content, str) else ""

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None


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
    ) -> None:
        import g4f
        from g4f.client import AsyncClient
        from g4f.client.factory import create_custom_provider

        self.model = model
        if base_url:
            provider = create_custom_provider(base_url, api_key=api_key)
            self._client = AsyncClient(provider=provider, base_url=base_url, api_key=api_key)
            self.provider = f"g4f:{base_url.rstrip('/')}"
        else:
            provider = getattr(g4f.Provider, provider_name) if provider_name else None
            self._client = AsyncClient(provider=provider, api_key=api_key)
            self.provider = f"g4f:{provider_name or 'auto'}"

    async def complete(self, prompt: str) -> str:
        """Ask g4f for one completion, mapping its errors onto the source error classes."""
        from g4f import errors

        try:
            response = await self._client.chat.completions.create(
                model=self.model, messages=[{"role": "user", "content": prompt}]
            )
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
            content = response.choices[0].message.content
        except (AttributeError, IndexError):
            raise TransientError("g4f returned no choices") from None
        return content if isinstance(content, str) else ""

    async def close(self) -> None:
        """g4f manages its own sessions per request."""
