"""OpenAI-format batch APIs: the same requests as online, billed at half the price, no rate limit.

Served by OpenAI, Azure OpenAI, Together, Groq, Mistral, DeepInfra, Novita and by vLLM's own
`run-batch` (a local JSONL in, a JSONL out). A run:

1. answers what the request cache already holds (nothing is sent for those);
2. writes the other requests as JSONL (`custom_id`, `method`, `url`, `body`), split at
   `max_requests_per_file` (50,000) and `max_bytes_per_file` (200 MB), into the partition's
   `batches/` folder, streaming (memory does not grow with the number of prompts);
3. uploads each file (`purpose: batch`), creates its batch (`/v1/chat/completions`, `24h`)
   and records the ids in `batches/state.json` *before* it polls, so a killed run, a Dagster
   retry or a lost Celery worker polls the same batches again instead of paying twice;
4. polls with backoff, logging each batch's state (validating, in progress with
   completed/total, finalizing);
5. downloads the output and error files and feeds every answer through the same validation,
   breaker, journal and cache as online mode; answers that were rejected or failed are sent
   again in a next round, up to `max_attempts` in all; requests an expired or failed batch
   never answered go into a new batch, online, or are failed (`expired`).

Interrupting the run (Dagster's terminate, Ctrl-C) cancels its unfinished batches.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from tsr_assets.llm.batch_clients import BatchClient, LocalBatchClient
from tsr_assets.llm.batch_files import BatchState, read_items, write_request_files
from tsr_assets.llm.batch_settings import BatchSettings
from tsr_assets.llm.circuit_breaker import CircuitBreaker
from tsr_assets.llm.request_runner import (
    Outcome,
    Rejection,
    RequestItem,
    RunnerSettings,
    RunStats,
    Validator,
    check_answer,
    run_requests,
)
from tsr_assets.llm.sources import ChatAnswer, OpenAICompatibleSource, SourceError, parse_completion

TERMINAL = {"completed", "failed", "expired", "cancelled"}


class _BatchRun:
    """One run of batches for one partition: state, counters and the answer handling."""

    def __init__(self, source: OpenAICompatibleSource, validate: Validator,
                 settings: RunnerSettings, batch: BatchSettings, folder: Path, total: int,
                 on_outcome: Callable[[Outcome], None], on_rejection: Callable[[Rejection], None],
                 log: Callable[[str], None], on_progress: Callable[[list[dict]], None]) -> None:
        self.source, self.validate, self.settings, self.batch = source, validate, settings, batch
        self.on_outcome, self.on_rejection, self.log = on_outcome, on_rejection, log
        self.on_progress = on_progress
        self.state = BatchState(folder)
        self.client = (LocalBatchClient(batch.command, source.model, folder) if batch.command
                       else BatchClient(source))
        self.stats = RunStats(total=total, prices=settings.prices,
                              breaker=CircuitBreaker(settings.breaker), mode="batch",
                              batch_discount=batch.price_discount)
        self.attempts: dict[str, int] = {}
        self.expired: list[RequestItem] = []
        self.settled: set[str] = set()
        self.retry_queue: list[RequestItem] = []  # to send again in the next round
        self.logged: dict[str, float] = {}  # when each batch's progress was last logged

    # -- answers ---------------------------------------------------------------------------
    def _settle(self, outcome: Outcome) -> None:
        self.settled.add(outcome.prompt_id)
        self.stats.done += 1
        if outcome.result is not None:
            self.stats.succeeded += 1
        else:
            self.stats.failures[(outcome.failure_reason or "unknown").split(":")[0]] += 1
        self.on_outcome(outcome)

    def handle_answer(self, item: RequestItem, answer: ChatAnswer) -> bool:
        """Validate one answer; True when the item is settled (accepted, or out of
        attempts), False when it needs another round."""
        # A replay from the cache re-validates for free: it is not an attempt, and the breaker
        # watches only what is paid for now.
        attempt = self.attempts.get(item.prompt_id, 0) + (0 if answer.cached else 1)
        self.attempts[item.prompt_id] = attempt
        self.stats.count_answer(answer)
        result, reason, snippet = check_answer(answer, item, self.validate)
        if result is not None:
            if not answer.cached:
                self.stats.breaker.record(True)
            self._settle(Outcome(item.prompt_id, result, attempt, 0.0, usage=answer.usage))
            return True
        self.stats.rejections[reason] += 1
        if not answer.cached:
            self.stats.breaker.record(False, reason, snippet)
        self.on_rejection(Rejection(item.prompt_id, attempt, reason, snippet, answer.usage))
        return self._give_up_or_retry(item, attempt, reason)

    def handle_error(self, item: RequestItem, reason: str) -> bool:
        """A request the batch answered with an error; settled or retried like a rejection."""
        attempt = self.attempts.get(item.prompt_id, 0) + 1
        self.attempts[item.prompt_id] = attempt
        self.stats.breaker.record(False, reason.split(":")[0], reason)
        return self._give_up_or_retry(item, attempt, reason)

    def _give_up_or_retry(self, item: RequestItem, attempt: int, reason: str) -> bool:
        if attempt >= self.settings.max_attempts or self.stats.breaker.is_open:
            self._settle(Outcome(item.prompt_id, None, attempt, 0.0, reason))
            return True
        return False

    # -- batches ---------------------------------------------------------------------------
    def cached_or_body(self, items: Iterable[RequestItem], retry: list[RequestItem]
                       ) -> Iterator[tuple[RequestItem, dict]]:
        """Requests to send; cached answers are handled on the way (their retries collect in
        `retry`)."""
        cache = self.source.cache
        for item in items:
            if item.prompt_id in self.settled:
                continue
            body = self.source.request_body(item.prompt)
            if cache is not None:
                raw = cache.get(cache.peek_key(body))
                if raw is not None:
                    cache.next_key(body)
                    answer = dataclasses.replace(parse_completion(raw, body["messages"]),
                                                 cached=True)
                    if not self.handle_answer(item, answer):
                        retry.append(item)
                    continue
            yield item, body

    def submit(self, items: Iterable[RequestItem], round_no: int,
               retry: list[RequestItem]) -> None:
        """Write, upload and create the batches of `items`, recording each before polling."""
        for path, count in write_request_files(self.cached_or_body(items, retry), self.state,
                                               round_no, self.batch):
            if self.stats.breaker.is_open:
                path.unlink(missing_ok=True)
                return
            record = {"file": path.name, "requests": count, "round": round_no}
            self.state.batches.append(record)
            self.state.save()
            record["input_file_id"], record["batch_id"] = self.client.submit(
                path, self.batch.completion_window)
            record["status"] = "validating"
            self.state.save()
            self.stats.requests += count
            self.log(f"batch {record['batch_id']}: {count:,} requests from {path.name} "
                     f"(round {round_no})")

    def poll(self) -> None:
        """Poll every unfinished batch with backoff until each ended, then process it."""
        delay = self.batch.poll_initial_s
        while pending := [b for b in self.state.unfinished() if b.get("batch_id")]:
            changed = False
            for record in pending:
                batch = self.client.retrieve(record["batch_id"])
                counts = getattr(batch, "request_counts", None)
                done = f"{counts.completed:,}/{counts.total:,}" if counts else "?"
                now = time.monotonic()
                due = now - self.logged.get(record["batch_id"], 0.0) >= \
                    self.settings.progress_every_s
                if batch.status != record.get("status") or (due and done != record.get("done")):
                    record.update(status=batch.status, done=done)
                    self.log(f"batch {record['batch_id']}: {batch.status} ({done} done)")
                    self.logged[record["batch_id"]] = now
                    changed = True
                if batch.status in TERMINAL:
                    self.process(record, batch)
                    changed = True
            if changed:
                self.state.save()
                self.on_progress(self.state.batches)
                delay = self.batch.poll_initial_s
            elif pending:
                time.sleep(delay)
                delay = min(self.batch.poll_max_s, delay * 1.5)

    def process(self, record: dict, batch: Any) -> None:
        """Feed a finished batch's answers and errors through validation; collect retries."""
        items = read_items(self.state.folder / record["file"])
        answered: set[str] = set()
        retry = self.retry_queue
        for kind in ("output_file_id", "error_file_id"):
            file_id = getattr(batch, kind, None)
            if not file_id:
                continue
            path = self.client.download(
                file_id, self.state.folder / f"{record['file']}.{kind.split('_')[0]}.jsonl")
            with path.open(encoding="utf-8") as handle:
                for line in handle:
                    self._process_line(json.loads(line), items, answered, retry)
        missing = [item for key, item in items.items() if key not in answered]
        if missing:
            self.log(f"batch {record['batch_id']} {batch.status}: {len(missing):,} requests "
                     f"not answered; {self.batch.expired}")
            self._unanswered(missing, retry)
        record["processed"] = True
        self.stats.batch_ids.append(record["batch_id"])

    def _process_line(self, line: dict, items: dict[str, RequestItem], answered: set[str],
                      retry: list[RequestItem]) -> None:
        item = items.get(line.get("custom_id"))
        if item is None or item.prompt_id in answered:
            return
        answered.add(item.prompt_id)
        response = line.get("response") or {}
        status = response.get("status_code")
        settled = True
        if status == 200 and not line.get("error"):
            body = response.get("body") or {}
            try:
                answer = dataclasses.replace(
                    parse_completion(body, [{"content": item.prompt}]), batched=True)
            except SourceError as exc:
                settled = self.handle_error(item, f"transient: {exc}")
            else:
                if self.source.cache is not None:
                    cache_body = self.source.request_body(item.prompt)
                    self.source.cache.put(self.source.cache.next_key(cache_body),
                                          self.source.model, json.dumps(body))
                settled = self.handle_answer(item, answer)
        else:
            error = line.get("error") or response.get("body", {}).get("error") or {}
            message = error.get("message") if isinstance(error, dict) else str(error)
            settled = self.handle_error(item, f"batch_error: HTTP {status}: {message}"[:300])
        if not settled:
            retry.append(item)

    def _unanswered(self, missing: list[RequestItem], retry: list[RequestItem]) -> None:
        if self.batch.expired == "batch":
            retry.extend(missing)
        elif self.batch.expired == "online":
            self.expired.extend(missing)
        else:
            for item in missing:
                self._settle(Outcome(item.prompt_id, None, self.attempts.get(item.prompt_id, 0),
                                     0.0, "expired"))

    def retries(self) -> list[RequestItem]:
        """Items the processed batches asked to send again (taken from the state)."""
        out, self.retry_queue = self.retry_queue, []
        return [item for item in out if item.prompt_id not in self.settled]

    def cancel_unfinished(self) -> None:
        """Cancel every batch not finished yet (on interrupt)."""
        for record in self.state.unfinished():
            if record.get("batch_id"):
                try:
                    self.client.cancel(record["batch_id"])
                    record["status"] = "cancelling"
                    self.log(f"batch {record['batch_id']}: cancelled")
                except Exception as exc:  # noqa: BLE001 - best effort while stopping
                    self.log(f"batch {record['batch_id']}: cancel failed ({exc})")
        self.state.save()


