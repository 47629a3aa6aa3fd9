"""`samples_<preset>` and `judge_scores_<preset>`: stories from a trained model, and ratings."""

import json
import math
import time
from datetime import UTC, datetime

import dagster as dg
import polars as pl
import torch
from pydantic import Field

from tsr_assets.assets.metadata_formatting import markdown_table
from tsr_assets.assets.tokenizers import partition_keys
from tsr_assets.atomic_files import atomic_path
from tsr_assets.languages import get_language
from tsr_assets.llm.llm_judging import StoryToJudge, judge_stories
from tsr_assets.model.checkpoints import CheckpointError
from tsr_assets.model.sample import SamplingSettings, load_model, sample_many
from tsr_assets.partitions import Partitions
from tsr_assets.resources.data_lake import DataLakeResource
from tsr_assets.resources.judge import JudgeResource
from tsr_assets.resources.warehouse import WarehouseResource
from tsr_assets.text.automatic_judge import automatic_scores
from tsr_assets.text.eval_openers import OpenersError, load_openers
from tsr_assets.tokenizers.stored_tokenizers import load_tokenizer

SAMPLES_FILE = "samples.parquet"
SCORES_FILE = "judge_scores.parquet"


class SamplesConfig(dg.Config):
    """How many stories per opener and how tokens are drawn."""

    samples_per_opener: int = Field(default=3, description="Stories per opener.")
    temperature: float = Field(default=0.8, description="Sampling temperature (0 = greedy).")
    top_k: int | None = Field(default=15, description="Keep the k most likely tokens.")
    top_p: float | None = Field(default=None, description="Nucleus sampling; empty = off.")
    repetition_penalty: float | None = Field(default=None,
                                             description="CTRL-style penalty; empty = off.")
    max_new_tokens: int = Field(
        default=350, description="Most new tokens (also limited by the model's context).")
    batch_rows: int = Field(default=64, description="Rows (opener x sample) per batch.")
    seed: int = Field(default=0, description="Sampling seed.")
    openers_path: str | None = Field(
        default=None, description="A file with one opener per line instead of the packaged ones.")
    max_openers: int | None = Field(default=None, description="Use only the first N openers.")
    checkpoint: str = Field(default="best", description="best or last checkpoint.")
    device: str = Field(default="auto", description="auto, cpu, cuda or cuda:N.")


def _device(setting: str) -> torch.device:
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(setting)


def _ci95(values: list[float]) -> tuple[float, float]:
    if len(values) < 2:
        return math.nan, math.nan
    mean = sum(values) / len(values)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    half = 1.96 * sd / math.sqrt(len(values))
    return mean - half, mean + half


