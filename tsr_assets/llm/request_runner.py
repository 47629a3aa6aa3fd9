"""Run many LLM requests with a rate limit, bounded concurrency, timeouts and bounded retries.

Work is pulled lazily from an iterator by `concurrency` worker coroutines, so memory does not
grow with the number of prompts. Every prompt ends in exactly one `Outcome`: a result, or a
failure with its reason after at most `max_attempts` attempts. Nothing loops forever, and a
circuit breaker stops the run early when a source clearly does not work (`stats.breaker`): the
requests still in flight are abandoned at once (a slow bad model is not waited for), and the
prompts still pending get no outcome, so a rerun sends them again.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from aiolimiter import AsyncLimiter

from tsr_assets.llm.batch_settings import BatchSettings
from tsr_assets.llm.circuit_breaker import BreakerSettings, CircuitBreaker
from tsr_assets.llm.sources import (
    ChatAnswer,
    PermanentError,
    Prices,
    RateLimited,
    SourceError,
    Usage,
)


@dataclass(frozen=True)
class RequestItem:
    """One prompt to send; `context` carries whatever the answer function needs."""

    prompt_id: str
    prompt: str
    context: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Rejection:
    """An answer that arrived but failed validation."""

    prompt_id: str
    attempt: int
    reason: str
    snippet: str
    usage: Usage = Usage()


@dataclass(frozen=True)
class Outcome:
    """The end of one prompt: the validated result (a story, a judgment...), or a failure reason."""

    prompt_id: str
    result: str | None
    attempts: int
    latency_s: float
    failure_reason: str | None = None
    #: Tokens of the accepted answer (rejected attempts are in their `Rejection`s).
    usage: Usage = Usage()


@dataclass(frozen=True)
class RunnerSettings:
    """Limits of one run. `requests_per_period=None` means no rate limit."""

    requests_per_period: float | None = None
    period_s: float = 60.0
    concurrency: int = 8
    timeout_s: float = 120.0
    max_attempts: int = 4
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0
    progress_every_s: float = 30.0
    breaker: BreakerSettings = BreakerSettings()
    prices: Prices = Prices()
    #: Batch API settings; None sends every request online.
    batch: BatchSettings | None = None

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.requests_per_period is not None and self.requests_per_period <= 0:
            raise ValueError("requests_per_period must be positive (or None for no limit)")


@dataclass
class RunStats:
    """Counters of one run, for progress lines and metadata."""

    total: int
    done: int = 0
    succeeded: int = 0
    failures: Counter = field(default_factory=Counter)
    rejections: Counter = field(default_factory=Counter)
    requests: int = 0
    usage: Usage = Usage()
    prices: Prices = Prices()
    breaker: CircuitBreaker = field(default_factory=CircuitBreaker)
    started: float = field(default_factory=time.monotonic)
    #: `online` or `batch`; the batches' ids; answers the request cache gave (not paid now).
    mode: str = "online"
    batch_ids: list[str] = field(default_factory=list)
    cached_answers: int = 0
    #: Tokens of answers that came from a batch, and the share of the price batches bill.
    batch_usage: Usage = Usage()
    batch_discount: float = 1.0

    @property
    def elapsed_s(self) -> float:
        """Seconds since the run started."""
        return time.monotonic() - self.started

    @property
    def online_cost(self) -> float | None:
        """What the paid answers would have cost online (None without prices)."""
        return self.prices.cost(self.usage)

    @property
    def cost(self) -> float | None:
        """What the answers so far cost: batch answers at the discount (None without
        prices)."""
        online = self.prices.cost(self.usage)
        if online is None:
            return None
        return online - (1.0 - self.batch_discount) * (self.prices.cost(self.batch_usage) or 0.0)

    @property
    def cost_saved(self) -> float | None:
        """What batching saved against online prices (0 online)."""
        return None if self.cost is None else self.online_cost - self.cost

    def count_answer(self, answer: ChatAnswer) -> None:
        """Add an answer's tokens to what was paid (a cached one was paid before)."""
        if answer.cached:
            self.cached_answers += 1
            return
        self.usage += answer.usage
        if answer.batched:
            self.batch_usage += answer.usage

    def progress_line(self) -> str:
        """done / total, results per minute, ETA, failures, tokens/s and cost so far."""
        rate = self.done / self.elapsed_s * 60 if self.elapsed_s > 0 else 0.0
        left = self.total - self.done
        eta = f"{left / rate:.1f} min" if rate > 0 else "unknown"
        tokens_per_s = (self.usage.completion_tokens / self.elapsed_s
                        if self.elapsed_s > 0 else 0.0)
        cost = f", cost so far {self.cost:,.4f}" if self.cost is not None else ""
        estimated = " (estimated)" if self.usage.estimated else ""
        return (
            f"{self.done:,}/{self.total:,} done, {self.succeeded:,} succeeded, "
            f"{rate:,.1f}/min, ETA {eta}, failures {sum(self.failures.values()):,}, "
            f"rejected answers {sum(self.rejections.values()):,}, "
            f"{tokens_per_s:,.0f} completion tokens/s{estimated}{cost}"
        )


