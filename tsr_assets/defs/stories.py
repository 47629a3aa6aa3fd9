"""`stories` (language partitions): prompts turned into cleaned, validated stories, durably and
resumably, and the checks on the stored dataset."""

from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl
from pydantic import Field, model_validator

from tsr_assets.core.lake import STORY_KIND_FOLDERS, Lake
from tsr_assets.core.languages import Language, get_language
from tsr_assets.defs.automation import on_language_cron
from tsr_assets.defs.checks import lake_checks
from tsr_assets.defs.data_versions import story_store_version
from tsr_assets.defs.dataclass_config import dataclass_kwargs
from tsr_assets.defs.generation_runs import (
    fail_unless_succeeded,
    record_generation_run,
    usage_metadata,
)
from tsr_assets.defs.jobs import STORIES_GROUP
from tsr_assets.defs.load_scope import current_scope, stage_definitions
from tsr_assets.defs.partitions import Partitions
from tsr_assets.defs.resources import DataLakeResource, LLMResource, WarehouseResource
from tsr_assets.llm.generation_runs import GenerationRun
from tsr_assets.prompts.building import prompts_max_words
from tsr_assets.prompts.templates import answer_token_limit
from tsr_assets.prompts.wordlists import read_stored_wordlists
from tsr_assets.reports.markdown import markdown_table
from tsr_assets.stories.generation import generate_stories
from tsr_assets.stories.importing import import_stories, iter_hf_texts, iter_local_texts
from tsr_assets.stories.lexicon import lexicon_for
from tsr_assets.stories.parsing import StoryLimits, script_shares
from tsr_assets.stories.quality_gates import gate_score_rows
from tsr_assets.stories.store import load_limits, save_limits, shard_files
from tsr_assets.stories.story_scan import (
    duplicate_counts,
    iter_story_frames,
    open_failures,
    prompt_word_shares,
    score_stories,
    story_lengths,
)


class StoryLimitsConfig(dg.Config):
    """What counts as a valid story: length, script and the quality gates."""

    min_chars: int = Field(default=StoryLimits.min_chars, ge=0,
                           description="Shorter stories are rejected.")
    max_chars: int = Field(default=StoryLimits.max_chars, ge=1,
                           description="Longer stories are rejected.")
    min_script_share: float = Field(
        default=StoryLimits.min_script_share, ge=0, le=1,
        description="Minimum share of letters in the language's own script.",
    )
    max_repeated_sentence_share: float = Field(
        default=StoryLimits.max_repeated_sentence_share, ge=0, le=1,
        description="Gate: reject when more of the sentences repeat an earlier one.")
    max_repeated_ngram_share: float = Field(
        default=StoryLimits.max_repeated_ngram_share, ge=0, le=1,
        description="Gate: reject when more of the word 4-grams repeat an earlier one.")
    min_known_word_share: float | None = Field(
        default=StoryLimits.min_known_word_share, ge=0, le=1,
        description="Gate: least share of words found in the language's lexicon. Empty: 0.8 "
        "with a wordfreq list (Hindi, Bengali, English), 0.35 with the packaged data only "
        "(Marathi).")
    lexicon_path: str | None = Field(
        default=StoryLimits.lexicon_path,
        description="A word list (one word per line) added to the language's lexicon.")

    @model_validator(mode="after")
    def _chars_in_order(self) -> "StoryLimitsConfig":
        if self.min_chars > self.max_chars:
            raise ValueError(f"min_chars ({self.min_chars}) must not exceed max_chars "
                             f"({self.max_chars})")
        return self

    def limits(self) -> StoryLimits:
        """Validation limits and quality-gate thresholds."""
        return StoryLimits(**dataclass_kwargs(self, StoryLimits))


class StoriesConfig(StoryLimitsConfig):
    """What to generate (or import) in this run, and what counts as a valid story."""

    max_prompts: int | None = Field(
        default=None, ge=1, description="Generate at most this many missing stories in this run."
    )
    import_path: str | None = Field(
        default=None,
        description="Import stories from a local parquet/JSON/JSONL/CSV file or folder instead.",
    )
    import_hf_dataset: str | None = Field(
        default=None, description="Import stories from this Hugging Face dataset instead."
    )
    import_split: str = Field(default="train", description="Split of the HF dataset.")
    import_text_column: str = Field(default="story", description="Column holding the text.")
    import_limit: int | None = Field(default=None, ge=1,
                                     description="Import at most this many.")


