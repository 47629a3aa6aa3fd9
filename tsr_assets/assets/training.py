"""`checkpoint_<preset>` assets: the trainer launched through Dagster Pipes, one per preset."""

import json
import sys
from datetime import UTC, datetime

import dagster as dg
import polars as pl
from pydantic import Field

from tsr_assets.assets.metadata_formatting import markdown_table, png_markdown
from tsr_assets.assets.tokenizers import partition_keys
from tsr_assets.model.presets import get_preset
from tsr_assets.model.train import read_metrics
from tsr_assets.partitions import Partitions
from tsr_assets.plots import loss_curves_png
from tsr_assets.resources.data_lake import DataLakeResource
from tsr_assets.resources.wandb_settings import WandbSettings
from tsr_assets.resources.warehouse import WarehouseResource


class TrainingConfig(dg.Config):
    """One training run. Empty fields take the preset's or the trainer's default."""

    max_steps: int = Field(default=2000, description="Stop after this many optimizer steps.")
    max_seconds: float | None = Field(default=None,
                                      description="Wall-clock budget; stops first if shorter.")
    batch_size: int | None = Field(default=None, description="Sequences per micro-batch.")
    grad_accum: int = Field(default=1, description="Micro-batches per optimizer step.")
    learning_rate: float | None = Field(default=None, description="Peak learning rate.")
    warmup_steps: int = Field(default=100, description="Linear warmup steps.")
    block_size: int | None = Field(default=None, description="Context length override.")
    dropout: float = Field(default=0.0, description="Dropout.")
    eval_every: int = Field(default=100, description="Evaluate (and checkpoint) every N steps.")
    eval_batches: int = Field(default=20, description="Batches per evaluation.")
    log_every: int = Field(default=10, description="Progress line every N steps.")
    seed: int = Field(default=1337, description="Seed.")
    device: str = Field(default="auto", description="auto, cpu, cuda or cuda:N.")
    dtype: str = Field(default="auto", description="auto (bf16 on CUDA), float32, bfloat16.")
    compile: bool = Field(default=False, description="torch.compile the model.")
    gpus: int = Field(default=1, description="More than 1: launch with torchrun (DDP).")
    resume: bool = Field(default=True, description="Continue from the last checkpoint.")
    init_from: str | None = Field(default=None,
                                  description="Start from this checkpoint file's weights.")
    peak_flops: float | None = Field(default=None,
                                     description="Device peak FLOP/s for MFU (GPUs known).")


def trainer_command(config_json: str, gpus: int) -> list[str]:
    """The trainer's command line: plain python, or torchrun for several GPUs."""
    if gpus > 1:
        return [sys.executable, "-m", "torch.distributed.run", "--standalone",
                f"--nproc-per-node={gpus}", "-m", "tsr_assets.model.train",
                "--config-json", config_json]
    return [sys.executable, "-m", "tsr_assets.model.train", "--config-json", config_json]