Validator = Callable[[str, RequestItem], tuple[str | None, str | None, str]]
"""(raw answer, the item it answers) -> (result or None, rejection reason or None, snippet of
the raw answer). The item lets a check compare the answer with its input (a translation's
length against its source's)."""


def make_limiter(settings: RunnerSettings) -> AsyncLimiter | None:
    """A leaky bucket for the rate limit that bursts at most a tenth of a second's quota.

    `AsyncLimiter(600, 60)` would let 600 requests out at once at the start; providers that
    count per second punish that, so the same average rate is enforced in small slices.
    """
    if not settings.requests_per_period:
        return None
    per_second = settings.requests_per_period / settings.period_s
    capacity = max(1.0, per_second / 10)
    return AsyncLimiter(capacity, capacity / per_second)


def backoff_delay(attempt: int, settings: RunnerSettings, rng: random.Random) -> float:
    """Exponential backoff with full jitter in [0.5, 1.5) x base * 2^(attempt-1), capped."""
    base = min(settings.backoff_max_s, settings.backoff_base_s * 2 ** (attempt - 1))
    return base * rng.uniform(0.5, 1.5)


#: Rejections that, when the answer repeats the prompt, are better explained as a base model
#: continuing it ("untranslated", a copied source text, stays as it is).
ECHO_SYMPTOMS = frozenset({"no_json", "truncated", "wrong_script", "repetitive", "too_long",
                           "invalid", None})