def _generate_or_import(config: StoriesConfig, lake: Lake, language: Language,
                        llm: LLMResource, log) -> GenerationRun:
    """Run the configured source into the language's story store."""
    folder = lake.stories_dir(language.key)
    if config.import_path or config.import_hf_dataset:
        if config.import_path:
            texts = iter_local_texts(config.import_path, config.import_text_column)
            provider = f"import:{Path(config.import_path).name}"
        else:
            texts = iter_hf_texts(config.import_hf_dataset, config.import_text_column,
                                  config.import_split)
            provider = f"import:{config.import_hf_dataset}"
        try:
            return import_stories(language, folder, texts, provider, config.limits(),
                                  config.import_limit, log=log)
        except (ValueError, FileNotFoundError, RuntimeError) as exc:
            raise dg.Failure(description=f"stories import for {language.key!r}: {exc}") from exc
    prompts_path = lake.prompts_file(language.key)
    if not prompts_path.is_file():
        raise dg.Failure(f"{prompts_path} not found: materialize `prompts` first")
    features = read_stored_wordlists(lake.wordlists_file(language.key))["lists"]["features"]
    max_tokens = answer_token_limit(prompts_max_words(prompts_path))
    return generate_stories(
        language, folder, prompts_path, features,
        None if llm.source == "offline" else llm.make_source(max_tokens),
        llm.runner_settings(), config.limits(), config.max_prompts, log=log,
    )


def _stories_metadata(folder: Path, run: GenerationRun) -> dict:
    shards = shard_files(folder)
    lengths = story_lengths(shards)
    head = next(iter_story_frames(shards, ("prompt_id", "provider", "story"), 3), None)
    preview = [[r["prompt_id"], r["provider"], r["story"]]
               for r in (head.head(3).to_dicts() if head is not None else [])]
    return {
        "stories_total": dg.MetadataValue.int(int(lengths.size)),
        "generated_this_run": dg.MetadataValue.int(run.generated),
        "requested_this_run": dg.MetadataValue.int(run.requested),
        "failed_this_run": dg.MetadataValue.int(sum(run.failures.values())),
        "failures_by_reason": dg.MetadataValue.json(run.failures),
        "rejections_by_reason": dg.MetadataValue.json(run.rejections),
        "stories_per_minute": dg.MetadataValue.float(round(run.stories_per_minute, 1)),
        **usage_metadata(run, "story", "stories", folder),
        "provider": dg.MetadataValue.text(run.provider),
        "model": dg.MetadataValue.text(run.model),
        "median_chars": dg.MetadataValue.int(int(np.median(lengths)) if lengths.size else 0),
        "path": dg.MetadataValue.path(str(folder / STORY_KIND_FOLDERS["story"])),
        "preview": dg.MetadataValue.md(
            markdown_table(preview, ["prompt_id", "provider", "story"], max_chars=160)),
    }


def build_stories_defs(partitions: Partitions) -> list:
    """The `stories` asset and its checks, partitioned by language."""

    @dg.asset(
        # code version 2: the breaker decides early, prompt echoes are named, damaged shards
        # are refused.
        code_version="2",
        partitions_def=partitions.language,
        automation_condition=on_language_cron(partitions),
        deps=["prompts"],
        group_name=STORIES_GROUP,
        kinds={"python", "parquet"},
    )
    def stories(
        context: dg.AssetExecutionContext,
        config: StoriesConfig,
        data_lake: DataLakeResource,
        llm: LLMResource,
        warehouse: WarehouseResource,
    ) -> dg.MaterializeResult:
        """Children's stories for each prompt, cleaned and validated, in the language's script.

        Sources (resource `llm`): the offline template writer (default, provider
        `offline-template`), g4f, or any OpenAI-compatible endpoint; or an import of an
        existing dataset (run config `import_path` / `import_hf_dataset`). Requests are rate
        limited, bounded in flight and retried within a cap. Finished stories are journaled
        as they arrive and compacted into parquet shards under `stories/<language>/shards/`;
        re-materializing generates only prompts that have no story yet.
        """
        with data_lake.writing_partition_of(context):
            language = get_language(context.partition_key)
            lake = data_lake.lake
            folder = lake.stories_dir(language.key)
            folder.mkdir(parents=True, exist_ok=True)
            save_limits(lake.story_limits_file(language.key), config.limits())
            run = _generate_or_import(config, lake, language, llm, context.log.info)
            record_generation_run(warehouse, run, context.run.run_id, language.key)
            fail_unless_succeeded(run, folder, "stories", language.key, "stories",
                                  "the prompts that have no story yet")
            return dg.MaterializeResult(metadata=_stories_metadata(folder, run),
                                        data_version=story_store_version(folder))

    return [stories, *lake_checks(stories, partitions.language, STORIES_CHECKS)]


def _shards(lake: Lake, language: str, kind: str = "story") -> list[Path]:
    return shard_files(lake.stories_dir(language), kind)


