"""The real client code against a real HTTP server on 127.0.0.1: retries, limits, failures."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from tsr_assets.core.languages import get_language
from tsr_assets.llm.circuit_breaker import BreakerSettings
from tsr_assets.llm.request_runner import (
    Outcome,
    Rejection,
    RequestItem,
    RunnerSettings,
    run_requests,
)
from tsr_assets.llm.sources import G4FSource, OpenAICompatibleSource
from tsr_assets.stories.parsing import snippet, validate_story
from tsr_assets_tests.chat_server import (
    ENGLISH_BODY,
    Reply,
    good_story,
    running_chat_server,
)

HINDI = get_language("hindi")
FAST = dict(backoff_base_s=0.01, backoff_max_s=0.05, progress_every_s=60)


def validate(raw: str, item=None):
    story, reason = validate_story(raw, HINDI)
    return story, reason, snippet(raw)


def run(items, source, settings):
    outcomes: list[Outcome] = []
    rejections: list[Rejection] = []

    async def go():
        try:
            return await run_requests(
                items, lambda item: source.complete(item.prompt), validate, settings,
                total=len(items), on_outcome=outcomes.append, on_rejection=rejections.append,
                log=lambda line: None,
            )
        finally:
            await source.close()

    stats = asyncio.run(go())
    return stats, {o.prompt_id: o for o in outcomes}, rejections


def scripted(prompt: str, call: int) -> Reply:
    kind = prompt.split(":")[0]
    if kind == "good":
        return Reply(good_story(prompt))
    if kind == "fenced":
        return Reply("Here you go!\n```json\n" + good_story(prompt) + "\n```\nEnjoy.")
    if kind == "429":
        return Reply(status=429, headers={"Retry-After": "0.3"}) if call == 1 else Reply(
            good_story(prompt))
    if kind == "500":
        return Reply(status=500) if call <= 2 else Reply(good_story(prompt))
    if kind == "nojson":
        return Reply("I cannot write that story.") if call == 1 else Reply(good_story(prompt))
    if kind == "english":
        return Reply(json.dumps({"story": ENGLISH_BODY}))
    if kind == "empty":
        return Reply("")
    if kind == "slow":
        return Reply(good_story(prompt), delay_s=1.0)
    if kind == "garbage":
        return Reply(raw_body="<html>oops</html>")
    if kind == "badrequest":
        return Reply(status=400)
    raise AssertionError(kind)


def test_openai_compatible_source_handles_every_scripted_answer(monkeypatch) -> None:
    kinds = ["good", "fenced", "429", "500", "nojson", "english", "empty", "slow", "garbage",
             "badrequest"]
    items = [RequestItem(k, f"{k}: please write about the noun \"घर\"") for k in kinds]
    with running_chat_server(scripted) as server:
        source = OpenAICompatibleSource(server.base_url, "test-model", api_key="sk-test-123")
        settings = RunnerSettings(concurrency=4, timeout_s=0.5, max_attempts=3, **FAST)
        started = time.monotonic()
        stats, outcomes, rejections = run(items, source, settings)
        elapsed = time.monotonic() - started

    for ok in ("good", "fenced", "429", "500", "nojson"):
        assert outcomes[ok].result is not None, (ok, outcomes[ok])
        assert "घर" in outcomes[ok].result
    assert outcomes["good"].attempts == 1 and outcomes["fenced"].attempts == 1
    assert outcomes["429"].attempts == 2
    assert outcomes["500"].attempts == 3
    assert outcomes["nojson"].attempts == 2
    assert outcomes["english"].result is None
    assert outcomes["english"].failure_reason == "wrong_script"
    assert outcomes["empty"].failure_reason in ("empty", "no_json")
    assert outcomes["slow"].failure_reason == "timeout" and outcomes["slow"].attempts == 3
    assert outcomes["garbage"].failure_reason.startswith("transient")
    assert outcomes["badrequest"].failure_reason.startswith("permanent")
    assert outcomes["badrequest"].attempts == 1
    assert server.calls["badrequest: please write about the noun \"घर\""] == 1
    # Each rejected answer is kept with its reason and a snippet of the raw text.
    reasons = {(r.prompt_id, r.reason) for r in rejections}
    assert ("english", "wrong_script") in reasons and ("nojson", "no_json") in reasons
    assert all(len(r.snippet) <= 301 for r in rejections)
    assert stats.done == len(kinds) and stats.succeeded == 5
    assert server.auth_headers[0] == "Bearer sk-test-123"
    # 429's Retry-After (0.3 s) was honoured; the three 1-second timeouts ran in parallel.
    assert 0.3 <= elapsed < 6


def test_concurrency_bound_and_rate_limit() -> None:
    items = [RequestItem(str(i), f"good: {i}") for i in range(30)]

    def slow_good(prompt: str, call: int) -> Reply:
        return Reply(good_story(prompt), delay_s=0.05)

    with running_chat_server(slow_good) as server:
        settings = RunnerSettings(concurrency=3, timeout_s=5, **FAST)
        stats, outcomes, _ = run(items, OpenAICompatibleSource(server.base_url, "m"), settings)
        assert stats.succeeded == 30 and server.max_in_flight <= 3

    with running_chat_server(always_good := (lambda p, c: Reply(good_story(p)))) as server:
        assert always_good
        settings = RunnerSettings(
            concurrency=8, timeout_s=5, requests_per_period=20, period_s=1.0, **FAST
        )
        items = [RequestItem(str(i), f"good: {i}") for i in range(40)]
        started = time.monotonic()
        stats, _, _ = run(items, OpenAICompatibleSource(server.base_url, "m"), settings)
        elapsed = time.monotonic() - started
        times = sorted(server.request_times)
    # 20 per second with bursts of at most a tenth of a second's quota: 40 requests take
    # ~1.9 s, and no half-second window holds more than ~10 + 2 requests.
    assert stats.succeeded == 40 and elapsed >= 1.7
    busiest = max(sum(1 for t in times if start <= t < start + 0.5) for start in times)
    assert busiest <= 13


def test_g4f_with_base_url_talks_to_the_local_server() -> None:
    items = [RequestItem(k, f"{k}: noun \"पेड़\"") for k in ("good", "429", "english")]
    with running_chat_server(scripted) as server:
        source = G4FSource("test-model", base_url=server.base_url, api_key="sk-g4f")
        settings = RunnerSettings(concurrency=2, timeout_s=20, max_attempts=3, **FAST)
        stats, outcomes, _ = run(items, source, settings)
        assert server.model_listings >= 1
    assert outcomes["good"].result is not None and "पेड़" in outcomes["good"].result
    assert outcomes["429"].result is not None and outcomes["429"].attempts >= 2
    assert outcomes["english"].failure_reason == "wrong_script"


@pytest.mark.parametrize("bad", [0, -1])
def test_settings_reject_nonsense(bad: int) -> None:
    with pytest.raises(ValueError):
        RunnerSettings(concurrency=bad)
    with pytest.raises(ValueError):
        RunnerSettings(max_attempts=bad)


# A base model behind a chat endpoint: slow, and it continues the prompt instead of answering.
ECHO_PROMPT = ("Write a short story in Hindi for children aged 5 to 7 about the noun \"{}\". "
               "Answer as JSON with one key, story, and nothing else.")


def _echo(prompt: str, call: int, delay_s: float = 0.4) -> Reply:
    return Reply(prompt + " Write a short story in Hindi for children aged 5 to 7 about "
                 + "the noun again and again " * 40, delay_s=delay_s)


def _breaker_run(policy, count: int, **overrides):
    items = [RequestItem(str(i), ECHO_PROMPT.format(f"घर{i}")) for i in range(count)]
    settings = RunnerSettings(**{"concurrency": 2, "timeout_s": 10, **FAST, **overrides})
    with running_chat_server(policy) as server:
        started = time.monotonic()
        stats, outcomes, rejections = run(
            items, OpenAICompatibleSource(server.base_url, "m"), settings)
        return stats, outcomes, rejections, time.monotonic() - started, server


def test_a_slow_base_model_is_stopped_after_its_first_six_answers() -> None:
    stats, outcomes, rejections, elapsed, server = _breaker_run(_echo, 200)
    assert stats.breaker.trip == "the first 6 answers were all rejected or failed"
    # Six answers at 0.4 s, two at a time: ~1.2 s; the two requests then in flight are dropped.
    assert stats.breaker.answers == 6 and sum(server.calls.values()) <= 8
    assert elapsed < 1.2 + 2.0
    assert {r.reason for r in rejections} == {"prompt_echo"} and not outcomes
    summary = stats.breaker.summary()
    assert "Likely cause: a base model (it continues the prompt)" in summary
    assert "prompt_echo x 6" in summary and "chat/instruct model" in summary


def test_requests_in_flight_are_abandoned_when_the_breaker_opens() -> None:
    def policy(prompt: str, call: int) -> Reply:  # prompt 0 hangs for 3 s, the rest echo fast
        return _echo(prompt, call, delay_s=3.0 if "घर0\"" in prompt else 0.05)

    stats, _, _, elapsed, _ = _breaker_run(policy, 50, concurrency=3, timeout_s=60)
    assert stats.breaker.is_open and elapsed < 2.5  # not the 3 s of the hanging request


def test_timeouts_are_bad_answers_and_a_long_bad_stretch_opens_the_breaker() -> None:
    def hangs(prompt: str, call: int) -> Reply:
        return Reply(good_story(prompt), delay_s=1.5)

    stats, *_ = _breaker_run(hangs, 40, timeout_s=0.3, max_attempts=1)
    assert stats.breaker.trip == "the first 6 answers were all rejected or failed"
    assert "Likely cause: timeouts" in stats.breaker.summary()
    # With the count rules out of reach, the wall-time rule decides: 1 s without a good answer.
    lenient = BreakerSettings(first_answers=100, first_answers_min=100,
                              max_consecutive_bad=100, max_bad_seconds=1.0)
    stats, _, _, elapsed, _ = _breaker_run(hangs, 40, timeout_s=0.3, max_attempts=1,
                                           breaker=lenient)
    assert stats.breaker.trip.startswith("no good answer in 1 s since the start")
    assert 1.0 <= elapsed < 4.0 and stats.breaker.answers < 20


def test_a_model_whose_good_answers_come_slowly_is_not_stopped() -> None:
    def slow(prompt: str, call: int) -> Reply:  # each answer slower than the wall-time limit;
        bad = call == 1 and prompt.endswith('3". Answer as JSON with one key, story, '
                                            'and nothing else.')  # one prompt needs a retry
        return Reply("not json" if bad else good_story(prompt), delay_s=0.5)

    stats, outcomes, _, _, _ = _breaker_run(
        slow, 12, breaker=BreakerSettings(max_bad_seconds=0.3))
    assert not stats.breaker.is_open
    assert stats.succeeded == 12 and len(outcomes) == 12
