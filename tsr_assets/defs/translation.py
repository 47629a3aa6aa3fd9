"""`translated_stories` (language partitions): stories of another language (English by default)
translated into the language by an LLM or a local seq2seq model, stored like `stories`, and its
checks; `translation_quality`: how good a translator is on the parallel evaluation openers,
before a corpus is built with it."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import dagster as dg
import polars as pl
from pydantic import Field, model_validator

from tsr_assets.core.lake import STORY_KIND_FOLDERS, Lake
from tsr_assets.core.languages import Language, get_language
from tsr_assets.defs.checks import lake_checks
from tsr_assets.defs.data_versions import story_store_version
from tsr_assets.defs.dataclass_config import dataclass_kwargs
from tsr_assets.defs.generation_runs import (
    fail_unless_succeeded,
    record_generation_run,
    usage_metadata,
)
from tsr_assets.defs.jobs import TRANSLATION_GROUP, TRANSLATION_QUALITY_GROUP
from tsr_assets.defs.load_scope import current_scope, stage_definitions
from tsr_assets.defs.partitions import Partitions
from tsr_assets.defs.resources import DataLakeResource, LLMResource, WarehouseResource
from tsr_assets.defs.stories import StoryLimitsConfig
from tsr_assets.evaluation.openers import OpenersError, load_openers
from tsr_assets.llm.generation_runs import GenerationRun
from tsr_assets.reports.markdown import markdown_table
from tsr_assets.stories.parsing import script_shares
from tsr_assets.stories.store import load_limits, read_table, save_limits, shard_files
from tsr_assets.stories.story_scan import (
    count_rows,
    duplicate_counts,
    iter_story_frames,
    open_failures,
    score_stories,
)
from tsr_assets.translation.semantic_metrics import (
    COMET_HUB_ID,
    LABSE_HUB_ID,
    MetricModelError,
    comet_scores,
    labse_similarities,
)
from tsr_assets.translation.seq2seq import (
    DEFAULT_SEQ2SEQ_MODEL,
    SOURCE_LANGUAGE,
    Seq2SeqSettings,
    Seq2SeqTranslator,
    TranslatorSetupError,
)
from tsr_assets.translation.source_stories import (
    TINYSTORIES_DATASET,
    iter_hf_stories,
    iter_local_stories,
    iter_store_stories,
)
from tsr_assets.translation.translating import translate_with_llm, translate_with_model
from tsr_assets.translation.translation_gates import (
    TranslationLimits,
    ratio_band_for,
    residue_letters,
)
from tsr_assets.translation.translation_quality import (
    QualityReport,
    score_translations,
    translate_with_chat,
)


class TranslationConfig(StoryLimitsConfig):
    """What to translate, with which translator, and what counts as a good translation."""

    translator: Literal["seq2seq", "llm"] = Field(
        default="seq2seq", description="`seq2seq`: a local AutoModelForSeq2SeqLM (`model`). "
        "`llm`: the `llm` resource's endpoint (OpenAI-compatible or g4f).")
    source_language: str = Field(
        default=SOURCE_LANGUAGE, description="The language translated from: `english`, or any "
        "registered language with a translation code (Hindi into Bengali, say).")
    source_path: str | None = Field(
        default=None, description="Source stories from a local parquet/JSON/JSONL/CSV file "
        "or folder.")
    source_hf_dataset: str | None = Field(
        default=None, description=f"Source stories from this Hugging Face dataset (e.g. "
        f"{TINYSTORIES_DATASET}). Neither this nor source_path: the source language's own "
        "`stories` partition.")
    source_split: str = Field(default="train", description="Split of the HF dataset.")
    source_text_column: str = Field(default="text", description="Column holding the story.")
    source_id_column: str | None = Field(
        default=None, description="Column with a stable id per story (else a hash of the text).")
    limit: int | None = Field(
        default=None, ge=1, description="Translate (at most) the first this many stories of the "
        "source; a rerun with the same limit continues where the last one stopped.")
    retry_failed: bool = Field(default=False, description="Send stories whose translation "
                               "failed or was rejected before again.")
    model: str = Field(default=DEFAULT_SEQ2SEQ_MODEL, description="seq2seq: a folder with a "
                       "saved model and tokenizer, or a Hub id (NLLB, M2M100, IndicTrans2).")
    batch_size: int = Field(default=Seq2SeqSettings.batch_size, ge=1, description="seq2seq: "
                            "sentences per batch (batches are sorted by length).")
    max_batch_tokens: int = Field(default=Seq2SeqSettings.max_batch_tokens, ge=1,
                                  description="seq2seq: most padded source tokens per batch.")
    max_source_tokens: int | None = Field(
        default=None, ge=1, description="seq2seq: longest input; longer sentences are split at "
        "clauses, then between words. Empty: the model's limit.")
    num_beams: int = Field(default=Seq2SeqSettings.num_beams, ge=1,
                           description="seq2seq: beams.")
    device: str = Field(default="auto", description="seq2seq: `auto` (GPU when present), "
                        "`cpu`, `cuda`, `cuda:1`...")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        default="auto", description="seq2seq: `auto` is bf16 (fp16) on GPU, fp32 on CPU.")
    code_style: Literal["auto", "nllb", "m2m100", "tagged"] = Field(
        default="auto", description="seq2seq: how the model takes language codes.")
    max_latin_share: float = Field(
        default=TranslationLimits.max_latin_share, ge=0, le=1,
        description="Gate: reject when more of the letters are in the source's script (Latin "
        "for English: source text left over); off when both languages share a script.")
    min_length_ratio: float | None = Field(
        default=None, gt=0, description="Gate: least translated/source characters (empty: the "
        "language's band).")
    max_length_ratio: float | None = Field(
        default=None, gt=0, description="Gate: most translated/source characters (empty: the "
        "language's band).")

    @model_validator(mode="after")
    def _ratios_in_order(self) -> "TranslationConfig":
        low, high = self.min_length_ratio, self.max_length_ratio
        if low is not None and high is not None and low > high:
            raise ValueError(f"min_length_ratio ({low}) must not exceed max_length_ratio "
                             f"({high})")
        return self

    def source(self) -> Language:
        """The source language (a clear error for an unknown one)."""
        return get_language(self.source_language)

    def translation_limits(self, language: Language) -> TranslationLimits:
        """The story limits plus the translation gates for this source and `language`."""
        source = self.source()
        low, high = ratio_band_for(language, source)
        band = (self.min_length_ratio if self.min_length_ratio is not None else low,
                self.max_length_ratio if self.max_length_ratio is not None else high)
        return TranslationLimits(story=self.limits(), max_latin_share=self.max_latin_share,
                                 length_ratio=band,
                                 source_letters=residue_letters(language, source))

    def seq2seq_settings(self) -> Seq2SeqSettings:
        """Settings of the local model."""
        return Seq2SeqSettings(**dataclass_kwargs(self, Seq2SeqSettings))


def _source_stories(config: TranslationConfig, lake: Lake):
    if config.source_path:
        return iter_local_stories(config.source_path, config.source_text_column,
                                  config.source_id_column)
    if config.source_hf_dataset:
        return iter_hf_stories(config.source_hf_dataset, config.source_text_column,
                               config.source_split, config.source_id_column)
    return iter_store_stories(lake.stories_dir(config.source_language), config.source_language)


def _translate(config: TranslationConfig, lake: Lake, language: Language, llm: LLMResource,
               log) -> GenerationRun:
    folder = lake.translated_stories_dir(language.key)
    stories = _source_stories(config, lake)
    limits = config.translation_limits(language)
    if config.translator == "llm":
        if llm.source == "offline":
            raise ValueError("translator `llm` needs an LLM endpoint, but the `llm` resource is "
                             "offline; set its source to openai (base_url, model) or g4f, or use "
                             "translator `seq2seq` with a model")
        return translate_with_llm(language, folder, stories, llm.make_source,
                                  llm.runner_settings(), limits, config.limit,
                                  config.retry_failed, log=log, source_language=config.source())
    translator = Seq2SeqTranslator(config.seq2seq_settings(), language, config.source())
    log(f"{config.source_language} -> {language.key}: translating with {config.model} on "
        f"{translator.device} ({translator.code_style} language codes)")
    return translate_with_model(language, folder, stories, translator, limits, config.limit,
                                config.retry_failed, log=log)


def _metadata(folder, run: GenerationRun) -> dict:
    shards = shard_files(folder)
    ratio = _length_ratios(shards)
    head = next(iter_story_frames(shards, ("prompt_id", "story"), 3), None)
    preview = [[r["prompt_id"], r["story"]]
               for r in (head.head(3).to_dicts() if head is not None else [])]
    return {
        "translated_total": dg.MetadataValue.int(count_rows(shards)),
        "translated_this_run": dg.MetadataValue.int(run.generated),
        "requested_this_run": dg.MetadataValue.int(run.requested),
        "rejections_by_reason": dg.MetadataValue.json(run.rejections),
        "failures_by_reason": dg.MetadataValue.json(run.failures),
        "stories_per_minute": dg.MetadataValue.float(round(run.stories_per_minute, 1)),
        "median_length_ratio": dg.MetadataValue.float(round(float(ratio.median() or 0.0), 3)),
        **usage_metadata(run, "story", "stories", folder),
        "translator": dg.MetadataValue.text(f"{run.provider} ({run.model})"),
        "path": dg.MetadataValue.path(str(folder / STORY_KIND_FOLDERS["story"])),
        "preview": dg.MetadataValue.md(markdown_table(preview, ["source_id", "story"],
                                                      max_chars=160)),
    }


def build_translation_defs(partitions: Partitions) -> list:
    """`translated_stories` and its checks, partitioned by language."""

    @dg.asset(
        # code version 2: any registered language as the source, records source_language.
        code_version="2",
        partitions_def=partitions.language,
        group_name=TRANSLATION_GROUP,
        kinds={"python", "parquet"},
    )
    def translated_stories(
        context: dg.AssetExecutionContext,
        config: TranslationConfig,
        data_lake: DataLakeResource,
        llm: LLMResource,
        warehouse: WarehouseResource,
    ) -> dg.MaterializeResult:
        """Children's stories translated into this language from English (default) or another
        registered language (`source_language`: the original study's Hindi→Bengali,
        Hindi→Marathi and Bengali→Hindi corpora): the second data source, as the original
        framework translated TinyStories into Hindi and Bengali.

        Source: a local file or folder, a Hugging Face dataset (`roneneldan/TinyStories`), or
        the source language's own `stories` partition (default). Translator `seq2seq` (default): a
        local NLLB / M2M100 / IndicTrans2 model, stories split into sentences and translated
        in length-sorted batches, then rejoined; translator `llm`: the `llm` resource's
        endpoint. Gates: Latin residue, script share, length ratio to the source, repetition,
        known words; rejections are stored with their reason. Stored like `stories` (journal,
        shards, resumable); a partition is never translated from its own language.
        """
        language = get_language(context.partition_key)
        _check_pair(config, language)
        with data_lake.writing_partition_of(context):
            lake = data_lake.lake
            folder = lake.translated_stories_dir(language.key)
            folder.mkdir(parents=True, exist_ok=True)
            save_limits(lake.translated_limits_file(language.key), config.limits())
            try:
                run = _translate(config, lake, language, llm, context.log.info)
            except (ValueError, FileNotFoundError, RuntimeError, TranslatorSetupError) as exc:
                raise dg.Failure(description=f"translated_stories for {language.key}: {exc}",
                                 allow_retries=False) from exc
            record_generation_run(warehouse, run, context.run.run_id, language.key)
            fail_unless_succeeded(run, folder, "translated_stories", language.key,
                                  "translations", "the stories that have none")
            return dg.MaterializeResult(metadata=_metadata(folder, run),
                                        data_version=story_store_version(folder))

    return [translated_stories, build_translation_quality_asset(partitions),
            *lake_checks(translated_stories, partitions.language, TRANSLATED_CHECKS)]


def _translate_openers(config: TranslationConfig, language: Language, sources: list[str],
                       llm: LLMResource, log) -> tuple[list[str | None], str, str]:
    """The translator's output for each source opener, and its provider and model names."""
    if config.translator == "llm":
        if llm.source == "offline":
            raise ValueError("translator `llm` needs an LLM endpoint, but the `llm` resource is "
                             "offline; set its source to openai (base_url, model) or g4f")
        outputs = translate_with_chat(sources, language, config.source(), llm.make_source,
                                      llm.runner_settings(), log)
        return outputs, "llm", llm.model
    translator = Seq2SeqTranslator(config.seq2seq_settings(), language, config.source())
    return list(translator.translate(sources)), "seq2seq", config.model


