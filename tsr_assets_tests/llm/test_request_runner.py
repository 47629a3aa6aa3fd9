"""The real client code against a real HTTP server on 127.0.0.1: retries, limits, failures."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from tsr_assets.core.languages import get_language
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
