"""Generating (or importing) the stories of one language into the durable story store.

No Dagster here: the `stories` asset wires these functions to its config and resources, and
the benchmark calls them directly.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from tsr_assets.languages import Language
from tsr_assets.llm.request_runner import (
    Outcome,
    Rejection,
    RequestItem,
    RunnerSettings,
    run_requests,
)
from tsr_assets.llm.sources import ChatSource
from tsr_assets.story_import import imported_prompt_id
from tsr_assets.story_store import StoryJournal, compact, now_utc, stored_prompt_ids
from tsr_assets.text.offline_story_writer import (
    PROVIDER_NAME,
    load_sentence_banks,
    write_offline_story,
)
from tsr_assets.text.story_parsing import StoryLimits, snippet, validate_story

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
                yield RequestItem(
                    row["prompt_id"],
                    row["prompt"],
                    {
                        "noun": row["noun"],
                        "verb": row["verb"],
                        "adjective": row["adjective"],
                        "feature_index": feature_index[row["feature_en"]],
                    },
                )

    return total, items()


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
        banks = load_sentence_banks(language.package_data_dir)
        provider, model = PROVIDER_NAME, OFFLINE_MODEL

        async def answer(item: RequestItem) -> str:
            ctx = item.context
            story = write_offline_story(
                item.prompt_id, ctx["noun"], ctx["verb"], ctx["adjective"],
                ctx["feature_index"], banks, feature_count=len(features_en),
            )
            return json.dumps({"story": story}, ensure_ascii=False)
    else:
        provider, model = source.provider, source.model

        async def answer(item: RequestItem) -> str:
            return await source.complete(item.prompt)

    def validate(raw: str) -> tuple[str | None, str | None, str]:
        story, reason = validate_story(raw, language, limits)
        return story, reason, snippet(raw)

    journal = StoryJournal(folder)

    def on_outcome(outcome: Outcome) -> None:
        if outcome.story is not None:
            journal.write("story", {
                "prompt_id": outcome.prompt_id, "story": outcome.story, "provider": provider,
                "model": model, "attempts": outcome.attempts,
                "latency_s": round(outcome.latency_s, 4), "created_at": now_utc(),
            })
        else:
            journal.write("failure", {
                "prompt_id": outcome.prompt_id, "attempts": outcome.attempts,
                "reason": outcome.failure_reason, "created_at": now_utc(),
            })

    def on_rejection(rejection: Rejection) -> None:
        journal.write("rejection", {
            "prompt_id": rejection.prompt_id, "attempt": rejection.attempt,
            "reason": rejection.reason, "snippet": rejection.snippet, "created_at": now_utc(),
        })

    log(f"{language.key}: {len(done):,} stories already stored, {total:,} to generate "
        f"with {provider} ({model})")

    async def run():
        try:
            return await run_requests(
                items, answer, validate, settings, total=total,
                on_outcome=on_outcome, on_rejection=on_rejection, log=log,
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
        provider=provider, model=model, requested=total, generated=stats.stories,
        failures=dict(stats.failures), rejections=dict(stats.rejections),
        seconds=stats.elapsed_s,
    )


def import_stories(
    language: Language,
    folder: Path,
    texts: Iterator[str],
    provider: str,
    limits: StoryLimits,
    limit: int | None = None,
    log: Callable[[str], None] = print,
) -> GenerationReport:
    """Clean and validate existing story texts into the store (ids are hashes of the text)."""
    compact(folder)
    done = stored_prompt_ids(folder)
    report = GenerationReport(provider=provider, model="")
    journal = StoryJournal(folder)
    try:
        for text in texts:
            if limit is not None and report.requested >= limit:
                break
            report.requested += 1
            prompt_id = imported_prompt_id(text)
            if prompt_id in done:
                continue
            story, reason = validate_story(json.dumps({"story": text}), language, limits)
            if story is None:
                report.rejections[reason] = report.rejections.get(reason, 0) + 1
                journal.write("rejection", {
                    "prompt_id": prompt_id, "attempt": 1, "reason": reason,
                    "snippet": snippet(text), "created_at": now_utc(),
                })
                continue
            done.add(prompt_id)
            report.generated += 1
            journal.write("story", {
                "prompt_id": prompt_id, "story": story, "provider": provider, "model": "",
                "attempts": 1, "latency_s": 0.0, "created_at": now_utc(),
            })
    finally:
        journal.close()
        compact(folder)
    log(f"imported {report.generated:,} of {report.requested:,} texts; "
        f"rejected {report.rejections}")
    return report