class TranslationQualityConfig(TranslationConfig):
    """The translator, as `translated_stories` takes it, and the models of the published
    study's metrics beside chrF++ (each skipped when its field is empty)."""

    labse_model: str = Field(default="", description="LaBSE similarity: a sentence-"
                             f"transformers folder or Hub id (`{LABSE_HUB_ID}`); empty: "
                             "skipped.")
    comet_model: str = Field(default="", description="COMET-DA: a checkpoint folder (with "
                             f"checkpoints/model.ckpt) or Hub id (`{COMET_HUB_ID}`); empty: "
                             "skipped.")
    comet_python: str = Field(default="", description="Python of the environment with "
                              "unbabel-comet; empty: $TSR_COMET_PYTHON, else .venv-comet "
                              "(`make comet`).")
    metrics_batch_size: int = Field(default=32, ge=1, description="Sentences per batch of "
                                    "LaBSE and COMET.")
    comet_timeout_s: float = Field(default=1800.0, gt=0, description="Seconds COMET may "
                                   "take.")


def _model_metrics(config: TranslationQualityConfig, sources: list[str],
                   outputs: list[str | None], references: list[str], log) -> dict:
    """LaBSE similarity (mean cosine of source and translation) and COMET-DA (system score)
    when their models are configured; a Failure naming the field when a model is missing."""
    found: dict = {}
    texts = [t or "" for t in outputs]
    try:
        if config.labse_model:
            cosines = labse_similarities(sources, texts, config.labse_model,
                                         batch_size=config.metrics_batch_size)
            found["labse_similarity"] = sum(cosines) / len(cosines)
            log(f"LaBSE similarity {found['labse_similarity']:.4f} ({config.labse_model})")
        if config.comet_model:
            comet = comet_scores(sources, texts, references, config.comet_model,
                                 config.comet_python, config.metrics_batch_size,
                                 config.comet_timeout_s)
            found["comet_da"] = comet.system_score
            log(f"COMET {comet.system_score:.4f} ({config.comet_model})")
    except MetricModelError as exc:
        raise dg.Failure(description=f"translation_quality: {exc}", allow_retries=False
                         ) from None
    return found


