"""`samples_<preset>` and `judge_scores_<preset>`: stories from a trained model, and ratings."""

import itertools
import json
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import polars as pl
from pydantic import Field

from tsr_assets.core.atomic_files import atomic_path, write_json_atomic
from tsr_assets.core.lake import DEFAULT_CORPUS, Lake, preset_asset
from tsr_assets.core.languages import Language, get_language
from tsr_assets.defs.dataclass_config import dataclass_kwargs
from tsr_assets.defs.generation_runs import record_generation_run, usage_metadata
from tsr_assets.defs.jobs import EVALUATION_GROUP
from tsr_assets.defs.partitions import Partitions, partition_keys
from tsr_assets.defs.pools import TRAINING_POOL
from tsr_assets.defs.resources import (
    JUDGE_MAX_TOKENS,
    DataLakeResource,
    JudgeResource,
    WarehouseResource,
)
from tsr_assets.evaluation.fluency import FluencyReference, build_reference, load_reference
from tsr_assets.evaluation.judging import Judgments, automatic_judgments, llm_judgments
from tsr_assets.evaluation.openers import OpenersError, load_openers
from tsr_assets.evaluation.rubric import RubricError
from tsr_assets.evaluation.sampling import DEFAULT_SAMPLES_PER_OPENER, sample_openers
from tsr_assets.llm.generation_runs import BREAKER_OPEN
from tsr_assets.model.checkpoints import CheckpointError
from tsr_assets.model.run_summary import read_summary
from tsr_assets.model.sample import SamplingSettings, load_model, resolve_device
from tsr_assets.reports.markdown import markdown_table
from tsr_assets.stories.corpus import corpus_of
from tsr_assets.stories.lexicon import lexicon_for
from tsr_assets.tokenizers.registry import load_tokenizer
from tsr_assets.tokenizers.token_bins import (
    corpus_fields,
    iter_split_texts,
    read_dropped,
    read_meta,
)

SAMPLING = SamplingSettings()


class SamplesConfig(dg.Config):
    """How many stories per opener and how tokens are drawn."""

    samples_per_opener: int = Field(default=DEFAULT_SAMPLES_PER_OPENER, ge=1,
                                    description="Stories per opener.")
    temperature: float = Field(default=SAMPLING.temperature, ge=0,
                               description="Sampling temperature (0 = greedy).")
    top_k: int | None = Field(default=SAMPLING.top_k, ge=1,
                              description="Keep the k most likely tokens; empty = off.")
    top_p: float | None = Field(default=SAMPLING.top_p, gt=0, le=1,
                                description="Nucleus sampling; empty = off.")
    repetition_penalty: float | None = Field(default=SAMPLING.repetition_penalty, gt=0,
                                             description="CTRL-style penalty; empty = off.")
    max_new_tokens: int = Field(
        default=SAMPLING.max_new_tokens, ge=1,
        description="Most new tokens (past the model's context with a sliding window).")
    sliding_window: bool = Field(
        default=SAMPLING.sliding_window,
        description="Past the context, go on from the last block_size tokens (else stop).")
    batch_rows: int = Field(default=64, ge=1, description="Rows (opener x sample) per batch.")
    seed: int = Field(default=0, ge=0, description="Sampling seed.")
    openers_path: str | None = Field(
        default=None, description="A file with one opener per line instead of the packaged ones.")
    max_openers: int | None = Field(default=None, ge=1,
                                    description="Use only the first N openers (empty: all).")
    checkpoint: str = Field(default="best", description="best or last checkpoint.")
    device: str = Field(default="auto", description="auto, cpu, cuda or cuda:N.")

    def sampling(self) -> SamplingSettings:
        """The sampler's settings."""
        return SamplingSettings(**dataclass_kwargs(self, SamplingSettings))


def _samples_metadata(frame: pl.DataFrame, cut: int, seconds: float, openers: int, step: int,
                      checkpoint: Path, out: Path) -> dict:
    tokens = int(frame["tokens"].sum())
    preview = frame.head(6).select("prompt_id", "sample_index", "tokens", "story").rows()
    return {
        "samples": dg.MetadataValue.int(frame.height),
        "openers": dg.MetadataValue.int(openers),
        "openers_cut_to_fit": dg.MetadataValue.int(cut),
        "new_tokens": dg.MetadataValue.int(tokens),
        "tokens_per_s": dg.MetadataValue.float(round(tokens / seconds, 1)),
        "ended_at_eos_share": dg.MetadataValue.float(
            round(float(frame["ended_at_eos"].mean()), 4)),
        "mean_tokens": dg.MetadataValue.float(round(tokens / frame.height, 1)),
        "samples_slid": dg.MetadataValue.int(int(frame["slid"].sum())),
        "checkpoint": dg.MetadataValue.path(str(checkpoint)),
        "checkpoint_step": dg.MetadataValue.int(step),
        "path": dg.MetadataValue.path(str(out)),
        "preview": dg.MetadataValue.md(
            markdown_table(preview, ["prompt_id", "sample", "tokens", "story"], max_chars=240)),
    }


