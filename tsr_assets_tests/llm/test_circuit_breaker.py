"""The circuit breaker's triggers, its summary, and the progress line's tokens and cost."""

from __future__ import annotations

import re

import pytest

from tsr_assets.llm.circuit_breaker import BreakerSettings, CircuitBreaker
from tsr_assets.llm.request_runner import RunStats
from tsr_assets.llm.sources import Prices, Usage


def test_opens_when_the_first_answers_are_mostly_bad() -> None:
    breaker = CircuitBreaker(BreakerSettings(first_answers=10, max_bad_share=0.8))
    for i in range(10):
        assert not breaker.is_open
        breaker.record(i < 2, "wrong_script", "Once upon a time")  # 2 good, 8 bad
    assert breaker.is_open
    assert breaker.trip.startswith("8 of the first 10 answers")
    summary = breaker.summary()
    assert "wrong_script x 8, e.g. 'Once upon a time'" in summary
    assert "a model that writes this language" in summary


def test_stays_closed_below_the_share_and_judges_the_window_once() -> None:
    breaker = CircuitBreaker(BreakerSettings(first_answers=10, max_bad_share=0.8,
                                             max_consecutive_bad=50))
    for i in range(10):
        breaker.record(i < 3, "no_json")  # 7 of 10 bad: below 80%
    for _ in range(20):
        breaker.record(False, "no_json")  # later answers do not re-judge the window
    assert not breaker.is_open


def test_opens_after_consecutive_bad_answers() -> None:
    breaker = CircuitBreaker(BreakerSettings(first_answers=5, max_consecutive_bad=4))
    for _ in range(5):
        breaker.record(True)
    for _ in range(3):
        breaker.record(False, "timeout")
    breaker.record(True)  # a good answer resets the run of bad ones
    for _ in range(3):
        breaker.record(False, "timeout")
    assert not breaker.is_open
    breaker.record(False, "timeout")
    assert breaker.trip == "4 answers in a row were rejected or failed"


def test_decides_on_the_first_six_and_as_soon_as_the_share_is_certain() -> None:
    breaker = CircuitBreaker(BreakerSettings())
    for _ in range(5):
        breaker.record(False, "truncated", "…and then")
    assert not breaker.is_open
    breaker.record(False, "truncated")
    assert breaker.trip == "the first 6 answers were all rejected or failed"
    assert breaker.summary().startswith(breaker.trip + ". Likely cause: answers cut at max_tokens")
    # One good answer early: 16 bad of the first 20 is certain at answer 17, not 20.
    breaker = CircuitBreaker(BreakerSettings())
    breaker.record(True)
    for i in range(16):
        assert not breaker.is_open, i
        breaker.record(False, "wrong_script")
    assert breaker.answers == 17
    assert breaker.trip == ("16 of the first 17 answers were rejected or failed (the limit is "
                            "80% of the first 20)")
    assert "Likely cause: the wrong language" in breaker.summary()


def test_wall_time_without_a_good_answer_counts_only_bad_answers() -> None:
    breaker = CircuitBreaker(BreakerSettings(first_answers_min=50, max_bad_seconds=300),
                             good_or_start_at=0.0)
    breaker.record(False, "timeout", now=120.0)
    breaker.record(False, "timeout", now=240.0)
    assert not breaker.is_open
    breaker.record(False, "timeout", now=360.0)
    assert breaker.trip == ("no good answer in 360 s since the start (3 bad answers; the limit "
                            "is 300 s)")
    # Good answers that come slowly reset the clock and never open it.
    slow = CircuitBreaker(BreakerSettings(max_bad_seconds=300), good_or_start_at=0.0)
    for minute in range(1, 30):
        slow.record(True, now=minute * 400.0)
    slow.record(False, "no_json", now=29 * 400.0 + 100)
    assert not slow.is_open
    slow.record(False, "no_json", now=29 * 400.0 + 700)
    assert slow.trip.startswith("no good answer in 700 s since the last good one")


def test_a_disabled_breaker_never_opens() -> None:
    breaker = CircuitBreaker(BreakerSettings(first_answers=2, max_consecutive_bad=2,
                                             enabled=False))
    for _ in range(10):
        breaker.record(False, "no_json")
    assert not breaker.is_open and breaker.bad == 10


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="max_bad_share"):
        BreakerSettings(max_bad_share=0)
    with pytest.raises(ValueError, match="first_answers_min"):
        BreakerSettings(first_answers_min=0)
    with pytest.raises(ValueError, match="max_bad_seconds"):
        BreakerSettings(max_bad_seconds=0)


def test_progress_line_shows_tokens_per_second_and_cost() -> None:
    stats = RunStats(total=10, prices=Prices(2.0, 8.0))
    stats.usage = Usage(1_000_000, 500_000)
    stats.started -= 10  # ten seconds ago
    line = stats.progress_line()
    rate = int(re.search(r"([\d,]+) completion tokens/s", line).group(1).replace(",", ""))
    assert 49_000 <= rate <= 50_000
    assert "cost so far 6.0000" in line  # 1M x 2 + 0.5M x 8, per million
    stats.usage = Usage(10, 10, estimated=True)
    assert "(estimated)" in stats.progress_line()
    assert Prices().cost(Usage(5, 5)) is None