def _quality_metadata(report: QualityReport, metrics: dict, config: TranslationQualityConfig,
                      pair: str, translator: str) -> dict:
    return {
        "chrf_pp": dg.MetadataValue.float(round(report.chrf_pp, 2)),
        **{name: dg.MetadataValue.float(round(value, 4)) for name, value in metrics.items()},
        "labse_model": config.labse_model or "skipped (labse_model empty)",
        "comet_model": config.comet_model or "skipped (comet_model empty)",
        "gate_pass_share": dg.MetadataValue.float(round(report.gate_pass_share, 4)),
        "openers": dg.MetadataValue.int(report.openers),
        "pair": dg.MetadataValue.text(pair),
        "translator": dg.MetadataValue.text(translator),
        "rejections_by_reason": dg.MetadataValue.json(report.rejections),
        "examples": dg.MetadataValue.md(markdown_table(
            [list(e) for e in report.examples], ["source", "translation", "reference"],
            max_chars=120)),
    }


def build_translation_quality_asset(partitions: Partitions) -> dg.AssetsDefinition:
    """`translation_quality`: a translator scored on the parallel evaluation openers."""

    @dg.asset(
        # code version 2: LaBSE similarity and COMET-DA beside chrF++.
        code_version="2",
        partitions_def=partitions.language,
        group_name=TRANSLATION_QUALITY_GROUP,
        kinds={"python", "duckdb"},
    )
    def translation_quality(
        context: dg.AssetExecutionContext,
        config: TranslationQualityConfig,
        llm: LLMResource,
        warehouse: WarehouseResource,
    ) -> dg.MaterializeResult:
        """How good the configured translator (`translator`, `model`, `source_language`) is
        for this language, before a corpus is built with it: it translates the source
        language's evaluation openers, and the output is scored against this language's
        openers (line k of every packaged list means the same) with chrF++ (sacrebleu, 0-100),
        beside the share of outputs that pass the translation gates, and, when their models
        are given, the published study's metrics: LaBSE similarity (`labse_model`: mean cosine
        of source and translation embeddings) and COMET-DA (`comet_model`, run in the COMET
        environment). One row per language x source x translator x model in DuckDB
        `translation_quality`."""
        language = get_language(context.partition_key)
        _check_pair(config, language)
        source = config.source()
        try:
            sources = [o.text for o in load_openers(source)]
            references = [o.text for o in load_openers(language)]
            if len(sources) != len(references):
                raise ValueError(f"{source.key} has {len(sources)} evaluation openers and "
                                 f"{language.key} {len(references)}; the lists must be parallel")
            outputs, translator, model = _translate_openers(config, language, sources, llm,
                                                            context.log.info)
        except (ValueError, OpenersError, TranslatorSetupError) as exc:
            raise dg.Failure(description=f"translation_quality for {language.key}: {exc}",
                             allow_retries=False) from exc
        report = score_translations(sources, outputs, references, language,
                                    config.translation_limits(language))
        if report.translated == 0:
            raise dg.Failure(description=f"translation_quality for {language.key}: the "
                             f"translator returned nothing for {report.openers} openers",
                             allow_retries=False)
        metrics = _model_metrics(config, sources, outputs, references, context.log.info)
        key = {"language": language.key, "source_language": source.key,
               "translator": translator, "model": model}
        warehouse.replace_rows("translation_quality", key, pl.DataFrame([{
            **key, **report.row(), "labse_similarity": metrics.get("labse_similarity"),
            "labse_model": config.labse_model or None, "comet_da": metrics.get("comet_da"),
            "comet_model": config.comet_model or None, "run_id": context.run.run_id,
            "computed_at": datetime.now(UTC)}], schema_overrides={
                "labse_similarity": pl.Float64, "comet_da": pl.Float64,
                "labse_model": pl.String, "comet_model": pl.String}))
        return dg.MaterializeResult(metadata=_quality_metadata(
            report, metrics, config, f"{source.key} -> {language.key}",
            f"{translator} ({model})"))

    return translation_quality


