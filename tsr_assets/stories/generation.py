"""Generating the stories of one language into the durable story store.

No Dagster here: the `stories` asset wires these functions to its config and resources, and
the benchmark calls them directly.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from tsr_assets.core.journal import Journal
from tsr_assets.core.languages import Language
from tsr_assets.llm.request_runner import (
    Outcome,
    Rejection,
    RequestItem,
    RunnerSettings,
    run_requests,
)
from tsr_assets.llm.sources import ChatSource
from tsr_assets.stories.offline_writer import (
    PROVIDER_NAME,
    load_sentence_banks,
    write_offline_story,
)
from tsr_assets.stories.parsing import StoryLimits, snippet, validate_story
from tsr_assets.stories.store import compact, now_utc, open_journal, stored_prompt_ids

OFFLINE_MODEL = "sentence-banks-v1"


@dataclass
class GenerationReport:
    """What one generation or import run did."""

    provider: str
    model: str
    requested: int = 0
    generated: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    rejections: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def stories_per_minute(self) -> float:
        """Throughput of this run."""
        return self.generated / self.seconds * 60 if self.seconds else 0.0


def pending_items(
    prompts_path: Path, done: set[str], limit: int | None, feature_index: dict[str, int]
) -> tuple[int, Iterator[RequestItem]]:
    """How many prompts still lack a story (capped by `limit`), and a lazy iterator of them.

    Prompts are streamed from parquet in batches, so memory does not grow with their number.
    """
    ids = pl.read_parquet(prompts_path, columns=["prompt_id"])["prompt_id"]
    total = int((~ids.is_in(list(done))).sum()) if done else ids.len()
    total = min(total, limit) if limit is not None else total

    def items() -> Iterator[RequestItem]:
        sent = 0
        for batch in pq.ParquetFile(prompts_path).iter_batches(batch_size=2048):
            for row in batch.to_pylist():
                if sent >= total:
                    return
                if row["prompt_id"] in done:
                    continue
                sent += 1
                yield RequestItem(row["prompt_id"], row["prompt"], {
                    "noun": row["noun"], "verb": row["verb"], "adjective": row["adjective"],
                    "feature_index": feature_index[row["feature_en"]],
                })

    return total, items()


Answer = Callable[[RequestItem], Awaitable[str]]


def offline_answer(language: Language, features_en: list[str]) -> Answer:
    """The offline template writer as an answer function (deterministic per prompt_id)."""
    banks = load_sentence_banks(language.package_data_dir)

    async def answer(item: RequestItem) -> str:
        ctx = item.context
        story = write_offline_story(
            item.prompt_id, ctx["noun"], ctx["verb"], ctx["adjective"], ctx["feature_index"],
            banks, feature_count=len(features_en),
        )
        return json.dumps({"story": story}, ensure_ascii=False)

    return answer


def journal_outcome(journal: Journal, provider: str, model: str, outcome: Outcome) -> None:
    """Record a finished prompt: its story, or its failure."""
    if outcome.result is not None:
        journal.write({
            "kind": "story", "prompt_id": outcome.prompt_id, "story": outcome.result,
            "provider": provider, "model": model, "attempts": outcome.attempts,
            "latency_s": round(outcome.latency_s, 4), "created_at": now_utc(),
        })
    else:
        journal.write({
            "kind": "failure", "prompt_id": outcome.prompt_id, "attempts": outcome.attempts,
            "reason": outcome.failure_reason, "created_at": now_utc(),
        })


def journal_rejection(journal: Journal, rejection: Rejection) -> None:
    """Record an answer that failed validation."""
    journal.write({
        "kind": "rejection", "prompt_id": rejection.prompt_id, "attempt": rejection.attempt,
        "reason": rejection.reason, "snippet": rejection.snippet, "created_at": now_utc(),
    })


def generate_stories(
    language: Language,
    folder: Path,
    prompts_path: Path,
    features_en: list[str],
    source: ChatSource | None,
    settings: RunnerSettings,
    limits: StoryLimits,
    limit: int | None = None,
    log: Callable[[str], None] = print,
) -> GenerationReport:
    """Generate a story for every prompt that has none yet; `source=None` = offline writer.

    Finished stories, rejected answers and failed prompts are journaled as they arrive and
    compacted into parquet at the end (or at the start of the next run, after a kill).
    """
    compact(folder)
    done = stored_prompt_ids(folder)
    feature_index = {feature: i for i, feature in enumerate(features_en)}
    total, items = pending_items(prompts_path, done, limit, feature_index)
    if source is None:
        provider, model = PROVIDER_NAME, OFFLINE_MODEL
        answer = offline_answer(language, features_en)
    else:
        provider, model = source.provider, source.model

        async def answer(item: RequestItem) -> str:
            return await source.complete(item.prompt)

    def validate(raw: str) -> tuple[str | None, str | None, str]:
        story, reason = validate_story(raw, language, limits)
        return story, reason, snippet(raw)

    log(f"{language.key}: {len(done):,} stories already stored, {total:,} to generate "
        f"with {provider} ({model})")
    journal = open_journal(folder)

    async def run():
        try:
            return await run_requests(
                items, answer, validate, settings, total=total,
                on_outcome=lambda o: journal_outcome(journal, provider, model, o),
                on_rejection=lambda r: journal_rejection(journal, r), log=log,
            )
        finally:
            if source is not None:
                await source.close()

    try:
        stats = asyncio.run(run())
    finally:
        journal.close()
        compact(folder)
    return GenerationReport(
        provider=provider, model=model, requested=total, generated=stats.succeeded,
        failures=dict(stats.failures), rejections=dict(stats.rejections),
        seconds=stats.elapsed_s,
    )