def stories_script_purity(lake: Lake, language_key: str) -> dg.AssetCheckResult:
    """Every story reaches the minimum share of letters in the language's own script
    (`min_script_share` of the run that wrote them, default 90%)."""
    language = get_language(language_key)
    minimum = load_limits(lake.story_limits_file(language.key)).min_script_share
    shares = score_stories(_shards(lake, language.key), script_shares, (language.key,))
    low = int((shares < minimum).sum())
    return dg.AssetCheckResult(
        passed=bool(shares.size) and low == 0,
        metadata={"stories": int(shares.size), "below_minimum": low, "minimum_share": minimum,
                  "min_share": round(float(shares.min()), 4) if shares.size else 0.0},
    )


def stories_no_duplicates(lake: Lake, language: str) -> dg.AssetCheckResult:
    """No prompt_id twice and no story text twice."""
    _, dup_ids, dup_texts = duplicate_counts(_shards(lake, language))
    return dg.AssetCheckResult(
        passed=dup_ids == 0 and dup_texts == 0,
        metadata={"duplicate_prompt_ids": dup_ids, "duplicate_texts": dup_texts},
    )


def stories_length_distribution(lake: Lake, language: str) -> dg.AssetCheckResult:
    """Story lengths in characters: quantiles, and no story outside the run's limits
    (`min_chars`-`max_chars`, default 200-6000)."""
    limits = load_limits(lake.story_limits_file(language))
    lengths = pl.Series(story_lengths(_shards(lake, language)))
    quantiles = {f"p{int(q * 100)}": int(lengths.quantile(q) or 0) for q in (0.05, 0.5, 0.95)}
    outside = int(((lengths < limits.min_chars) | (lengths > limits.max_chars)).sum())
    return dg.AssetCheckResult(
        passed=lengths.len() > 0 and outside == 0,
        metadata={**quantiles, "outside_limits": outside,
                  "limits": f"{limits.min_chars}-{limits.max_chars}"},
    )


def stories_use_prompt_words(lake: Lake, language: str) -> dg.AssetCheckResult:
    """Share of generated stories that contain their prompt's noun (warns below 50%)."""
    prompts_path = lake.prompts_file(language)
    shards = _shards(lake, language)
    if not prompts_path.is_file() or not shards:
        return dg.AssetCheckResult(passed=True, metadata={"joined": 0})
    joined, shares = prompt_word_shares(shards, prompts_path)
    return dg.AssetCheckResult(
        passed=joined == 0 or shares["noun"] >= 0.5,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"joined": joined,
                  **{f"share_with_{k}": round(v, 4) for k, v in shares.items()}},
    )


def stories_failure_rate(lake: Lake, language: str) -> dg.AssetCheckResult:
    """Prompts that failed and still have no story, as a share of all attempted (<= 10%)."""
    still_open, attempted = open_failures(_shards(lake, language),
                                          _shards(lake, language, "failure"))
    rate = still_open / attempted if attempted else 0.0
    return dg.AssetCheckResult(
        passed=rate <= 0.10,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"open_failures": still_open, "attempted": attempted,
                  "failure_rate": round(rate, 4)},
    )


def stories_quality_gates(lake: Lake, language_key: str) -> dg.AssetCheckResult:
    """Each quality gate over the stored stories, with the thresholds the last run used:
    how many stories would fail it now, and the spread of what it measures. Stories are
    gated when written, so failures here mean older data or changed thresholds (warns)."""
    language = get_language(language_key)
    limits = load_limits(lake.story_limits_file(language.key))
    lexicon = lexicon_for(language.key, limits.lexicon_path)
    scores = score_stories(_shards(lake, language.key), gate_score_rows,
                           (language.key, limits.lexicon_path))
    minimum = limits.known_word_minimum(language)
    gates = {
        "repeated_sentences": (scores[:, 0], scores[:, 0] > limits.max_repeated_sentence_share),
        "repeated_4grams": (scores[:, 1], scores[:, 1] > limits.max_repeated_ngram_share),
        "known_words": (scores[:, 2], scores[:, 2] < minimum),
    }
    rows = [[name, int(fails.sum()), f"{values.min() if values.size else 0:.3f}",
             f"{values.mean() if values.size else 0:.3f}",
             f"{values.max() if values.size else 0:.3f}"]
            for name, (values, fails) in gates.items()]
    return dg.AssetCheckResult(
        passed=bool(scores.shape[0]) and all(row[1] == 0 for row in rows),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"stories": int(scores.shape[0]), "lexicon": lexicon.source,
                  "min_known_word_share": minimum,
                  "gates": dg.MetadataValue.md(markdown_table(
                      rows, ["gate", "failing", "min", "mean", "max"]))},
    )


STORIES_CHECKS = (stories_script_purity, stories_no_duplicates, stories_length_distribution,
                  stories_use_prompt_words, stories_failure_rate, stories_quality_gates)


@dg.definitions
def defs() -> dg.Definitions:
    """`stories` and its checks, for the languages of this load."""
    return stage_definitions(build_stories_defs(current_scope().partitions()))