def _check_pair(config: TranslationConfig, language: Language) -> None:
    """The partition must be a target other than the source, and both must have codes."""
    try:
        source = config.source()
    except (KeyError, ValueError) as exc:
        raise dg.Failure(description=f"source_language: {exc}", allow_retries=False) from None
    if language.key == source.key or not language.translation_code:
        raise dg.Failure(description=f"translated_stories: {language.key!r} is not a "
                         f"translation target from {source.key!r}; materialize another "
                         "partition (Hindi, Marathi, Bengali) or change source_language",
                         allow_retries=False)
    if not source.translation_code:
        raise dg.Failure(description=f"source_language {source.key!r} has no translation code "
                         "in the language registry", allow_retries=False)


def _translated_shards(lake: Lake, language: str, kind: str = "story") -> list[Path]:
    return shard_files(lake.translated_stories_dir(language), kind)


def translated_stories_no_duplicates(lake: Lake, language: str) -> dg.AssetCheckResult:
    """No source story translated twice and no translation text twice."""
    _, dup_ids, dup_texts = duplicate_counts(_translated_shards(lake, language))
    return dg.AssetCheckResult(passed=dup_ids == 0 and dup_texts == 0,
                               metadata={"duplicate_source_ids": dup_ids,
                                         "duplicate_texts": dup_texts})


