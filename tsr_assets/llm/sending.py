"""One way every LLM-backed stage sends its requests: online through the request runner, or
through a batch API when `RunnerSettings.batch` is set; the request cache answers first."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from pathlib import Path

from tsr_assets.llm.batch_api import run_batches
from tsr_assets.llm.request_runner import (
    Outcome,
    Rejection,
    RequestItem,
    RunnerSettings,
    RunStats,
    Validator,
    run_requests,
)
from tsr_assets.llm.sources import ChatSource, OpenAICompatibleSource


def send_all(items: Iterable[RequestItem], source: ChatSource, validate: Validator,
             settings: RunnerSettings, *, total: int, on_outcome: Callable[[Outcome], None],
             on_rejection: Callable[[Rejection], None] = lambda r: None,
             log: Callable[[str], None] = print, state_dir: Path | None = None,
             on_progress: Callable[[list[dict]], None] = lambda batches: None) -> RunStats:
    """Send every item and report each outcome; closes the source. Batch mode keeps its
    batch ids and files under `state_dir/batches/` (the partition's lake folder)."""
    if settings.batch is not None:
        if not isinstance(source, OpenAICompatibleSource):
            raise ValueError(f"batch mode needs an OpenAI-compatible endpoint (source openai "
                             f"with base_url); {source.provider} has no batch API")
        if state_dir is None:
            raise ValueError("batch mode needs a folder for its batch ids")
        try:
            return run_batches(items, source, validate, settings, settings.batch,
                               state_dir / "batches", total=total, on_outcome=on_outcome,
                               on_rejection=on_rejection, log=log, on_progress=on_progress)
        finally:
            asyncio.run(source.close())
    is_cached = getattr(source, "is_cached", None)

    async def go() -> RunStats:
        try:
            return await run_requests(
                items, lambda item: source.complete(item.prompt), validate, settings,
                total=total, on_outcome=on_outcome, on_rejection=on_rejection, log=log,
                is_cached=(lambda item: is_cached(item.prompt)) if is_cached else None)
        finally:
            await source.close()

    return asyncio.run(go())
