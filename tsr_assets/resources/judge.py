"""The judge resource: the automatic metrics (offline default) or an LLM judge."""

from typing import Literal

from pydantic import Field

from tsr_assets.resources.llm import LLMResource


class JudgeResource(LLMResource):
    """Who rates sampled stories.

    `automatic` (default): offline text metrics, named as such everywhere. `openai` / `g4f`:
    an LLM judge with the rubric in `text/judge_rubric.py`, with the same rate limit,
    concurrency and retry settings as story generation. The API key is read at run time from
    the environment variable named by `api_key_env_var` (default `TSR_JUDGE_API_KEY`).
    """

    source: Literal["automatic", "openai", "g4f"] = Field(  # type: ignore[assignment]
        default="automatic",
        description="automatic: offline metrics; openai: any /chat/completions endpoint; g4f.",
    )
    api_key_env_var: str = Field(
        default="TSR_JUDGE_API_KEY", description="Environment variable holding the API key."
    )
    temperature: float | None = Field(
        default=0.0, description="0 for repeatable judgments; empty where a model refuses it."
    )
    repeats: int = Field(default=1, description="Judgments per story, averaged.")

    @property
    def judge_name(self) -> str:
        """`automatic`, or `llm:<model>` for an LLM judge."""
        return "automatic" if self.source == "automatic" else f"llm:{self.model}"