def translated_stories_script_purity(lake: Lake, language_key: str) -> dg.AssetCheckResult:
    """Every translation reaches the minimum share of letters in the language's script."""
    if language_key == SOURCE_LANGUAGE:
        return dg.AssetCheckResult(passed=True, metadata={"note": "english is not a target"})
    language = get_language(language_key)
    minimum = load_limits(lake.translated_limits_file(language.key)).min_script_share
    shares = score_stories(_translated_shards(lake, language.key), script_shares,
                           (language.key,))
    low = int((shares < minimum).sum())
    return dg.AssetCheckResult(passed=low == 0, metadata={
        "translations": int(shares.size), "below_minimum": low, "minimum_share": minimum})


def _length_ratios(shards: list[Path]) -> pl.Series:
    parts = [frame.select((pl.col("story").str.len_chars() / pl.col("source_chars"))
                          .alias("ratio"))["ratio"].drop_nulls()
             for frame in iter_story_frames(shards, ("story", "source_chars"))]
    return pl.concat(parts) if parts else pl.Series("ratio", [], pl.Float64)


def translated_stories_length_ratio(lake: Lake, language_key: str) -> dg.AssetCheckResult:
    """Translated/source characters of the stored translations: quantiles, and how many lie
    outside the language's band (warns; a changed band or older data)."""
    ratio = _length_ratios(_translated_shards(lake, language_key))
    low, high = get_language(language_key).length_ratio_band
    outside = int(((ratio < low) | (ratio > high)).sum())
    return dg.AssetCheckResult(
        passed=outside == 0, severity=dg.AssetCheckSeverity.WARN,
        metadata={"translations": ratio.len(), "outside_band": outside,
                  "band": f"{low}-{high}",
                  **{f"p{int(q * 100)}": round(float(ratio.quantile(q) or 0.0), 3)
                     for q in (0.05, 0.5, 0.95)}})


