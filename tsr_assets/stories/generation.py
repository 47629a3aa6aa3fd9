"""Generating the stories of one language into the durable story store.

No Dagster here: the `stories` asset wires these functions to its config and resources, and
the benchmark calls them directly.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from tsr_assets.core.journal import Journal
from tsr_assets.core.languages import Language
from tsr_assets.llm.generation_runs import GenerationRun
from tsr_assets.llm.request_runner import (
    Outcome,
    Rejection,
    RequestItem,
    RunnerSettings,
    run_requests,
)
from tsr_assets.llm.sending import send_all
from tsr_assets.llm.sources import ChatAnswer, ChatSource, Usage
from tsr_assets.stories.offline_writer import (
    PROVIDER_NAME,
    load_sentence_banks,
    write_offline_story,
)
from tsr_assets.stories.parsing import StoryLimits, snippet, validate_story
from tsr_assets.stories.store import compact, now_utc, open_journal, stored_prompt_ids

OFFLINE_MODEL = "sentence-banks-v1"


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
                    "feature_index": feature_index[row["feature"]],
                })

    return total, items()


Answer = Callable[[RequestItem], Awaitable[ChatAnswer]]


def offline_answer(language: Language, features: list[str]) -> Answer:
    """The offline template writer as an answer function (deterministic per prompt_id)."""
    banks = load_sentence_banks(language.package_data_dir)

    async def answer(item: RequestItem) -> ChatAnswer:
        ctx = item.context
        story = write_offline_story(
            item.prompt_id, ctx["noun"], ctx["verb"], ctx["adjective"], ctx["feature_index"],
            banks, feature_count=len(features),
        )
        return ChatAnswer(json.dumps({"story": story}, ensure_ascii=False), Usage(), "stop")

    return answer


def usage_fields(usage: Usage) -> dict:
    """The token columns of a story or rejection row."""
    return {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
            "usage_estimated": usage.estimated}


def journal_outcome(journal: Journal, provider: str, model: str, outcome: Outcome) -> None:
    """Record a finished prompt: its story, or its failure."""
    if outcome.result is not None:
        journal.write({
            "kind": "story", "prompt_id": outcome.prompt_id, "story": outcome.result,
            "provider": provider, "model": model, "attempts": outcome.attempts,
            "latency_s": round(outcome.latency_s, 4), **usage_fields(outcome.usage),
            "created_at": now_utc(),
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
        "reason": rejection.reason, "snippet": rejection.snippet,
        **usage_fields(rejection.usage), "created_at": now_utc(),
    })


def generate_stories(
    language: Language,
    folder: Path,
    prompts_path: Path,
    features: list[str],
    source: ChatSource | None,
    settings: RunnerSettings,
    limits: StoryLimits,
    limit: int | None = None,
    log: Callable[[str], None] = print,
) -> GenerationRun:
    """Generate a story for every prompt that has none yet; `source=None` = offline writer.

    Finished stories, rejected answers and failed prompts are journaled as they arrive and
    compacted into parquet at the end (or at the start of the next run, after a kill). The
    returned run says whether it failed (circuit breaker open, or no story at all); what was
    written is kept either way.
    """
    compact(folder)
    done = stored_prompt_ids(folder)
    feature_index = {feature: i for i, feature in enumerate(features)}
    total, items = pending_items(prompts_path, done, limit, feature_index)
    if source is None:
        provider, model = PROVIDER_NAME, OFFLINE_MODEL
        answer = offline_answer(language, features)
    else:
        provider, model = source.provider, source.model

        async def answer(item: RequestItem) -> ChatAnswer:
            return await source.complete(item.prompt)

    def validate(raw: str, item: RequestItem) -> tuple[str | None, str | None, str]:
        story, reason = validate_story(raw, language, limits)
        return story, reason, snippet(raw)

    log(f"{language.key}: {len(done):,} stories already stored, {total:,} to generate "
        f"with {provider} ({model})")
    record = GenerationRun("stories", provider, model, requested=total)
    journal = open_journal(folder)

    outcome = lambda o: journal_outcome(journal, provider, model, o)  # noqa: E731
    rejection = lambda r: journal_rejection(journal, r)  # noqa: E731
    try:
        if source is None:
            stats = asyncio.run(run_requests(items, answer, validate, settings, total=total,
                                             on_outcome=outcome, on_rejection=rejection,
                                             log=log))
        else:
            stats = send_all(items, source, validate, settings, total=total,
                             on_outcome=outcome, on_rejection=rejection, log=log,
                             state_dir=folder)
    finally:
        journal.close()
        compact(folder)
    return record.conclude(stats)
