"""A blinded rating project for native speakers: which samples they rate, and the files Label
Studio takes (its JSON task format and a labeling configuration with one 1-10 rating per rubric
criterion).

The choice is stratified and seeded: the same `openers` openers for every chosen model (so the
models are compared on the same beginnings), `stories_per_opener` of each model's samples per
opener, then all tasks shuffled together. A task shows the opener and the story only, under an
opaque `rating_id`; which model wrote it (language, tokenizer, preset, prompt id, sample index)
and a hash of the story are kept in the key file in the data lake, never in the task, and no
judge score is shown. No Dagster here.
"""

from __future__ import annotations

import hashlib
import random
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import quoteattr

import polars as pl

from tsr_assets.core.atomic_files import atomic_path, write_json_atomic, write_text_atomic
from tsr_assets.evaluation.rubric import LLM_METRICS, RUBRIC

#: The rating scale of every criterion, as the LLM judge's rubric has it.
SCORE_MIN, SCORE_MAX = 1, 10
#: Files of one export, in `rating_tasks/<language>/<export id>/`.
TASKS_FILE = "tasks.json"
LABEL_CONFIG_FILE = "label_config.xml"
KEY_FILE = "key.parquet"
EXPORT_FILE = "export.json"
#: Columns of the key file: the opaque id and the sample it stands for.
KEY_COLUMNS = ("rating_id", "language", "tokenizer", "preset", "corpus", "prompt_id",
               "sample_index", "story_sha256")
_QUESTION = re.compile(r"^- (\w+): (.+)$", re.MULTILINE)


class RatingExportError(ValueError):
    """The samples cannot give the rating project that was asked for."""


@dataclass(frozen=True)
class RatingSelection:
    """How many stories go to the raters, and the seed that picks them."""

    openers: int = 20
    stories_per_opener: int = 1
    seed: int = 0


def story_sha256(story: str) -> str:
    """A short hash of a story's text: an import refuses ratings of samples replaced since
    the export."""
    return hashlib.sha256(story.encode("utf-8")).hexdigest()[:16]


def criterion_questions(language_name: str, criteria: Sequence[str] = LLM_METRICS
                        ) -> dict[str, str]:
    """The question the raters answer for each criterion: the LLM judge's own wording from the
    packaged rubric (its `- key: question` lines), so humans and the judge rate the same
    thing; a criterion the rubric does not word is asked by its name."""
    worded = {m.group(1): m.group(2).replace("{language}", language_name)
              for m in _QUESTION.finditer(RUBRIC)}
    return {c: worded.get(c, c.replace("_", " ")) for c in criteria}


def label_config(language_name: str, criteria: Sequence[str] = LLM_METRICS) -> str:
    """Label Studio's labeling configuration: the opener and the story, then one required
    `<Rating>` of 1-10 stars per criterion (its `name` is the criterion, as in `judge_scores`)."""
    title = (f"Rate this {language_name} story for a five- to seven-year-old "
             f"({SCORE_MIN} = very poor, {SCORE_MAX} = excellent)")
    lines = ['<View>',
             f'  <Header value={quoteattr(title)}/>',
             '  <Header value="Opening sentence" size="5"/>',
             '  <Text name="opener" value="$opener"/>',
             '  <Header value="Story" size="5"/>',
             '  <Text name="story" value="$story"/>']
    for criterion, question in criterion_questions(language_name, criteria).items():
        label = quoteattr(f"{criterion}: {question}")
        lines += [f'  <Header value={label} size="6"/>',
                  f'  <Rating name="{criterion}" toName="story" maxRating="{SCORE_MAX}" '
                  'required="true"/>']
    lines.append('</View>')
    return "\n".join(lines) + "\n"


def _models_in(samples: pl.DataFrame) -> list[tuple[str, str]]:
    return sorted(set(samples.select("tokenizer", "preset").iter_rows()))