def _replace_samples(lake: Lake, warehouse: WarehouseResource, model: tuple[str, str, str],
                     frame: pl.DataFrame, out: Path) -> None:
    """Store new samples and drop the judge scores of the old ones, both or neither: the
    scores file goes first (a kill after it leaves no scores, never stale ones), then the
    samples file, then one transaction replaces the `samples` rows and deletes every
    `judge_scores` and `judge_probes` row of the model trained on the same corpus (all
    judges)."""
    language, tokenizer, preset = model
    lake.judge_scores_file(language, tokenizer, preset).unlink(missing_ok=True)
    lake.probe_scores_file(language, tokenizer, preset).unlink(missing_ok=True)
    with atomic_path(out) as tmp:
        frame.write_parquet(tmp)
    partition = {"language": language, "tokenizer": tokenizer, "preset": preset}
    # Scores of this model trained on another corpus stay: that model was kept aside.
    scored = {**partition, "corpus": frame["corpus"][0] if "corpus" in frame.columns
              else DEFAULT_CORPUS}
    warehouse.replace_rows("samples", partition, frame,
                           also_delete={"judge_scores": scored, "judge_probes": scored})


def build_samples_asset(partitions: Partitions, preset: str,
                        automation_condition: dg.AutomationCondition | None = None,
                        ) -> dg.AssetsDefinition:
    """`samples_<preset>` (language x tokenizer)."""

    @dg.asset(
        code_version="1",
        name=preset_asset("samples", preset),
        partitions_def=partitions.language_tokenizer,
        deps=[preset_asset("checkpoint", preset), "tokenizer"],
        automation_condition=automation_condition,
        group_name=EVALUATION_GROUP,
        kinds={"pytorch", "duckdb"},
        pool=TRAINING_POOL,
        description=(
            f"Stories the `{preset}` model writes from the evaluation openers: k per opener "
            "(default 3; temperature 0.8, top-k 15, up to 350 new tokens), batched with a "
            "key/value cache, stopping at eos. Stored as `samples.parquet` under "
            f"`samples/<language>/<tokenizer>/{preset}/` and in DuckDB `samples`."
        ),
    )
    def samples(
        context: dg.AssetExecutionContext,
        config: SamplesConfig,
        data_lake: DataLakeResource,
        warehouse: WarehouseResource,
    ) -> dg.MaterializeResult:
        with data_lake.writing_partition_of(context):
            language_key, key = partition_keys(context)
            lake = data_lake.lake
            path = lake.checkpoint(language_key, key, preset).checkpoint(config.checkpoint)
            try:
                tok = load_tokenizer(lake.tokenizer_dir(language_key, key))
                model, state = load_model(path, resolve_device(config.device))
                openers = load_openers(get_language(language_key), config.openers_path)
            except (CheckpointError, OpenersError, FileNotFoundError, ValueError) as exc:
                raise dg.Failure(f"{preset_asset('samples', preset)} {language_key}|{key}: {exc}"
                                 ) from exc
            label = f"{preset_asset('samples', preset)} {language_key}|{key}"
            if not state["step"] and not state.get("imported"):  # imported models come trained
                raise dg.Failure(f"{label}: {path} made no optimizer step; train "
                                 f"{preset_asset('checkpoint', preset)} first",
                                 allow_retries=False)
            trained_with = state["bins_meta"]["tokenizer"]["version"]
            if trained_with != tok.version:
                raise dg.Failure(
                    f"{path} was trained with tokenizer {trained_with}, the stored one is "
                    f"{tok.version}: retrain {preset_asset('checkpoint', preset)}")
            openers = openers[: config.max_openers] if config.max_openers else openers
            if not openers:
                raise dg.Failure(f"{label}: no evaluation openers; the stored samples are "
                                 "kept", allow_retries=False)
            result = sample_openers(model, tok, openers, config.sampling(),
                                    config.samples_per_opener, config.batch_rows, config.seed)
            if result.frame.is_empty():
                raise dg.Failure(f"{label}: no samples were written; the stored samples are "
                                 "kept", allow_retries=False)
            if result.openers_cut_to_fit:
                context.log.warning(f"{result.openers_cut_to_fit} openers are longer than half the "
                                    "context and were cut to their last tokens")
            corpus = corpus_fields(state["bins_meta"])["corpus"]
            frame = result.frame.with_columns(
                language=pl.lit(language_key), tokenizer=pl.lit(key), preset=pl.lit(preset),
                corpus=pl.lit(corpus),
                checkpoint_step=pl.lit(state["step"], dtype=pl.Int64),
                run_id=pl.lit(context.run.run_id), created_at=pl.lit(datetime.now(UTC)))
            out = lake.samples_file(language_key, key, preset)
            _replace_samples(lake, warehouse, (language_key, key, preset), frame, out)
            return dg.MaterializeResult(metadata=_samples_metadata(
                frame, result.openers_cut_to_fit, result.seconds, len(openers), state["step"],
                path, out))

    return samples