def echoes_prompt(answer: str, prompt: str, window: int = 48) -> bool:
    """True when the answer repeats a stretch of `window` characters of the prompt (white
    space folded): what a base model does when it continues the prompt instead of answering."""
    answer, prompt = " ".join(answer.split()), " ".join(prompt.split())
    if len(prompt) <= window:
        return len(prompt) >= window // 2 and prompt in answer
    starts = {0, len(prompt) // 3, 2 * len(prompt) // 3, len(prompt) - window}
    return any(prompt[start:start + window] in answer for start in starts)


def check_answer(answer: ChatAnswer, item: RequestItem, validate: Validator
                 ) -> tuple[str | None, str, str]:
    """(result or None, rejection reason, snippet) of one answer, online or from a batch: an
    answer cut at `max_tokens` is `truncated`; a rejected one that repeats its prompt is
    `prompt_echo` (a base model continuing it)."""
    if answer.finish_reason == "length":
        result, reason, snippet = None, "truncated", answer.text[-300:]
    else:
        result, reason, snippet = validate(answer.text, item)
    if result is not None:
        return result, "", snippet
    if reason in ECHO_SYMPTOMS and echoes_prompt(answer.text, item.prompt):
        reason, snippet = "prompt_echo", answer.text[:300]
    return None, reason or "invalid", snippet


def failure_label(exc: SourceError | TimeoutError) -> str:
    """A short, countable name for a failed request (the breaker's reasons)."""
    if isinstance(exc, TimeoutError):
        return "timeout"
    text = str(exc)
    if "connection failed" in text or "Connect" in text:
        return "connection_failed"
    for status, label in (("401", "auth"), ("403", "auth"), ("404", "not_found")):
        if f"HTTP {status}" in text:
            return label
    if "HTTP 5" in text:
        return "server_error"
    return exc.reason


class _Attempts:
    """Sends one item until it yields a valid result or runs out of attempts."""

    def __init__(self, answer: Callable[[RequestItem], Awaitable[ChatAnswer]],
                 validate: Validator, settings: RunnerSettings, stats: RunStats,
                 on_rejection: Callable[[Rejection], None], seed: int) -> None:
        self.answer, self.validate, self.settings = answer, validate, settings
        self.stats, self.on_rejection = stats, on_rejection
        self.limiter = make_limiter(settings)
        self.rng = random.Random(seed)
        self.paused_until = 0.0  # shared: a 429 with Retry-After pauses every worker
        self.on_open: Callable[[], None] = lambda: None  # called once when the breaker opens
        self.is_cached: Callable[[RequestItem], bool] = lambda item: False

    def _record(self, ok: bool, reason: str = "", snippet: str = "") -> None:
        was_open = self.stats.breaker.is_open
        self.stats.breaker.record(ok, reason, snippet)
        if self.stats.breaker.is_open and not was_open:
            self.on_open()

    async def _send(self, item: RequestItem) -> ChatAnswer:
        wait = self.paused_until - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        if self.limiter is not None:
            await self.limiter.acquire()
        self.stats.requests += 1
        return await asyncio.wait_for(self.answer(item), self.settings.timeout_s)

    async def _answer(self, item: RequestItem) -> ChatAnswer:
        """A cached answer at once (no limiter, not counted as a request), else `_send`."""
        if self.is_cached(item):
            return await self.answer(item)
        return await self._send(item)

    def _judge_answer(self, item: RequestItem, attempt: int, answer: ChatAnswer,
                      latency: float) -> tuple[Outcome | None, str]:
        """The outcome of an accepted answer, or None and the rejection's reason."""
        self.stats.count_answer(answer)
        result, reason, snippet = check_answer(answer, item, self.validate)
        if result is not None:
            if not answer.cached:  # the breaker watches what is paid for now
                self._record(True)
            return Outcome(item.prompt_id, result, attempt, latency, usage=answer.usage), ""
        self.stats.rejections[reason] += 1
        if not answer.cached:
            self._record(False, reason, snippet)
        self.on_rejection(Rejection(item.prompt_id, attempt, reason, snippet, answer.usage))
        return None, reason

    async def run(self, item: RequestItem) -> Outcome | None:
        """The item's outcome after at most `max_attempts` paid attempts (answers replayed
        from the request cache are re-validated for free); None when the breaker opened
        before it finished (the item is left for the next run)."""
        last_reason = "unknown"
        attempt = 0
        while attempt < self.settings.max_attempts:
            attempt += 1
            if self.stats.breaker.is_open:
                return None
            started = time.monotonic()
            try:
                answer = await self._answer(item)
            except RateLimited as exc:
                last_reason = exc.reason
                if exc.retry_after is not None:
                    self.paused_until = max(self.paused_until,
                                            time.monotonic() + exc.retry_after)
                    continue
            except PermanentError as exc:
                self._record(False, failure_label(exc), str(exc))
                return Outcome(item.prompt_id, None, attempt, 0.0, f"{exc.reason}: {exc}")
            except (SourceError, TimeoutError) as exc:
                self._record(False, failure_label(exc), str(exc))
                last_reason = ("timeout" if isinstance(exc, TimeoutError)
                               else f"{exc.reason}: {exc}")
            else:
                outcome, last_reason = self._judge_answer(item, attempt, answer,
                                                          time.monotonic() - started)
                if outcome is not None:
                    return outcome
                if answer.cached:
                    attempt -= 1  # a replay cost nothing: the next answer is still this attempt
                continue  # a bad answer is retried at once; the rate limiter still applies
            if attempt < self.settings.max_attempts:
                await asyncio.sleep(backoff_delay(attempt, self.settings, self.rng))
        return Outcome(item.prompt_id, None, self.settings.max_attempts, 0.0, last_reason)


async def run_requests(
    items: Iterable[RequestItem],
    answer: Callable[[RequestItem], Awaitable[ChatAnswer]],
    validate: Validator,
    settings: RunnerSettings,
    *,
    total: int,
    on_outcome: Callable[[Outcome], None],
    on_rejection: Callable[[Rejection], None] = lambda r: None,
    log: Callable[[str], None] = print,
    seed: int = 0,
    is_cached: Callable[[RequestItem], bool] | None = None,
) -> RunStats:
    """Send every item through `answer`, validate, retry within limits, report each outcome.

    Once the circuit breaker opens nothing new is sent and the requests in flight are
    abandoned (their prompts get no outcome).
    """
    stats = RunStats(total=total, prices=settings.prices,
                     breaker=CircuitBreaker(settings.breaker))
    attempts = _Attempts(answer, validate, settings, stats, on_rejection, seed)
    if is_cached is not None:
        attempts.is_cached = is_cached
    iterator: Iterator[RequestItem] = iter(items)

    async def worker() -> None:
        try:
            for item in iterator:
                outcome = await attempts.run(item)
                if outcome is None:
                    return
                stats.done += 1
                if outcome.result is not None:
                    stats.succeeded += 1
                else:
                    stats.failures[(outcome.failure_reason or "unknown").split(":")[0]] += 1
                on_outcome(outcome)
                if stats.breaker.is_open:
                    return
        except asyncio.CancelledError:
            if not stats.breaker.is_open:  # cancelled from outside: pass it on
                raise

    async def progress() -> None:
        while True:
            await asyncio.sleep(settings.progress_every_s)
            log(stats.progress_line())

    reporter = asyncio.create_task(progress())
    workers = [asyncio.create_task(worker()) for _ in range(settings.concurrency)]
    attempts.on_open = lambda: [task.cancel() for task in workers
                                if task is not asyncio.current_task()]
    try:
        await asyncio.gather(*workers)
    finally:
        reporter.cancel()
    log(stats.progress_line())
    if stats.breaker.is_open:
        log(f"circuit breaker open: {stats.breaker.trip}")
    return stats