def translated_stories_rejection_rate(lake: Lake, language: str) -> dg.AssetCheckResult:
    """Source stories whose translation was rejected or failed, as a share of all attempted,
    with the reasons (warns above 20%)."""
    folder = lake.translated_stories_dir(language)
    shards = _translated_shards(lake, language)
    still_open, attempted = open_failures(shards, _translated_shards(lake, language, "failure"))
    stored = pl.concat([f["prompt_id"] for f in iter_story_frames(shards, ("prompt_id",))]
                       or [pl.Series("prompt_id", [], pl.String)])
    failures = read_table(folder, "failure", ["prompt_id", "reason"])
    open_failures_ = failures.filter(~pl.col("prompt_id").is_in(stored.implode()))
    rate = still_open / attempted if attempted else 0.0
    reasons = open_failures_["reason"].value_counts().sort("count", descending=True)
    return dg.AssetCheckResult(
        passed=rate <= 0.20, severity=dg.AssetCheckSeverity.WARN,
        metadata={"attempted": attempted, "rejection_rate": round(rate, 4),
                  "reasons": dg.MetadataValue.json(dict(reasons.iter_rows()))})


TRANSLATED_CHECKS = (translated_stories_no_duplicates, translated_stories_script_purity,
                     translated_stories_length_ratio, translated_stories_rejection_rate)


@dg.definitions
def defs() -> dg.Definitions:
    """`translated_stories` with its checks and `translation_quality`, for the languages of this
    load (not automated: each needs a translator and a source of a person's choosing)."""
    return stage_definitions(build_translation_defs(current_scope().partitions()))
