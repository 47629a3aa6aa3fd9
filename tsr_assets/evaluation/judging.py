"""Rating sampled stories: the automatic metrics or an LLM judge, into long-form rows.

Both judges give one row per (sample, metric): prompt_id, sample_index, metric, value. The
95% intervals of the means are the warehouse's `judge_summary` view's job, not this module's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from tsr_assets.core.languages import Language
from tsr_assets.evaluation.automatic_judge import automatic_scores
from tsr_assets.evaluation.fluency import FluencyReference
from tsr_assets.evaluation.llm_judging import StoryToJudge, judge_stories
from tsr_assets.evaluation.rubric import DEFAULT_RUBRIC, Rubric
from tsr_assets.llm.generation_runs import GenerationRun
from tsr_assets.llm.request_runner import RunnerSettings
from tsr_assets.llm.sources import ChatSource
from tsr_assets.stories.lexicon import Lexicon

SCORE_SCHEMA = {"prompt_id": pl.String, "sample_index": pl.Int64, "metric": pl.String,
                "value": pl.Float64}


@dataclass(frozen=True)
class Judgments:
    """Scores in long form and the samples that could not be judged, with the reason."""

    scores: pl.DataFrame
    failures: dict[tuple[str, int], str] = field(default_factory=dict)
    #: Requests, tokens and cost of an LLM judge (None for the automatic judge).
    run: GenerationRun | None = None

    @property
    def judged_samples(self) -> int:
        """Samples that have scores."""
        return self.scores.select("prompt_id", "sample_index").unique().height

    def failures_by_reason(self) -> dict[str, int]:
        """How many samples failed for each reason."""
        counts: dict[str, int] = {}
        for reason in self.failures.values():
            counts[reason] = counts.get(reason, 0) + 1
        return counts


def _long_form(per_sample: dict[tuple[str, int], dict[str, float]]) -> pl.DataFrame:
    rows = [{"prompt_id": prompt_id, "sample_index": sample_index, "metric": metric,
             "value": float(value)}
            for (prompt_id, sample_index), scores in per_sample.items()
            for metric, value in scores.items()]
    return pl.DataFrame(rows, schema=SCORE_SCHEMA)


def automatic_judgments(samples: pl.DataFrame, language: Language,
                        reference: FluencyReference | None = None,
                        lexicon: Lexicon | None = None) -> Judgments:
    """The automatic metrics of every sample (offline, deterministic), with the fluency
    metrics when a `reference` of the training corpus is given."""
    per_sample = {
        (row["prompt_id"], row["sample_index"]): automatic_scores(
            row["opener"], row["continuation"], row["ended_at_eos"], language, reference,
            lexicon)
        for row in samples.iter_rows(named=True)
    }
    return Judgments(_long_form(per_sample))


def llm_judgments(
    samples: pl.DataFrame,
    language: Language,
    source: ChatSource,
    settings: RunnerSettings,
    journal: Path,
    repeats: int = 1,
    log: Callable[[str], None] = print,
    rubric: Rubric = DEFAULT_RUBRIC,
) -> Judgments:
    """Every sample judged by an LLM with `rubric`, `repeats` times (averaged), resuming from
    `journal`."""
    keyed = {f"{r['prompt_id']}#{r['sample_index']}": (r["prompt_id"], r["sample_index"])
             for r in samples.iter_rows(named=True)}
    stories = [StoryToJudge(key, row["opener"], row["story"])
               for key, row in zip(keyed, samples.iter_rows(named=True), strict=True)]
    report = judge_stories(stories, language.display_name, source, settings, journal, repeats,
                           log=log, rubric=rubric)
    per_sample = {keyed[key]: scores for key, scores in report.scores.items()}
    failures = {keyed[key]: reason for key, reason in report.failures.items()}
    return Judgments(_long_form(per_sample), failures, report.run)
