"""`hf_dataset` (language) and `hf_model_<preset>` (language x tokenizer): what the platform
made, as folders the Hugging Face ecosystem loads, pushed to the Hub on request."""

import dagster as dg
from pydantic import Field

from tsr_assets.core.hub import HubUnavailable
from tsr_assets.core.lake import preset_asset
from tsr_assets.core.languages import get_language
from tsr_assets.defs.automation import after_inputs
from tsr_assets.defs.jobs import DATASET_EXPORT_GROUP, MODEL_EXPORT_GROUP
from tsr_assets.defs.load_scope import current_scope, stage_definitions
from tsr_assets.defs.partitions import Partitions, partition_keys
from tsr_assets.defs.resources import (
    DataLakeResource,
    HuggingFaceResource,
    WandbResource,
    WarehouseResource,
)
from tsr_assets.model.checkpoints import CheckpointError
from tsr_assets.model.hf_export import export_model
from tsr_assets.model.run_summary import read_summary
from tsr_assets.model.sample import load_model
from tsr_assets.reports.cards import ModelFacts, dataset_card, model_card
from tsr_assets.reports.markdown import markdown_table
from tsr_assets.reports.report import story_sources
from tsr_assets.stories.dataset_export import export_dataset
from tsr_assets.tokenizers.registry import load_tokenizer


class ExportConfig(dg.Config):
    """The repository an export may be pushed to, and its license."""

    push: bool = Field(default=False, description="Upload to the Hugging Face Hub.")
    repo_name: str | None = Field(default=None, description="Repository name; empty: a "
                                  "name made from the language (and tokenizer and preset).")
    license: str = Field(default="cc-by-4.0", description="License id for the card.")


def _push(hub: HuggingFaceResource, config: ExportConfig, folder, name: str, repo_type: str,
          run_id: str) -> dict:
    if not config.push:
        return {"pushed": dg.MetadataValue.text("no (push: false)")}
    try:
        result = hub.push(folder, name, repo_type, run_id)
    except HubUnavailable as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from exc
    return {"pushed": dg.MetadataValue.text(result.repo_id),
            "commit": dg.MetadataValue.url(result.url) if result.url else result.commit}


def build_dataset_export(partitions: Partitions) -> dg.AssetsDefinition:
    """`hf_dataset`, partitioned by language."""

    # code version 2: one file of each split per chunk of stories (zstd), read chunk by chunk.
    @dg.asset(code_version="2",
              partitions_def=partitions.language, deps=["stories", "prompts"],
              automation_condition=after_inputs(),
              group_name=DATASET_EXPORT_GROUP, kinds={"huggingface", "parquet"})
    def hf_dataset(context: dg.AssetExecutionContext, config: ExportConfig,
                   data_lake: DataLakeResource, hub: HuggingFaceResource
                   ) -> dg.MaterializeResult:
        """The language's stories and the prompts they came from as a folder
        `datasets.load_dataset(folder)` loads: train and validation splits by the token bins'
        split rule, and a dataset card (source and model of generation, template hash,
        word-list counts, filters and rejection rates, license and terms of use). With
        `push: true` it is uploaded to the Hub (`hub` resource, token from $HF_TOKEN)."""
        with data_lake.writing_partition_of(context) as lake:
            language = get_language(context.partition_key)
            name = config.repo_name or f"tinystories-regional-{language.key}"
            folder = lake.hf_dataset_dir(language.key)
            try:
                facts = export_dataset(lake, language.key, folder, lambda f: dataset_card(
                    f, language, name, config.license))
            except ValueError as exc:
                raise dg.Failure(f"hf_dataset {language.key}: {exc}") from exc
            return dg.MaterializeResult(metadata={
                "rows": dg.MetadataValue.json(facts.rows),
                "sources": dg.MetadataValue.json(facts.sources),
                "path": dg.MetadataValue.path(str(folder)),
                "card": dg.MetadataValue.md((folder / "README.md").read_text(encoding="utf-8")),
                **_push(hub, config, folder, name, "dataset", context.run.run_id),
            })

    return hf_dataset


def _model_facts(data_lake: DataLakeResource, warehouse: WarehouseResource, language: str,
                 tokenizer_key: str, preset: str, train_config: dict, tokenizer) -> ModelFacts:
    lake = data_lake.lake
    judged = warehouse.query(
        "SELECT judge, metric, n, mean, ci95_low, ci95_high FROM judge_summary WHERE language = ?"
        " AND tokenizer = ? AND preset = ? ORDER BY judge, metric",
        [language, tokenizer_key, preset])
    return ModelFacts(
        get_language(language), tokenizer.describe(), preset,
        read_summary(lake.checkpoint(language, tokenizer_key, preset).summary), train_config,
        story_sources(lake, [language])[language], judged.to_dicts(),
        f"tinystories-regional-{language}")


def build_model_export(partitions: Partitions, preset: str,
                       automation_condition: dg.AutomationCondition | None = None,
                       ) -> dg.AssetsDefinition:
    """`hf_model_<preset>`, partitioned by language x tokenizer."""

    @dg.asset(code_version="1",
              name=preset_asset("hf_model", preset), partitions_def=partitions.language_tokenizer,
              automation_condition=automation_condition,
              deps=[preset_asset("checkpoint", preset), preset_asset("judge_scores", preset),
                    "tokenizer"],
              group_name=MODEL_EXPORT_GROUP, kinds={"huggingface", "pytorch"},
              description=(
                  f"The `{preset}` model as a folder `transformers.AutoModelForCausalLM` and "
                  "`AutoTokenizer` load (GPT-2 architecture for `nanogpt`, Qwen3 for "
                  "`modern`; same logits and the same token ids, bos/eos framing included), "
                  "with generation defaults and a model card "
                  "from the warehouse. With `push: true` it is uploaded to the Hub; with a W&B "
                  "project and key (`wandb` resource, online) also as a W&B Artifact."))
    def hf_model(context: dg.AssetExecutionContext, config: ExportConfig,
                 data_lake: DataLakeResource, warehouse: WarehouseResource,
                 hub: HuggingFaceResource, wandb: WandbResource) -> dg.MaterializeResult:
        with data_lake.writing_partition_of(context) as lake:
            language, key = partition_keys(context)
            try:
                tokenizer = load_tokenizer(lake.tokenizer_dir(language, key))
                model, state = load_model(lake.checkpoint(language, key, preset).checkpoint())
                facts = _model_facts(data_lake, warehouse, language, key, preset,
                                     state.get("train_config", {}), tokenizer)
            except (CheckpointError, FileNotFoundError, ValueError) as exc:
                raise dg.Failure(f"{preset_asset('hf_model', preset)} {language}|{key}: {exc}"
                                 ) from exc
            name = config.repo_name or f"tsr-{language}-{key}-{preset}"
            folder = lake.hf_model_dir(language, key, preset)
            files = export_model(model, tokenizer, folder,
                                 model_card(facts, name, config.license))
            return dg.MaterializeResult(metadata={
                "files": dg.MetadataValue.md(markdown_table([[f] for f in files], ["file"])),
                "parameters": dg.MetadataValue.int(facts.summary["parameters"]),
                "path": dg.MetadataValue.path(str(folder)),
                **_push(hub, config, folder, name, "model", context.run.run_id),
                **wandb.upload_folder(context.log, folder, name, "model", f"{name}-export"),
            })

    return hf_model


@dg.definitions
def defs() -> dg.Definitions:
    """`hf_dataset`, for the languages of this load (each model's `hf_model_<name>` comes with
    its model: `defs/model_components.py`)."""
    return stage_definitions([build_dataset_export(current_scope().partitions())])
