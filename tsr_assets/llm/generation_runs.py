"""What one LLM-backed run did (stories, judgments, translations), for metadata, the warehouse
table `generation_runs`, and the error that fails a run that produced nothing useful."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tsr_assets.llm.circuit_breaker import CircuitBreaker
from tsr_assets.llm.request_runner import RunStats
from tsr_assets.llm.sources import Usage

SUCCEEDED = "succeeded"
BREAKER_OPEN = "breaker_open"
NO_RESULTS = "no_results"


@dataclass
class GenerationRun:
    """Counts, tokens, cost and outcome of one run of one stage."""

    stage: str
    provider: str
    model: str
    requested: int = 0
    generated: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    rejections: dict[str, int] = field(default_factory=dict)
    usage: Usage = Usage()
    cost: float | None = None
    seconds: float = 0.0
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None
    outcome: str = SUCCEEDED
    error: str = ""
    mode: str = "online"
    batch_ids: list[str] = field(default_factory=list)
    cached_answers: int = 0
    cost_saved: float | None = None

    @property
    def stories_per_minute(self) -> float:
        """Throughput of this run (results per minute)."""
        return self.generated / self.seconds * 60 if self.seconds else 0.0

    @property
    def failed(self) -> bool:
        """True when the run must not report success."""
        return self.outcome != SUCCEEDED

    @property
    def tokens_per_result(self) -> float | None:
        """Completion tokens per accepted result (rejected answers included in the total)."""
        return self.usage.completion_tokens / self.generated if self.generated else None

    @property
    def cost_per_1000(self) -> float | None:
        """Cost per 1,000 accepted results."""
        return self.cost / self.generated * 1000 if self.cost is not None and self.generated \
            else None

    def conclude(self, stats: RunStats) -> GenerationRun:
        """Take the runner's counters and decide the outcome."""
        self.generated = stats.succeeded
        self.failures, self.rejections = dict(stats.failures), dict(stats.rejections)
        self.usage, self.cost, self.seconds = stats.usage, stats.cost, stats.elapsed_s
        self.mode, self.batch_ids = stats.mode, list(stats.batch_ids)
        self.cached_answers, self.cost_saved = stats.cached_answers, stats.cost_saved
        self.finished_at = datetime.now(UTC)
        self.outcome, self.error = outcome_of(stats.breaker, self.requested, self.generated)
        return self

    def warehouse_row(self, run_id: str, language: str) -> dict:
        """The `generation_runs` row of this run."""
        return {
            "run_id": run_id, "language": language, "stage": self.stage,
            "source": self.provider, "model": self.model, "requested": self.requested,
            "succeeded": self.generated, "failed": sum(self.failures.values()),
            "rejected": sum(self.rejections.values()),
            "rejections_by_reason": json.dumps(self.rejections, sort_keys=True),
            "failures_by_reason": json.dumps(self.failures, sort_keys=True),
            "prompt_tokens": self.usage.prompt_tokens,
            "completion_tokens": self.usage.completion_tokens,
            "usage_estimated": self.usage.estimated, "cost": self.cost,
            "started_at": self.started_at, "finished_at": self.finished_at or datetime.now(UTC),
            "outcome": self.outcome, "error": self.error, "mode": self.mode,
            "batch_ids": json.dumps(self.batch_ids), "cached_answers": self.cached_answers,
            "cost_saved": self.cost_saved,
        }


def outcome_of(breaker: CircuitBreaker, requested: int, succeeded: int) -> tuple[str, str]:
    """(outcome, error text): the breaker opened, nothing came back, or success."""
    if breaker.is_open:
        return BREAKER_OPEN, "stopped early: " + breaker.summary()
    if requested and not succeeded:
        return NO_RESULTS, (f"none of {requested:,} requests produced a usable answer. "
                            + breaker.summary())
    return SUCCEEDED, ""
