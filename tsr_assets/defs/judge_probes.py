"""`judge_probes_<preset>`: does the judge score broken versions of a model's stories worse?"""

import hashlib
import itertools
from datetime import UTC, datetime
from typing import Literal

import dagster as dg
import polars as pl
from pydantic import Field

from tsr_assets.core.atomic_files import atomic_path
from tsr_assets.core.lake import Lake, preset_asset
from tsr_assets.core.languages import Language, get_language
from tsr_assets.defs.evaluation import check_judgments, fluency_reference, judge_samples
from tsr_assets.defs.jobs import EVALUATION_GROUP
from tsr_assets.defs.partitions import Partitions, partition_keys
from tsr_assets.defs.resources import DataLakeResource, JudgeResource, WarehouseResource
from tsr_assets.evaluation.probes import (
    DEFAULT_WORD_SHARE,
    choose_stories,
    probe_statistics,
    probed_stories,
    stories_from_texts,
)
from tsr_assets.evaluation.rubric import RubricError
from tsr_assets.prompts.wordlists import (
    WordlistError,
    load_wordlists,
    resolve_source_dir,
    stored_wordlists,
)
from tsr_assets.reports.judge_quality import probe_table
from tsr_assets.stories.corpus import corpus_of
from tsr_assets.tokenizers.token_bins import (
    corpus_fields,
    iter_split_texts,
    read_dropped,
    read_meta,
)

#: Corpus stories read (from the val split, in store order) before the seeded sample is drawn.
CORPUS_POOL = 2_000


class ProbesConfig(dg.Config):
    """Which stories are probed, and how."""

    max_stories: int = Field(default=100, ge=1, le=100_000,
                             description="Stories probed (a seeded sample; each is judged 5 "
                             "times: as it is, again, shuffled, cut in half, words replaced).")
    story_source: Literal["samples", "corpus"] = Field(
        default="samples", description="samples: the model's samples; corpus: held-out (val) "
        "stories of the corpus the model was trained on.")
    seed: int = Field(default=0, ge=0, description="Seed of the sample, the probes and the "
                      "bootstrap.")
    resamples: int = Field(default=2000, ge=100, le=100_000,
                           description="Bootstrap resamples of the stories for the intervals.")
    word_share: float = Field(default=DEFAULT_WORD_SHARE, gt=0, le=1,
                              description="Share of the words replaced by random words.")


def _vocabulary(lake: Lake, language: str) -> list[str]:
    """The nouns, verbs and adjectives of the language's stored word lists (the packaged
    ones when `wordlists` was never materialized)."""
    stored = lake.wordlists_file(language)
    lists = (stored_wordlists(stored) if stored.is_file()
             else load_wordlists(resolve_source_dir(None, language), get_language(language)))
    return [*lists.nouns, *lists.verbs, *lists.adjectives]


def _stories(lake: Lake, language: Language, tokenizer: str, preset: str,
             config: ProbesConfig) -> tuple[pl.DataFrame, str]:
    """The stories to probe and their corpus: the model's samples, or held-out corpus
    stories (first sentence as the opener)."""
    if config.story_source == "corpus":
        meta = read_meta(lake.bins_dir(language.key, tokenizer))
        corpus = corpus_of(lake, language.key, corpus_fields(meta)["corpus"])
        texts = itertools.islice(iter_split_texts(
            corpus.shards, "val", meta["val_share"],
            skip_ids=read_dropped(lake.bins_dir(language.key, tokenizer))), CORPUS_POOL)
        return stories_from_texts(texts, language.sentence_terminators), corpus.name
    path = lake.samples_file(language.key, tokenizer, preset)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: materialize "
                                f"{preset_asset('samples', preset)} first")
    samples = pl.read_parquet(path)
    corpus = samples["corpus"][0] if "corpus" in samples.columns else "generated"
    return samples, corpus


def _metadata(stats: pl.DataFrame, judge: str, stories: int, out) -> dict:
    flagged = stats.filter(pl.col("flagged").fill_null(False))
    return {
        "judge": judge,
        "stories": dg.MetadataValue.int(stories),
        "flagged": dg.MetadataValue.json(
            [f"{r['probe']}: {r['metric']}" for r in flagged.iter_rows(named=True)]),
        "probes": dg.MetadataValue.md(f"judge: **{judge}**\n\n{probe_table(stats)}"),
        "path": dg.MetadataValue.path(str(out)),
    }