def _means_table(warehouse: WarehouseResource, partition: dict[str, str],
                 metrics: list[str]) -> str:
    """The judge's means with n and 95% intervals (from the `judge_summary` view)."""
    summary = warehouse.query(
        "SELECT metric, n, mean, ci95_low, ci95_high FROM judge_summary WHERE language = ? AND "
        "tokenizer = ? AND preset = ? AND judge = ?",
        [partition[k] for k in ("language", "tokenizer", "preset", "judge")])
    by_metric = {r["metric"]: r for r in summary.iter_rows(named=True)}
    rows = [[m, by_metric[m]["n"], f"{by_metric[m]['mean']:.3f}",
             f"[{by_metric[m]['ci95_low']:.3f}, {by_metric[m]['ci95_high']:.3f}]"
             if by_metric[m]["ci95_low"] is not None else "[nan, nan]"]
            for m in metrics if m in by_metric]
    return markdown_table(rows, ["metric", "n", "mean", "95% CI"])


#: Training stories the automatic judge's fluency reference is fit on (the first ones of the
#: train split; a character 5-gram model of them takes a few seconds).
MAX_REFERENCE_STORIES = 5_000


def fluency_reference(lake: Lake, language: str, tokenizer: str, log) -> FluencyReference:
    """The fluency reference of the corpus the partition's bins were made from: loaded when
    the stored one was fit on the same shards, else fit on the train split and stored."""
    bins = lake.bins_dir(language, tokenizer)
    meta = read_meta(bins)
    corpus = corpus_of(lake, language, corpus_fields(meta)["corpus"])
    dropped = read_dropped(bins)
    key = {"shards": [p.name for p in corpus.shards], "dropped": len(dropped),
           "val_share": meta["val_share"], "stories": MAX_REFERENCE_STORIES}
    path = lake.fluency_reference_file(language, corpus.name)
    key_file = path.with_suffix(".key.json")
    if path.is_file() and key_file.is_file() and json.loads(key_file.read_text()) == key:
        return load_reference(path)
    texts = itertools.islice(iter_split_texts(corpus.shards, "train", meta["val_share"],
                                              skip_ids=dropped), MAX_REFERENCE_STORIES)
    reference = build_reference(texts)
    reference.save(path)
    write_json_atomic(key_file, key)
    log(f"fluency reference of the {corpus.name} corpus: {reference.stories:,} stories, "
        f"{reference.chars:,} characters -> {path}")
    return reference


def judge_samples(samples: pl.DataFrame, language: Language, judge: JudgeResource,
                  journal: Path, log, reference: FluencyReference | None = None) -> Judgments:
    """Rate `samples` (prompt_id, sample_index, opener, continuation, story, ended_at_eos)
    with the `judge` resource: the automatic metrics, or the LLM judge (journaled)."""
    if judge.source == "automatic":
        return automatic_judgments(samples, language, reference, lexicon_for(language.key))
    return llm_judgments(samples, language, judge.make_source(JUDGE_MAX_TOKENS),
                         judge.runner_settings(), journal, judge.repeats, log=log,
                         rubric=judge.rubric())


def check_judgments(judgments: Judgments, warehouse: WarehouseResource, run_id: str,
                    language: str, journal: Path, label: str) -> None:
    """Record an LLM judge's run, and fail when its breaker opened or nothing was judged."""
    if judgments.run is not None:
        record_generation_run(warehouse, judgments.run, run_id, language)
        if judgments.run.outcome == BREAKER_OPEN:
            raise dg.Failure(f"{label}: {judgments.run.error}\nJudgments so far are kept in "
                             f"{journal}; a rerun asks only for the missing ones.",
                             allow_retries=False)
    if judgments.scores.is_empty():
        first = dict(list(judgments.failures.items())[:5])
        raise dg.Failure(f"{label}: no story could be judged; failures: {first}")


