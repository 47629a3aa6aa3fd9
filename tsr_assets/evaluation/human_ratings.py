"""Human ratings read back: Label Studio's JSON export of a rating project, or a plain CSV
(`language,tokenizer,preset,prompt_id,sample_index,rater,criterion,score`), checked as a whole
and turned into `judge_scores` rows of the judge `human:<rater>` with the rubric's metric
names, so every view and comparison that takes a judge takes the raters too.

A file is checked completely before anything is written: unknown samples (or an opaque id no
export made, or a story replaced since the export), scores that are not numbers from 1 to 10,
criteria the rubric does not have, and a rater rating the same story twice are all named at
once, each with its place in the file (row or task) and what to fix. No Dagster here.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from tsr_assets.evaluation.rating_tasks import SCORE_MAX, SCORE_MIN, story_sha256
from tsr_assets.evaluation.rubric import LLM_METRICS, MEAN_OF_CRITERIA, normalize_key

HUMAN_JUDGE_PREFIX = "human:"
CSV_COLUMNS = ("language", "tokenizer", "preset", "prompt_id", "sample_index", "rater",
               "criterion", "score")
SAMPLE_KEY = ("language", "tokenizer", "preset", "prompt_id", "sample_index")
#: How many problems a refused file lists before saying how many more there are.
MAX_LISTED_PROBLEMS = 50


class RatingsFileError(ValueError):
    """A ratings file that cannot be imported; `problems` holds every one found."""

    def __init__(self, path: Path, problems: Sequence[str]) -> None:
        self.path, self.problems = path, list(problems)
        listed = self.problems[:MAX_LISTED_PROBLEMS]
        more = len(self.problems) - len(listed)
        super().__init__(f"{path}: {len(self.problems)} problem(s), nothing was imported:\n"
                         + "\n".join(f"  {p}" for p in listed)
                         + (f"\n  ... and {more} more" if more else ""))


def human_judge(rater: str) -> str:
    """The judge name of a human rater in `judge_scores`: `human:<rater>`."""
    return f"{HUMAN_JUDGE_PREFIX}{rater}"


@dataclass(frozen=True)
class RawRating:
    """One score as a file gives it, before it is checked. `where` says where it is
    (`row 7`, `task 12 (r1a2b3c4d5e6)`); `sample` is the sample key, or None when the file
    names an opaque id that no export made."""

    where: str
    sample: tuple[str, str, str, str, int] | None
    rater: str
    criterion: str
    score: object
    story_sha256: str | None = None


def rater_name(completed_by: object, users: Mapping[int, str] | None = None) -> str:
    """A rater's name from Label Studio's `completed_by`: a user id (named through `users`,
    id -> email or username, when given) or a user object; an email keeps its local part."""
    if isinstance(completed_by, Mapping):
        name = (completed_by.get("email") or completed_by.get("username")
                or f"user{completed_by.get('id')}")
    elif users and completed_by in users:
        name = users[completed_by]
    else:
        name = f"user{completed_by}"
    return str(name).split("@", 1)[0].strip() or f"user{completed_by}"


def read_csv_ratings(path: Path) -> list[RawRating]:
    """The ratings of a plain CSV file with `CSV_COLUMNS` (any order, more columns ignored).

    Raises:
        RatingsFileError: the file lacks columns, or a `sample_index` is not a whole number.
    """
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise RatingsFileError(path, [f"header: missing column(s) {', '.join(missing)}; "
                                          f"the columns are {','.join(CSV_COLUMNS)}"])
        ratings, problems = [], []
        for number, row in enumerate(reader, start=2):  # row 1 is the header
            try:
                index = int(str(row["sample_index"]).strip())
            except ValueError:
                problems.append(f"row {number}: sample_index {row['sample_index']!r} is not a "
                                "whole number")
                continue
            sample = (row["language"].strip(), row["tokenizer"].strip(), row["preset"].strip(),
                      row["prompt_id"].strip(), index)
            ratings.append(RawRating(f"row {number}", sample, row["rater"].strip(),
                                     row["criterion"].strip(), row["score"]))
    if problems:
        raise RatingsFileError(path, problems)
    return ratings


def _annotation_scores(result: Iterable[Mapping]) -> dict[str, object]:
    """criterion -> score of one Label Studio annotation (`<Rating>`, `<Number>` or a
    `<Choices>` whose choice is a number)."""
    scores: dict[str, object] = {}
    for region in result:
        value = region.get("value") or {}
        for field in ("rating", "number"):
            if field in value:
                scores[str(region.get("from_name"))] = value[field]
        if "choices" in value and value["choices"]:
            scores[str(region.get("from_name"))] = value["choices"][0]
    return scores


def read_label_studio_export(path: Path, key: pl.DataFrame,
                             users: Mapping[int, str] | None = None) -> list[RawRating]:
    """The ratings of Label Studio's JSON export of a project `rating_tasks` made: each task's
    `rating_id` is looked up in `key` (every export's key file); cancelled (skipped)
    annotations are left out.

    Raises:
        RatingsFileError: the file is not a Label Studio JSON export (a list of tasks).
    """
    try:
        tasks = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise RatingsFileError(path, [f"not JSON: {exc}"]) from None
    if not isinstance(tasks, list):
        raise RatingsFileError(path, ["not a Label Studio JSON export (a list of tasks); "
                                      "export the project as JSON, or give a CSV file"])
    by_id = {r["rating_id"]: r for r in key.iter_rows(named=True)}
    ratings = []
    for position, task in enumerate(tasks, start=1):
        data = task.get("data") or {}
        rating_id = data.get("rating_id")
        where = f"task {task.get('id', f'#{position}')} ({rating_id or 'no rating_id'})"
        known = by_id.get(rating_id)
        sample = (tuple(known[k] for k in SAMPLE_KEY) if known else None)
        for annotation in task.get("annotations") or []:
            if annotation.get("was_cancelled"):
                continue
            rater = rater_name(annotation.get("completed_by"), users)
            for criterion, score in _annotation_scores(annotation.get("result") or []).items():
                ratings.append(RawRating(where, sample, rater, criterion, score,
                                         known["story_sha256"] if known else None))
    return ratings


def _score(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(str(value).strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        return None
    return number if SCORE_MIN <= number <= SCORE_MAX else None


def check_ratings(path: Path, ratings: Sequence[RawRating], samples: pl.DataFrame,
                  criteria: Sequence[str] = LLM_METRICS) -> pl.DataFrame:
    """The ratings as `judge_scores` rows (language, tokenizer, preset, corpus, judge, metric,
    value, prompt_id, sample_index), each rater's `mean_of_criteria` added for every story
    where they rated all of the rubric's criteria other than `overall`.

    `samples` holds the stored samples (`SAMPLE_KEY`, `corpus`, `story`).

    Raises:
        RatingsFileError: naming every problem: no ratings, an unknown sample or opaque id, a
            story replaced since its export, a score that is not a number from 1 to 10, a
            criterion the rubric does not have, a rater rating the same story twice.
    """
    wanted = [normalize_key(c) for c in criteria]
    stored = {tuple(r[k] for k in SAMPLE_KEY): r
              for r in samples.select(*SAMPLE_KEY, "corpus", "story").iter_rows(named=True)}
    problems: list[str] = []
    seen: dict[tuple, str] = {}
    rows = []
    if not ratings:
        problems.append("no ratings in the file (no annotations that were submitted)")
    for r in ratings:
        criterion = normalize_key(r.criterion)
        if r.sample is None:
            problems.append(f"{r.where}: no export made this rating id; import ratings of "
                            "projects `tsr rate export` made, in this data lake")
            continue
        known = stored.get(r.sample)
        name = "|".join(str(p) for p in r.sample)
        if known is None:
            problems.append(f"{r.where}: unknown sample {name}; check language, tokenizer, "
                            "preset, prompt_id and sample_index against the samples table")
        elif r.story_sha256 and story_sha256(known["story"]) != r.story_sha256:
            problems.append(f"{r.where}: sample {name} was sampled again after the export, so "
                            "the story rated is gone; export and rate the new samples")
            known = None
        if criterion not in wanted:
            problems.append(f"{r.where}: criterion {r.criterion!r} is not in the rubric; use "
                            f"one of {', '.join(wanted)}")
        score = _score(r.score)
        if score is None:
            problems.append(f"{r.where}: score {r.score!r} of {r.criterion} is not a number "
                            f"from {SCORE_MIN} to {SCORE_MAX}")
        if not r.rater:
            problems.append(f"{r.where}: no rater named")
        twice = (r.rater, r.sample, criterion)
        if twice in seen:
            problems.append(f"{r.where}: rater {r.rater} rated {name} ({criterion}) again, "
                            f"as in {seen[twice]}; keep one rating per rater and story")
        seen.setdefault(twice, r.where)
        if known is not None and score is not None and criterion in wanted and r.rater:
            rows.append({**dict(zip(SAMPLE_KEY, r.sample, strict=True)),
                         "corpus": known["corpus"] or "generated",
                         "judge": human_judge(r.rater), "metric": criterion, "value": score})
    if problems:
        raise RatingsFileError(path, problems)
    frame = pl.DataFrame(rows, schema_overrides={"sample_index": pl.Int64, "value": pl.Float64})
    return _with_mean_of_criteria(frame, [c for c in wanted if c != "overall"])


def _with_mean_of_criteria(frame: pl.DataFrame, others: Sequence[str]) -> pl.DataFrame:
    """Add `mean_of_criteria` (as the LLM judge gets it) where a rater rated every criterion
    but `overall` of a story."""
    if not others:
        return frame
    story = [*SAMPLE_KEY, "corpus", "judge"]
    means = (frame.filter(pl.col("metric").is_in(list(others)))
             .group_by(story).agg(pl.col("value").mean(), pl.col("metric").n_unique().alias("k"))
             .filter(pl.col("k") == len(others)).drop("k")
             .with_columns(metric=pl.lit(MEAN_OF_CRITERIA)))
    return pl.concat([frame, means.select(frame.columns)]).sort([*story, "metric"])


def read_ratings(path: Path, samples: pl.DataFrame, key: pl.DataFrame,
                 users: Mapping[int, str] | None = None,
                 criteria: Sequence[str] = LLM_METRICS) -> pl.DataFrame:
    """A ratings file (`.csv`, else Label Studio's JSON export) checked and as `judge_scores`
    rows; see `check_ratings`.

    Raises:
        RatingsFileError: the file is missing or has any problem (all named).
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise RatingsFileError(path, ["no such file"])
    raw = (read_csv_ratings(path) if path.suffix.lower() == ".csv"
           else read_label_studio_export(path, key, users))
    return check_ratings(path, raw, samples, criteria)
