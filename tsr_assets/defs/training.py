"""`checkpoint_<preset>` assets: the trainer launched through Dagster Pipes, one per preset."""

import dataclasses
import json
import sys

import dagster as dg
import polars as pl
from pydantic import Field

from tsr_assets.core.journal import read_jsonl
from tsr_assets.core.lake import preset_asset
from tsr_assets.defs.dataclass_config import config_from_dataclass
from tsr_assets.defs.jobs import TRAINING_GROUP
from tsr_assets.defs.partitions import Partitions, partition_keys
from tsr_assets.defs.pools import TRAINING_POOL
from tsr_assets.defs.resources import DataLakeResource, WandbResource, WarehouseResource
from tsr_assets.model.hf_import import ExternalModelError
from tsr_assets.model.imported_models import import_model
from tsr_assets.model.presets import Preset
from tsr_assets.model.run_summary import SHOWN_FIELDS, read_summary, readable, training_run_row
from tsr_assets.model.train_config import TrainConfig
from tsr_assets.reports.markdown import markdown_table, png_markdown
from tsr_assets.reports.plots import loss_curves_png

#: One training run; empty fields take the preset's or the trainer's default. Generated from
#: `TrainConfig` (model/train_config.py), where every field and its description is declared.
TrainingConfig = config_from_dataclass(
    "TrainingConfig", TrainConfig,
    "One training run. Empty fields take the preset's or the trainer's default.",
    exclude=("bins_dir", "out_dir", "preset", "preset_shape", "tags", "wandb_project",
             "wandb_run_name", "wandb_mode"),
    extra={"gpus": (int, Field(default=1, ge=1, description="More than 1: launch with "
                                                             "torchrun (DDP)."))})


def trainer_command(config_json: str, gpus: int) -> list[str]:
    """The trainer's command line: plain python, or torchrun for several GPUs."""
    if gpus > 1:
        return [sys.executable, "-m", "torch.distributed.run", "--standalone",
                f"--nproc-per-node={gpus}", "-m", "tsr_assets.model.train",
                "--config-json", config_json]
    return [sys.executable, "-m", "tsr_assets.model.train", "--config-json", config_json]