def select_for_rating(samples: pl.DataFrame, selection: RatingSelection,
                      models: Sequence[tuple[str, str]] | None = None) -> pl.DataFrame:
    """The samples the raters get, one row per task in the shuffled task order, with a fresh
    opaque `rating_id` each.

    `samples` holds one language's samples (the warehouse's `samples` columns); `models`
    (tokenizer, preset) pairs, default every model in `samples`. Every model gets the same
    openers (chosen at random among those all of them have) and `stories_per_opener` of its
    samples of each, chosen at random; the seed fixes the choice and the order.

    Raises:
        RatingExportError: no samples, a model without samples, or fewer samples than asked.
    """
    if samples.is_empty():
        raise RatingExportError("no samples to rate: materialize samples_<preset> first")
    known = _models_in(samples)
    chosen = sorted(set(models)) if models else known
    missing = [f"{t}/{p}" for t, p in chosen if (t, p) not in known]
    if missing:
        raise RatingExportError(f"no samples of {', '.join(missing)}; models with samples: "
                                f"{', '.join(f'{t}/{p}' for t, p in known)}")
    rng = random.Random(selection.seed)
    frames = {m: samples.filter((pl.col("tokenizer") == m[0]) & (pl.col("preset") == m[1]))
              for m in chosen}
    common = sorted(set.intersection(*(set(f["prompt_id"].to_list()) for f in frames.values())))
    if len(common) < selection.openers:
        raise RatingExportError(f"{selection.openers} openers asked for, but the models share "
                                f"{len(common)}; ask for fewer openers or sample more")
    openers = sorted(rng.sample(common, selection.openers))
    picked = []
    for model in chosen:
        frame = frames[model]
        for prompt_id in openers:
            rows = frame.filter(pl.col("prompt_id") == prompt_id).sort("sample_index")
            if rows.height < selection.stories_per_opener:
                raise RatingExportError(
                    f"{model[0]}/{model[1]} has {rows.height} samples of {prompt_id}, "
                    f"{selection.stories_per_opener} asked for per opener")
            keep = sorted(rng.sample(range(rows.height), selection.stories_per_opener))
            picked.append(rows[keep])
    tasks = pl.concat(picked, how="diagonal_relaxed")
    order = list(range(tasks.height))
    rng.shuffle(order)
    tasks = tasks[order]
    ids: list[str] = []
    while len(ids) < tasks.height:  # opaque, unguessable, unique
        token = "r" + secrets.token_hex(6)
        if token not in ids:
            ids.append(token)
    return tasks.with_columns(rating_id=pl.Series(ids, dtype=pl.String))


def key_frame(tasks: pl.DataFrame) -> pl.DataFrame:
    """What each opaque id stands for (kept in the lake, never sent to raters)."""
    corpus = tasks["corpus"] if "corpus" in tasks.columns else pl.lit("generated")
    return tasks.with_columns(
        corpus=corpus,
        story_sha256=pl.Series([story_sha256(s) for s in tasks["story"]], dtype=pl.String),
    ).select(KEY_COLUMNS)


def label_studio_tasks(tasks: pl.DataFrame) -> list[dict]:
    """Label Studio's JSON task format: the opaque id, the opener and the story, nothing
    that names the model or a judge's score."""
    return [{"data": {"rating_id": r["rating_id"], "opener": r["opener"], "story": r["story"]}}
            for r in tasks.select("rating_id", "opener", "story").iter_rows(named=True)]


@dataclass(frozen=True)
class RatingExport:
    """The files of one export, in its own folder."""

    folder: Path
    tasks: list[dict]
    config: str
    key: pl.DataFrame

    @property
    def tasks_file(self) -> Path:
        """Label Studio's task import file."""
        return self.folder / TASKS_FILE

    @property
    def config_file(self) -> Path:
        """The labeling configuration (Settings, Labeling Interface, Code)."""
        return self.folder / LABEL_CONFIG_FILE

    @property
    def key_file(self) -> Path:
        """The mapping from opaque id to sample."""
        return self.folder / KEY_FILE


def write_export(folder: Path, tasks: pl.DataFrame, config: str, about: dict) -> RatingExport:
    """Write the task file, the labeling configuration, the key and `export.json` (`about`:
    what was asked for, and the Label Studio project when one was made) into `folder`."""
    export = RatingExport(folder, label_studio_tasks(tasks), config, key_frame(tasks))
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(export.key_file) as tmp:
        export.key.write_parquet(tmp)
    write_json_atomic(export.tasks_file, export.tasks)
    write_text_atomic(export.config_file, config)
    write_json_atomic(folder / EXPORT_FILE, about)
    return export


def read_keys(root: Path) -> pl.DataFrame:
    """Every export's key under `root` (`rating_tasks/`), one row per opaque id."""
    files = sorted(root.glob(f"*/*/{KEY_FILE}"))
    if not files:
        return pl.DataFrame(schema={c: (pl.Int64 if c == "sample_index" else pl.String)
                                    for c in KEY_COLUMNS})
    return pl.concat([pl.read_parquet(f).with_columns(pl.col("sample_index").cast(pl.Int64))
                      for f in files], how="vertical_relaxed").unique("rating_id", keep="last")


def about_export(language: str, selection: RatingSelection, models: Sequence[tuple[str, str]],
                 raters_per_story: int, tasks: int) -> dict:
    """What an export was asked for (its `export.json`), without any secret."""
    return {"language": language, "openers": selection.openers,
            "stories_per_opener": selection.stories_per_opener, "seed": selection.seed,
            "models": [f"{t}/{p}" for t, p in models], "raters_per_story": raters_per_story,
            "tasks": tasks}