def build_samples_asset(partitions: Partitions, preset: str) -> dg.AssetsDefinition:
    """`samples_<preset>` (language x tokenizer)."""

    @dg.asset(
        name=f"samples_{preset}",
        partitions_def=partitions.language_tokenizer,
        deps=[f"checkpoint_{preset}", "tokenizer"],
        group_name="evaluation",
        kinds={"pytorch", "duckdb"},
        pool="training",
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
        language_key, key = partition_keys(context)
        language = get_language(language_key)
        ckpt_dir = data_lake.folder("checkpoint", language_key, key, preset)
        path = ckpt_dir / f"{config.checkpoint}.pt"
        if config.checkpoint == "best" and not path.is_file():
            path = ckpt_dir / "last.pt"
        try:
            tok = load_tokenizer(data_lake.folder("tokenizer", language_key, key))
            model, state = load_model(path, _device(config.device))
            openers = load_openers(language, config.openers_path)
        except (CheckpointError, OpenersError, FileNotFoundError, ValueError) as exc:
            raise dg.Failure(f"samples_{preset} {language_key}|{key}: {exc}") from exc
        if state["bins_meta"]["tokenizer"]["version"] != tok.version:
            raise dg.Failure(f"{path} was trained with tokenizer "
                             f"{state['bins_meta']['tokenizer']['version']}, the stored one is "
                             f"{tok.version}: retrain checkpoint_{preset}")
        openers = openers[: config.max_openers] if config.max_openers else openers
        # An opener longer than half the context keeps bos and its last tokens, so every
        # sample has room to grow (the stored story still shows the whole opener).
        keep = model.config.block_size // 2
        prompts = [[tok.bos_id, *tok.encode(o.text)] for o in openers]
        cropped = sum(len(p) > keep for p in prompts)
        prompts = [p if len(p) <= keep else [p[0], *p[len(p) - keep + 1:]] for p in prompts]
        if cropped:
            context.log.warning(f"{cropped} openers are longer than {keep} tokens and were "
                                "cut to their last tokens")
        settings = SamplingSettings(config.temperature, config.top_k, config.top_p,
                                    config.repetition_penalty, config.max_new_tokens)
        started = time.perf_counter()
        records = sample_many(model, prompts, tok.eos_id, settings, config.samples_per_opener,
                              config.batch_rows, config.seed)
        seconds = time.perf_counter() - started
        now = datetime.now(UTC)
        rows = []
        for record in records:
            opener = openers[record.prompt_index]
            full = tok.decode(tok.encode(opener.text) + record.ids)
            continuation = (full[len(opener.text):] if full.startswith(opener.text)
                            else tok.decode(record.ids))
            rows.append({
                "language": language_key, "tokenizer": key, "preset": preset,
                "prompt_id": opener.prompt_id, "opener_index": opener.index,
                "sample_index": record.sample_index, "opener": opener.text,
                "continuation": continuation, "story": opener.text + continuation,
                "tokens": len(record.ids), "ended_at_eos": record.ended_at_eos,
                "seconds": record.seconds, "checkpoint_step": state["step"],
                "run_id": context.run.run_id, "created_at": now,
            })
        frame = pl.DataFrame(rows)
        out = data_lake.folder("samples", language_key, key, preset) / SAMPLES_FILE
        with atomic_path(out) as tmp:
            frame.write_parquet(tmp)
        warehouse.replace_rows("samples", {"language": language_key, "tokenizer": key,
                                           "preset": preset}, frame)
        tokens = int(frame["tokens"].sum())
        preview = [[r["prompt_id"], r["sample_index"], r["tokens"], r["story"]]
                   for r in rows[:6]]
        return dg.MaterializeResult(metadata={
            "samples": dg.MetadataValue.int(len(rows)),
            "openers": dg.MetadataValue.int(len(openers)),
            "openers_cut_to_fit": dg.MetadataValue.int(cropped),
            "new_tokens": dg.MetadataValue.int(tokens),
            "tokens_per_s": dg.MetadataValue.float(round(tokens / seconds, 1)),
            "ended_at_eos_share": dg.MetadataValue.float(
                round(float(frame["ended_at_eos"].mean()), 4)),
            "mean_tokens": dg.MetadataValue.float(round(tokens / len(rows), 1)),
            "checkpoint": dg.MetadataValue.path(str(path)),
            "checkpoint_step": dg.MetadataValue.int(state["step"]),
            "path": dg.MetadataValue.path(str(out)),
            "preview": dg.MetadataValue.md(
                markdown_table(preview, ["prompt_id", "sample", "tokens", "story"],
                               max_chars=240)),
        })

    return samples


def build_judge_asset(partitions: Partitions, preset: str) -> dg.AssetsDefinition:
    """`judge_scores_<preset>` (language x tokenizer)."""

    @dg.asset(
        name=f"judge_scores_{preset}",
        partitions_def=partitions.language_tokenizer,
        deps=[f"samples_{preset}"],
        group_name="evaluation",
        kinds={"duckdb"},
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
        language_key, key = partition_keys(context)
        language = get_language(language_key)
        samples_path = data_lake.folder("samples", language_key, key, preset) / SAMPLES_FILE
        if not samples_path.is_file():
            raise dg.Failure(f"{samples_path} not found: materialize samples_{preset} for "
                             f"{language_key}|{key} first")
        samples = pl.read_parquet(samples_path)
        summary_path = data_lake.folder("checkpoint", language_key, key, preset) / "summary.json"
        parameters = (json.loads(summary_path.read_text())["parameters"]
                      if summary_path.is_file() else None)
        folder = data_lake.folder("judge_scores", language_key, key, preset)
        per_sample: dict[tuple[str, int], dict[str, float]] = {}
        failures: dict[str, str] = {}
        if judge.source == "automatic":
            for row in samples.iter_rows(named=True):
                per_sample[(row["prompt_id"], row["sample_index"])] = automatic_scores(
                    row["opener"], row["continuation"], row["ended_at_eos"], language)
        else:
            samples_run = samples["run_id"][0]
            stories = [StoryToJudge(f"{r['prompt_id']}#{r['sample_index']}", r["opener"],
                                    r["story"]) for r in samples.iter_rows(named=True)]
            # One journal per judge and samples run: new samples are judged afresh.
            name = f"{judge.judge_name.replace('/', '_')}-{samples_run}.jsonl"
            journal = folder / "journal" / name
            report = judge_stories(stories, language.display_name, judge.make_source(),
                                   judge.runner_settings(), journal, judge.repeats,
                                   log=context.log.info)
            for story_key, scores in report.scores.items():
                prompt_id, sample_index = story_key.rsplit("#", 1)
                per_sample[(prompt_id, int(sample_index))] = scores
            failures = report.failures
        now = datetime.now(UTC)
        rows = [{"language": language_key, "tokenizer": key, "preset": preset,
                 "parameters": parameters, "judge": judge.judge_name, "metric": metric,
                 "value": float(value), "prompt_id": prompt_id, "sample_index": sample_index,
                 "run_id": context.run.run_id, "created_at": now}
                for (prompt_id, sample_index), scores in per_sample.items()
                for metric, value in scores.items()]
        frame = pl.DataFrame(rows, schema_overrides={"parameters": pl.Int64})
        if frame.is_empty():
            raise dg.Failure(f"judge_scores_{preset} {language_key}|{key}: no story could be "
                             f"judged; failures: {dict(list(failures.items())[:5])}")
        with atomic_path(folder / SCORES_FILE) as tmp:
            frame.write_parquet(tmp)
        warehouse.replace_rows("judge_scores", {"language": language_key, "tokenizer": key,
                                                "preset": preset, "judge": judge.judge_name},
                               frame)
        table = []
        for metric, group in frame.group_by("metric", maintain_order=True):
            values = group["value"].to_list()
            low, high = _ci95(values)
            table.append([metric[0], len(values), f"{sum(values) / len(values):.3f}",
                          f"[{low:.3f}, {high:.3f}]"])
        return dg.MaterializeResult(metadata={
            "judge": judge.judge_name,
            "judged_stories": dg.MetadataValue.int(len(per_sample)),
            "failed_stories": dg.MetadataValue.int(len(failures)),
            "failures_by_reason": dg.MetadataValue.json(
                dict(pl.Series(list(failures.values()), dtype=pl.String).value_counts()
                     .iter_rows()) if failures else {}),
            "means": dg.MetadataValue.md(
                f"judge: **{judge.judge_name}**\n\n"
                + markdown_table(table, ["metric", "n", "mean", "95% CI"])),
            "path": dg.MetadataValue.path(str(folder / SCORES_FILE)),
        })

    return judge_scores