def _judge_metadata(judgments: Judgments, warehouse: WarehouseResource,
                    partition: dict[str, str], rubric_hash: str | None, out: Path,
                    batch_dir: Path | None = None) -> dict:
    means = _means_table(warehouse, partition,
                         judgments.scores["metric"].unique(maintain_order=True).to_list())
    return {
        "judge": partition["judge"],
        "rubric_hash": rubric_hash or "none (automatic metrics)",
        "judged_stories": dg.MetadataValue.int(judgments.judged_samples),
        "failed_stories": dg.MetadataValue.int(len(judgments.failures)),
        "failures_by_reason": dg.MetadataValue.json(judgments.failures_by_reason()),
        **(usage_metadata(judgments.run, "judgment", "judgments", batch_dir)
           if judgments.run else {}),
        "means": dg.MetadataValue.md(f"judge: **{partition['judge']}**\n\n{means}"),
        "path": dg.MetadataValue.path(str(out)),
    }


def build_judge_asset(partitions: Partitions, preset: str,
                      automation_condition: dg.AutomationCondition | None = None,
                      ) -> dg.AssetsDefinition:
    """`judge_scores_<preset>` (language x tokenizer)."""

    @dg.asset(
        # code version 2: batch mode and the request cache for the LLM judge.
        code_version="2",
        name=preset_asset("judge_scores", preset),
        partitions_def=partitions.language_tokenizer,
        deps=[preset_asset("samples", preset)],
        group_name=EVALUATION_GROUP,
        kinds={"duckdb"},
        automation_condition=automation_condition,
        description=(
            f"Ratings of `samples_{preset}`. Resource `judge`: the automatic judge (offline "
            "default: continuity, completeness, script purity, distinct-2, repetition rate, "
            "length) or an LLM judge (1-10 for context awareness, completeness, grammar, "
            "fluency, creativity, overall). Long-form rows in DuckDB `judge_scores`; "
            "re-materializing replaces this partition's rows for the same judge."
        ),
    )
    def judge_scores(
        context: dg.AssetExecutionContext,
        data_lake: DataLakeResource,
        warehouse: WarehouseResource,
        judge: JudgeResource,
    ) -> dg.MaterializeResult:
        with data_lake.writing_partition_of(context):
            language_key, key = partition_keys(context)
            language, lake = get_language(language_key), data_lake.lake
            samples_path = lake.samples_file(language_key, key, preset)
            if not samples_path.is_file():
                raise dg.Failure(f"{samples_path} not found: materialize "
                                 f"{preset_asset('samples', preset)} for {language_key}|{key} "
                                 "first")
            samples = pl.read_parquet(samples_path)
            try:
                rubric_hash = None if judge.source == "automatic" else judge.rubric().text_hash
            except (RubricError, FileNotFoundError) as exc:
                raise dg.Failure(f"judge rubric: {exc}", allow_retries=False) from exc
            summary_file = lake.checkpoint(language_key, key, preset).summary
            parameters = (read_summary(summary_file)["parameters"] if summary_file.is_file()
                          else None)
            journal = lake.judge_journal(language_key, key, preset, judge.judge_name,
                                         samples["run_id"][0])
            reference = (fluency_reference(lake, language_key, key, context.log.info)
                         if judge.source == "automatic" else None)
            judgments = judge_samples(samples, language, judge, journal, context.log.info,
                                      reference)
            check_judgments(judgments, warehouse, context.run.run_id, language_key, journal,
                             f"{preset_asset('judge_scores', preset)} {language_key}|{key}")
            # Scores of models trained on another corpus stay beside these (compared in the
            # report); samples written before the corpus choice existed are `generated`.
            corpus = (samples["corpus"][0] if "corpus" in samples.columns
                      else corpus_fields({})["corpus"])
            partition = {"language": language_key, "tokenizer": key, "preset": preset,
                         "judge": judge.judge_name, "corpus": corpus}
            frame = judgments.scores.with_columns(
                **{k: pl.lit(v) for k, v in partition.items()},
                parameters=pl.lit(parameters, dtype=pl.Int64), run_id=pl.lit(context.run.run_id),
                rubric_hash=pl.lit(rubric_hash, dtype=pl.String),
                created_at=pl.lit(datetime.now(UTC)))
            out = lake.judge_scores_file(language_key, key, preset)
            with atomic_path(out) as tmp:
                frame.write_parquet(tmp)
            warehouse.replace_rows("judge_scores", partition, frame)
            return dg.MaterializeResult(metadata=_judge_metadata(
                judgments, warehouse, partition, rubric_hash, out, journal.with_suffix("")))

    return judge_scores