def build_probes_asset(partitions: Partitions, preset: str,
                       automation_condition: dg.AutomationCondition | None = None,
                       ) -> dg.AssetsDefinition:
    """`judge_probes_<preset>` (language x tokenizer)."""

    @dg.asset(
        code_version="1",
        name=preset_asset("judge_probes", preset),
        partitions_def=partitions.language_tokenizer,
        deps=[preset_asset("samples", preset)],
        automation_condition=automation_condition,
        group_name=EVALUATION_GROUP,
        kinds={"duckdb"},
        description=(
            f"Does the `judge` resource notice a broken story? A seeded sample of "
            f"`samples_{preset}` (or of held-out corpus stories) is judged as it is, asked "
            "again unchanged (test–retest), with its sentences shuffled, cut in half, and "
            "with one word in five replaced by a random word of the language: the mean score "
            "change per probe and metric with a 95% bootstrap interval over stories, the "
            "share scored worse, the retest agreement (Krippendorff's alpha); a probe the "
            "judge does not score worse is flagged. DuckDB `judge_probes`; the probed "
            f"stories' scores under `judge_probes/<language>/<tokenizer>/{preset}/`."
        ),
    )
    def judge_probes(
        context: dg.AssetExecutionContext,
        config: ProbesConfig,
        data_lake: DataLakeResource,
        warehouse: WarehouseResource,
        judge: JudgeResource,
    ) -> dg.MaterializeResult:
        with data_lake.writing_partition_of(context):
            language_key, key = partition_keys(context)
            language, lake = get_language(language_key), data_lake.lake
            label = f"{preset_asset('judge_probes', preset)} {language_key}|{key}"
            try:
                pool, corpus = _stories(lake, language, key, preset, config)
                vocabulary = _vocabulary(lake, language_key)
                rubric_hash = None if judge.source == "automatic" else judge.rubric().text_hash
            except (FileNotFoundError, WordlistError, RubricError, ValueError) as exc:
                raise dg.Failure(f"{label}: {exc}", allow_retries=False) from exc
            chosen = choose_stories(pool, config.max_stories, config.seed)
            probed = probed_stories(chosen, language.sentence_terminators, vocabulary,
                                    config.seed, config.word_share)
            if probed.is_empty():
                raise dg.Failure(f"{label}: no stories to probe", allow_retries=False)
            digest = hashlib.blake2b("\x1f".join(probed["story"]).encode(), digest_size=8)
            journal = lake.probe_journal(language_key, key, preset, judge.judge_name,
                                         digest.hexdigest())
            reference = (fluency_reference(lake, language_key, key, context.log.info)
                         if judge.source == "automatic" else None)
            judgments = judge_samples(probed, language, judge, journal, context.log.info,
                                      reference)
            if judgments.run is not None:
                judgments.run.stage = "judge_probes"
            check_judgments(judgments, warehouse, context.run.run_id, language_key, journal,
                            label)
            stats = probe_statistics(probed, judgments.scores, config.resamples, config.seed)
            partition = {"language": language_key, "tokenizer": key, "preset": preset,
                         "judge": judge.judge_name}
            frame = stats.with_columns(
                **{k: pl.lit(v) for k, v in partition.items()}, corpus=pl.lit(corpus),
                rubric_hash=pl.lit(rubric_hash, dtype=pl.String),
                story_source=pl.lit(config.story_source), run_id=pl.lit(context.run.run_id),
                computed_at=pl.lit(datetime.now(UTC)))
            out = lake.probe_scores_file(language_key, key, preset)
            scored = probed.join(judgments.scores.drop("sample_index"), on="prompt_id",
                                 how="left")
            with atomic_path(out) as tmp:
                scored.with_columns(judge=pl.lit(judge.judge_name)).write_parquet(tmp)
            warehouse.replace_rows("judge_probes", partition, frame)
            return dg.MaterializeResult(metadata=_metadata(stats, judge.judge_name,
                                                           chosen.height, out))

    return judge_probes
