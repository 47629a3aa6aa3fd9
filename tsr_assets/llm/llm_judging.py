"""Judging sampled stories with an LLM: rate limited, retried within limits, crash-safe.

Every finished judgment is appended to a JSONL journal named after the samples it judges, the
moment it arrives. A rerun after a crash reads the journal and sends only the judgments that
are still missing, so no story is judged twice; judgments of older samples are ignored.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tsr_assets.jsonl_files import read_jsonl
from tsr_assets.llm.request_runner import Outcome, RequestItem, RunnerSettings, run_requests
from tsr_assets.llm.sources import ChatSource
from tsr_assets.text.judge_rubric import JudgeAnswerError, judge_prompt, parse_scores


@dataclass(frozen=True)
class StoryToJudge:
    """One sample: its key (prompt_id#sample_index), opener and full story."""

    key: str
    opener: str
    story: str


@dataclass
class JudgingReport:
    """Mean scores per judged story, failures with their reason, and counts."""

    scores: dict[str, dict[str, float]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    judged_before: int = 0
    requests: int = 0
    rejections: Counter = field(default_factory=Counter)


def judge_stories(
    stories: Sequence[StoryToJudge],
    language_name: str,
    source: ChatSource,
    settings: RunnerSettings,
    journal: Path,
    repeats: int = 1,
    log: Callable[[str], None] = print,
) -> JudgingReport:
    """Judge every story `repeats` times (averaged), resuming from `journal`."""
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    done: dict[tuple[str, int], dict[str, float]] = {}
    for row in read_jsonl(journal):
        if "scores" in row:
            done[(row["key"], row["repeat"])] = row["scores"]
    by_key = {s.key: s for s in stories}
    todo = [RequestItem(f"{s.key}|{r}", judge_prompt(language_name, s.opener, s.story))
            for s in stories for r in range(repeats) if (s.key, r) not in done]
    report = JudgingReport(judged_before=len({k for k, _ in done if k in by_key}))
    log(f"judging {len(stories)} stories x {repeats}: {len(done)} judgments in the journal, "
        f"{len(todo)} to request from {source.provider} ({source.model})")
    last_failure: dict[str, str] = {}
    journal.parent.mkdir(parents=True, exist_ok=True)
    with journal.open("a", encoding="utf-8") as handle:

        def write(record: dict) -> None:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

        def validate(raw: str) -> tuple[str | None, str | None, str]:
            try:
                return json.dumps(parse_scores(raw)), None, raw[:300]
            except JudgeAnswerError as exc:
                return None, exc.reason, raw[:300]

        def on_outcome(outcome: Outcome) -> None:
            key, repeat = outcome.prompt_id.rsplit("|", 1)
            if outcome.story is not None:
                scores = json.loads(outcome.story)
                done[(key, int(repeat))] = scores
                write({"key": key, "repeat": int(repeat), "scores": scores})
            else:
                last_failure[key] = outcome.failure_reason or "unknown"
                write({"key": key, "repeat": int(repeat), "failure": last_failure[key]})

        async def answer(item: RequestItem) -> str:
            return await source.complete(item.prompt)

        async def run():
            try:
                return await run_requests(todo, answer, validate, settings, total=len(todo),
                                          on_outcome=on_outcome, log=log)
            finally:
                await source.close()

        stats = asyncio.run(run())
    report.requests = stats.requests
    report.rejections = stats.rejections
    per_key: dict[str, list[dict[str, float]]] = defaultdict(list)
    for (key, _), scores in done.items():
        if key in by_key:
            per_key[key].append(scores)
    for key in by_key:
        if per_key.get(key):
            judgments = per_key[key]
            report.scores[key] = {m: sum(j[m] for j in judgments) / len(judgments)
                                  for m in judgments[0]}
        else:
            report.failures[key] = last_failure.get(key, "not judged")
    return report