def build_checkpoint_asset(partitions: Partitions, preset: str) -> dg.AssetsDefinition:
    """The `checkpoint_<preset>` asset (language x tokenizer partitions)."""
    shape = get_preset(preset)

    @dg.asset(
        name=f"checkpoint_{preset}",
        partitions_def=partitions.language_tokenizer,
        deps=["token_bins"],
        group_name="training",
        kinds={"pytorch"},
        pool="training",
        description=(
            f"GPT `{preset}` ({shape.n_layer} layers, {shape.n_embd} wide, {shape.n_head} heads, "
            f"context {shape.block_size}) trained on this partition's token bins.\n\n"
            "Runs `python -m tsr_assets.model.train` (torchrun when `gpus` > 1) through Dagster "
            "Pipes; progress lines stream into the run's logs. Resumes from the last checkpoint "
            "after a kill. Writes `last.pt`, `best.pt`, `metrics.jsonl` and `summary.json` under "
            f"`checkpoint/<language>/<tokenizer>/{preset}/` and a row to DuckDB `training_runs`."
        ),
    )
    def checkpoint(
        context: dg.AssetExecutionContext,
        config: TrainingConfig,
        data_lake: DataLakeResource,
        warehouse: WarehouseResource,
        wandb: WandbSettings,
        pipes_subprocess_client: dg.PipesSubprocessClient,
    ) -> dg.MaterializeResult:
        language, key = partition_keys(context)
        bins = data_lake.folder("token_bins", language, key)
        if not (bins / "meta.json").is_file():
            raise dg.Failure(f"{bins / 'meta.json'} not found: materialize `token_bins` for "
                             f"{language}|{key} first")
        out = data_lake.folder("checkpoint", language, key, preset)
        train_config = {
            **config.model_dump(exclude={"gpus"}),
            "bins_dir": str(bins), "out_dir": str(out), "preset": preset,
            "tags": {"language": language, "tokenizer": key},
            "wandb_project": wandb.project, "wandb_mode": wandb.mode,
            "wandb_run_name": f"{language}-{key}-{preset}",
        }
        command = trainer_command(json.dumps(train_config), config.gpus)
        reported = pipes_subprocess_client.run(
            command=command, context=context, env=wandb.subprocess_env(),
        ).get_materialize_result()
        summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
        rows = read_metrics(out / "metrics.jsonl")
        png = loss_curves_png({preset: rows}, f"{language} | {key} | {preset}")
        (out / "loss_curve.png").write_bytes(png)
        model = summary["model_config"]
        row = {
            "run_id": context.run.run_id, "language": language, "tokenizer": key,
            "preset": preset, "tokenizer_version": summary["tokenizer"]["version"],
            **{k: summary[k] for k in (
                "parameters", "parameters_non_embedding", "steps", "steps_this_run",
                "resumed_from_step", "tokens_seen", "best_val_loss", "final_val_loss",
                "best_val_bits_per_byte", "final_val_bits_per_byte", "tokens_per_s", "mfu",
                "wall_s", "stop_reason", "device", "precision", "world_size", "checkpoint")},
            **{k: model[k] for k in ("n_layer", "n_embd", "n_head", "block_size", "vocab_size")},
            "finished_at": datetime.now(UTC),
        }
        warehouse.replace_rows("training_runs", {"run_id": context.run.run_id, "language": language,
                                                 "tokenizer": key, "preset": preset},
                               pl.DataFrame([row]))
        table = [[k, _fmt(summary[k])] for k in (
            "parameters", "parameters_non_embedding", "steps", "tokens_seen", "best_val_loss",
            "final_val_loss", "best_val_bits_per_byte", "tokens_per_s", "mfu", "wall_s",
            "stop_reason", "device", "precision")]
        mfu = {"mfu": dg.MetadataValue.float(summary["mfu"])} if summary["mfu"] is not None else {}
        return dg.MaterializeResult(
            metadata={
                # What the trainer reported through Pipes, then the readable versions.
                **(reported.metadata or {}),
                **mfu,
                "summary": dg.MetadataValue.md(markdown_table(table, ["", "value"])),
                "parameters": dg.MetadataValue.int(summary["parameters"]),
                "parameters_non_embedding": dg.MetadataValue.int(
                    summary["parameters_non_embedding"]),
                "steps": dg.MetadataValue.int(summary["steps"]),
                "tokens_seen": dg.MetadataValue.int(summary["tokens_seen"]),
                "best_val_loss": dg.MetadataValue.float(summary["best_val_loss"]),
                "final_val_loss": dg.MetadataValue.float(summary["final_val_loss"]),
                "val_bits_per_byte": dg.MetadataValue.float(summary["best_val_bits_per_byte"]),
                "tokens_per_s": dg.MetadataValue.float(round(summary["tokens_per_s"], 1)),
                "wall_s": dg.MetadataValue.float(round(summary["wall_s"], 2)),
                "resumed_from_step": summary["resumed_from_step"] or 0,
                "checkpoint": dg.MetadataValue.path(summary["checkpoint"]),
                "loss_curve": dg.MetadataValue.md(png_markdown(png, "loss curve")),
            }
        )

    return checkpoint


def _fmt(value):
    if isinstance(value, float):
        return f"{value:,.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return value