def run_batches(items: Iterable[RequestItem], source: OpenAICompatibleSource,
                validate: Validator, settings: RunnerSettings, batch: BatchSettings,
                folder: Path, *, total: int, on_outcome: Callable[[Outcome], None],
                on_rejection: Callable[[Rejection], None] = lambda r: None,
                log: Callable[[str], None] = print,
                on_progress: Callable[[list[dict]], None] = lambda batches: None) -> RunStats:
    """Every item through batches (see the module docstring); resumes the batches recorded
    in `folder/state.json` first. Returns the run's counters like `run_requests`."""
    run = _BatchRun(source, validate, settings, batch, folder, total, on_outcome, on_rejection,
                    log, on_progress)
    try:
        if run.state.unfinished():
            log(f"resuming {len(run.state.unfinished())} recorded batches in {folder}")
            run.poll()
        carried = run.retries()
        round_no = max((b.get("round", 1) for b in run.state.batches), default=0) + 1
        retry: list[RequestItem] = []
        run.submit(_chain(carried, items, run.settled), round_no, retry)
        while True:
            run.poll()
            retry += run.retries()
            if not retry or run.stats.breaker.is_open:
                break
            round_no += 1
            pending, retry = retry, []
            run.submit(pending, round_no, retry)
    except BaseException as exc:
        if not isinstance(exc, Exception):  # interrupted: stop paying for what is in flight
            run.cancel_unfinished()
        raise
    if run.expired and not run.stats.breaker.is_open:
        log(f"sending {len(run.expired):,} expired requests online")
        _online(run, run.expired)
    if run.stats.breaker.is_open:
        log(f"circuit breaker open: {run.stats.breaker.trip}")
    return run.stats


def _chain(first: list[RequestItem], rest: Iterable[RequestItem], settled: set[str]
           ) -> Iterator[RequestItem]:
    """`first`, then `rest`, each prompt once and none already settled."""
    seen: set[str] = set()
    for item in itertools.chain(first, rest):
        if item.prompt_id in settled or item.prompt_id in seen:
            continue
        seen.add(item.prompt_id)
        yield item


def _online(run: _BatchRun, items: list[RequestItem]) -> None:
    """Send `items` online through the request runner, adding to the batch run's counters."""
    async def go() -> RunStats:
        try:
            return await run_requests(items, lambda item: run.source.complete(item.prompt),
                                      run.validate, run.settings, total=len(items),
                                      on_outcome=run._settle, on_rejection=run.on_rejection,
                                      log=run.log)
        finally:
            await run.source.close()

    online = asyncio.run(go())
    stats = run.stats
    stats.requests += online.requests
    stats.usage += online.usage
    stats.rejections.update(online.rejections)
    stats.cached_answers += online.cached_answers