def _metadata(summary: dict, png: bytes) -> dict:
    table = [[k, readable(summary[k])] for k in SHOWN_FIELDS]
    mfu = {"mfu": dg.MetadataValue.float(summary["mfu"])} if summary["mfu"] is not None else {}
    return {
        **mfu,
        "summary": dg.MetadataValue.md(markdown_table(table, ["", "value"])),
        "parameters": dg.MetadataValue.int(summary["parameters"]),
        "parameters_non_embedding": dg.MetadataValue.int(summary["parameters_non_embedding"]),
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


def build_checkpoint_asset(partitions: Partitions, preset: str, shape: Preset,
                           automation_condition: dg.AutomationCondition | None = None,
                           ) -> dg.AssetsDefinition:
    """The `checkpoint_<preset>` asset (language x tokenizer partitions) of a model of `shape`
    (a `ModelPreset` component: `defs/model_components.py`)."""

    @dg.asset(
        # code version 2: checkpoints are read as data only (weights_only=True).
        code_version="2",
        name=preset_asset("checkpoint", preset),
        partitions_def=partitions.language_tokenizer,
        deps=["token_bins"],
        automation_condition=automation_condition,
        group_name=TRAINING_GROUP,
        kinds={"pytorch"},
        pool=TRAINING_POOL,
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
        wandb: WandbResource,
        pipes_subprocess_client: dg.PipesSubprocessClient,
    ) -> dg.MaterializeResult:
        with data_lake.writing_partition_of(context):
            language, key = partition_keys(context)
            lake = data_lake.lake
            bins = lake.bins_dir(language, key)
            if not lake.bins_meta_file(language, key).is_file():
                raise dg.Failure(f"{lake.bins_meta_file(language, key)} not found: materialize "
                                 f"`token_bins` for {language}|{key} first")
            files = lake.checkpoint(language, key, preset)
            train_config = {
                **config.model_dump(exclude={"gpus"}),
                "bins_dir": str(bins), "out_dir": str(files.folder), "preset": preset,
                "preset_shape": dataclasses.asdict(shape),
                "tags": {"language": language, "tokenizer": key},
                "wandb_project": wandb.project, "wandb_mode": wandb.mode,
                "wandb_run_name": f"{language}-{key}-{preset}",
            }
            reported = pipes_subprocess_client.run(
                command=trainer_command(json.dumps(train_config), config.gpus), context=context,
                env=wandb.subprocess_env(),
            ).get_materialize_result()
            summary = read_summary(files.summary)
            if not summary["steps"]:
                # An untrained model is not a result: no training_runs row, and nothing
                # downstream of this step runs on it (samples also refuse a step-0 model).
                raise dg.Failure(
                    f"{preset_asset('checkpoint', preset)} {language}|{key}: the run made no "
                    f"optimizer step (stop reason {summary['stop_reason']}, "
                    f"max_steps {config.max_steps}, max_seconds {config.max_seconds}); give "
                    "it more steps or a longer max_seconds", allow_retries=False)
            png = loss_curves_png({preset: list(read_jsonl(files.metrics))},
                                  f"{language} | {key} | {preset}")
            files.loss_curve.write_bytes(png)
            row = training_run_row(summary, context.run.run_id, language, key, preset)
            warehouse.replace_rows("training_runs", {"run_id": context.run.run_id,
                                                     "language": language, "tokenizer": key,
                                                     "preset": preset}, pl.DataFrame([row]))
            # What the trainer reported through Pipes, then the readable versions.
            return dg.MaterializeResult(metadata={**(reported.metadata or {}),
                                                  **_metadata(summary, png)})

    return checkpoint


def build_import_asset(partitions: Partitions, name: str, source: str) -> dg.AssetsDefinition:
    """`checkpoint_<name>` for a model made elsewhere: converted, evaluated, recorded."""

    @dg.asset(
        # code version 2: checkpoints are read as data only (weights_only=True).
        code_version="2",
        name=preset_asset("checkpoint", name),
        partitions_def=partitions.language_tokenizer,
        deps=["token_bins"],
        group_name=TRAINING_GROUP,
        kinds={"pytorch"},
        description=(
            f"The model `{name}` imported from `{source}` (a nanoGPT `.pt`, a `transformers` "
            "GPT-2 folder or a Hub id; `$TSR_IMPORTED_MODELS`): converted to a platform "
            "checkpoint under `checkpoint/<language>/<tokenizer>/" + name + "/`, evaluated "
            "on this partition's validation bins (loss and bits per byte) and recorded in "
            "DuckDB `training_runs` (stop reason `imported`), so its samples and judge scores "
            "sit beside the platform's models in the comparison tables."),
    )
    def imported(context: dg.AssetExecutionContext, data_lake: DataLakeResource,
                 warehouse: WarehouseResource) -> dg.MaterializeResult:
        with data_lake.writing_partition_of(context) as lake:
            language, key = partition_keys(context)
            files = lake.checkpoint(language, key, name)
            try:
                summary = import_model(source, lake.bins_dir(language, key), files, name,
                                       {"language": language, "tokenizer": key})
            except (ExternalModelError, FileNotFoundError, ValueError) as exc:
                raise dg.Failure(f"{preset_asset('checkpoint', name)} {language}|{key}: {exc}",
                                 allow_retries=False) from exc
            row = training_run_row(summary, context.run.run_id, language, key, name)
            warehouse.replace_rows("training_runs", {"run_id": context.run.run_id,
                                                     "language": language, "tokenizer": key,
                                                     "preset": name}, pl.DataFrame([row]))
            png = loss_curves_png({name: list(read_jsonl(files.metrics))},
                                  f"{language} | {key} | {name}")
            return dg.MaterializeResult(metadata={**_metadata(summary, png),
                                                  "imported_from": source})

    return imported
