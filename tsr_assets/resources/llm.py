"""The LLM resource: which chat source the story (and later judge) stages talk to."""

import os
from typing import Literal

import dagster as dg
from pydantic import Field

from tsr_assets.llm.request_runner import RunnerSettings
from tsr_assets.llm.sources import ChatSource, G4FSource, OpenAICompatibleSource


class LLMResource(dg.ConfigurableResource):
    """Where stories come from: the offline writer (default), g4f, or an OpenAI-compatible API.

    The API key is read at run time from the environment variable named by `api_key_env_var`;
    it is never stored in config, metadata or logs.
    """

    source: Literal["offline", "openai", "g4f"] = Field(
        default="offline",
        description="offline: template writer; openai: any /chat/completions endpoint; g4f.",
    )
    base_url: str | None = Field(
        default=None, description="Endpoint, e.g. http://127.0.0.1:8000/v1 (openai; optional g4f)"
    )
    model: str = Field(default="gpt-4o-mini", description="Model name sent to the source.")
    g4f_provider: str | None = Field(default=None, description="g4f provider class name.")
    api_key_env_var: str = Field(
        default="TSR_LLM_API_KEY", description="Environment variable holding the API key."
    )
    temperature: float | None = Field(default=None, description="Sampling temperature.")
    requests_per_minute: float | None = Field(
        default=None, description="Rate limit; empty for none."
    )
    concurrency: int = Field(default=16, description="Requests in flight at most.")
    timeout_s: float = Field(default=120.0, description="Timeout of one request.")
    max_attempts: int = Field(default=4, description="Attempts per prompt before it fails.")
    backoff_base_s: float = Field(default=1.0, description="First retry delay (doubles).")
    backoff_max_s: float = Field(default=60.0, description="Longest retry delay.")
    progress_every_s: float = Field(default=30.0, description="Seconds between progress lines.")

    def runner_settings(self) -> RunnerSettings:
        """The request runner's limits from this configuration."""
        return RunnerSettings(
            requests_per_period=self.requests_per_minute,
            period_s=60.0,
            concurrency=self.concurrency,
            timeout_s=self.timeout_s,
            max_attempts=self.max_attempts,
            backoff_base_s=self.backoff_base_s,
            backoff_max_s=self.backoff_max_s,
            progress_every_s=self.progress_every_s,
        )

    def make_source(self) -> ChatSource:
        """A chat source for `openai` or `g4f` (the offline writer is not a chat source)."""
        api_key = os.environ.get(self.api_key_env_var) or None
        if self.source == "openai":
            if not self.base_url:
                raise ValueError(
                    "LLMResource: source 'openai' needs base_url (e.g. http://127.0.0.1:8000/v1)"
                )
            return OpenAICompatibleSource(
                self.base_url, self.model, api_key=api_key, temperature=self.temperature,
                max_connections=self.concurrency,
            )
        if self.source == "g4f":
            return G4FSource(
                self.model, provider_name=self.g4f_provider, base_url=self.base_url,
                api_key=api_key,
            )
        raise ValueError(f"LLMResource: source {self.source!r} has no chat client")
