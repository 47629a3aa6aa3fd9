"""Judging sampled stories with an LLM: rate limited, retried within limits, crash-safe.

Every finished judgment is appended to a JSONL journal named after the samples it judges, the
moment it arrives. A rerun after a crash reads the journal and sends only the judgments that
are still missing, so no story is judged twice; judgments of older samples are ignored.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tsr_assets.core.journal import Journal, read_jsonl
from tsr_assets.evaluation.rubric import DEFAULT_RUBRIC, JudgeAnswerError, Rubric
from tsr_assets.llm.generation_runs import GenerationRun
from tsr_assets.llm.request_runner import Outcome, RequestItem, RunnerSettings
from tsr_assets.llm.sending import send_all
from tsr_assets.llm.sources import ChatSource


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
    run: GenerationRun | None = None


def judged_before(journal: Path) -> dict[tuple[str, int], dict[str, float]]:
    """Judgments already in the journal, by (story key, repeat)."""
    return {(row["key"], row["repeat"]): row["scores"] for row in read_jsonl(journal)
            if "scores" in row}


def _validator(rubric: Rubric):
    def validate(raw: str, item: object = None) -> tuple[str | None, str | None, str]:
        try:
            return json.dumps(rubric.parse(raw)), None, raw[:300]
        except JudgeAnswerError as exc:
            return None, exc.reason, raw[:300]

    return validate


def judge_stories(
    stories: Sequence[StoryToJudge],
    language_name: str,
    source: ChatSource,
    settings: RunnerSettings,
    journal: Path,
    repeats: int = 1,
    log: Callable[[str], None] = print,
    rubric: Rubric = DEFAULT_RUBRIC,
) -> JudgingReport:
    """Judge every story `repeats` times with `rubric` (averaged), resuming from `journal`."""
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    done = judged_before(journal)
    by_key = {s.key: s for s in stories}
    todo = [RequestItem(f"{s.key}|{r}", rubric.prompt(language_name, s.opener, s.story))
            for s in stories for r in range(repeats) if (s.key, r) not in done]
    report = JudgingReport(judged_before=len({k for k, _ in done if k in by_key}))
    record = GenerationRun("judge", source.provider, source.model, requested=len(todo))
    log(f"judging {len(stories)} stories x {repeats}: {len(done)} judgments in the journal, "
        f"{len(todo)} to request from {source.provider} ({source.model})")
    last_failure: dict[str, str] = {}
    with Journal(journal) as writer:

        def on_outcome(outcome: Outcome) -> None:
            key, repeat = outcome.prompt_id.rsplit("|", 1)
            if outcome.result is not None:
                scores = done[(key, int(repeat))] = json.loads(outcome.result)
                writer.write({"key": key, "repeat": int(repeat), "scores": scores,
                              "prompt_tokens": outcome.usage.prompt_tokens,
                              "completion_tokens": outcome.usage.completion_tokens,
                              "usage_estimated": outcome.usage.estimated})
            else:
                last_failure[key] = outcome.failure_reason or "unknown"
                writer.write({"key": key, "repeat": int(repeat), "failure": last_failure[key]})

        stats = send_all(todo, source, _validator(rubric), settings, total=len(todo),
                         on_outcome=on_outcome, log=log, state_dir=journal.with_suffix(""))
    report.requests = stats.requests
    report.rejections = stats.rejections
    report.run = record.conclude(stats)
    _average_into(report, done, list(by_key), last_failure)
    return report


def _average_into(report: JudgingReport, done: dict[tuple[str, int], dict[str, float]],
                  keys: list[str], last_failure: dict[str, str]) -> None:
    """Each story's mean over its repeats into `report.scores`; unjudged ones into failures."""
    per_key: dict[str, list[dict[str, float]]] = defaultdict(list)
    for (key, _), scores in done.items():
        per_key[key].append(scores)
    for key in keys:
        judgments = per_key.get(key)
        if judgments:
            report.scores[key] = {m: sum(j[m] for j in judgments) / len(judgments)
                                  for m in judgments[0]}
        else:
            report.failures[key] = last_failure.get(key, "not judged")
