"""Assembles the one `Definitions` object from the defs layer: assets, checks, resources, jobs,
and the automation sensors."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence

import dagster as dg

from tsr_assets.defs.automation import automation_conditions, automation_sensors, with_automation
from tsr_assets.defs.config_limits import enforce_config_limits
from tsr_assets.defs.data_quality import build_data_quality_defs
from tsr_assets.defs.evaluation import build_judge_asset, build_samples_asset
from tsr_assets.defs.human_ratings import (
    LABEL_STUDIO_KEY_ENV,
    LabelStudioResource,
    build_human_ratings_defs,
)
from tsr_assets.defs.jobs import build_jobs
from tsr_assets.defs.judge_probes import build_probes_asset
from tsr_assets.defs.partitions import build_partitions
from tsr_assets.defs.prompts import build_prompts_defs, build_wordlists_defs
from tsr_assets.defs.publishing import build_dataset_export, build_model_export
from tsr_assets.defs.reports import build_reports_defs
from tsr_assets.defs.resources import (
    DataLakeResource,
    HuggingFaceResource,
    JudgeResource,
    LLMResource,
    WandbResource,
    WarehouseResource,
)
from tsr_assets.defs.stories import build_stories_defs
from tsr_assets.defs.tokenizer_stats import build_tokenizer_stats_asset
from tsr_assets.defs.tokenizers import build_tokenizers_defs
from tsr_assets.defs.training import build_checkpoint_asset, build_import_asset
from tsr_assets.defs.translation import build_translation_defs
from tsr_assets.model.imported_models import configured_imports
from tsr_assets.model.presets import configured_presets

# Partitioned asset checks are a preview feature in Dagster 1.13; we rely on them knowingly.
warnings.filterwarnings("ignore", category=dg.PreviewWarning, message=".*partitions_def.*")
# The automation sensor runs in the code server because `PartitionsWhere` is Python (beta).
warnings.filterwarnings("ignore", category=dg.BetaWarning, message=".*use_user_code_server.*")
# Pipes' own internals use a preview API of Dagster 1.13 on every launch.
warnings.filterwarnings("ignore", category=dg.PreviewWarning, message=".*expected_writer_count.*")


def build_definitions(
    languages: Sequence[str] | None = None,
    presets: Sequence[str] | None = None,
    executor: dg.ExecutorDefinition | None = None,
    imports: dict[str, str] | None = None,
    op_retry_policy: dg.RetryPolicy | None = None,
) -> dg.Definitions:
    """Build the platform's definitions for `languages` (default: every registered language),
    model `presets` (default: `configured_presets()`) and imported models (`name -> source`,
    default: `configured_imports()`). `executor` defaults to in-process (one run, one
    process); `deploy/celery/definitions.py` passes Celery's."""
    partitions = build_partitions(languages)
    preset_names = configured_presets(presets)
    imported = configured_imports(imports, reserved=preset_names)
    models = [*preset_names, *imported]
    assets_and_checks = [
        *build_wordlists_defs(partitions),
        *build_prompts_defs(partitions),
        *build_stories_defs(partitions),
        *build_translation_defs(partitions),
        *build_data_quality_defs(partitions),
        *build_tokenizers_defs(partitions),
        build_tokenizer_stats_asset(partitions),
        *(build_checkpoint_asset(partitions, preset) for preset in preset_names),
        *(build_import_asset(partitions, name, source) for name, source in imported.items()),
        *(build_samples_asset(partitions, model) for model in models),
        *(build_judge_asset(partitions, model) for model in models),
        *(build_probes_asset(partitions, model) for model in models),
        *(build_model_export(partitions, model) for model in models),
        build_dataset_export(partitions),
        *build_human_ratings_defs(models),
        *build_reports_defs(models),
    ]
    checks = [c for c in assets_and_checks if isinstance(c, dg.AssetChecksDefinition)]
    assets = with_automation(
        [a for a in assets_and_checks if a not in checks],
        automation_conditions(partitions.language.get_partition_keys(),
                              partitions.tokenizer.get_partition_keys(), preset_names))
    jobs = {job.name: job for job in build_jobs(op_retry_policy)}
    resources = {"data_lake": DataLakeResource(), "llm": LLMResource(),
                 "warehouse": WarehouseResource(), "wandb": WandbResource(),
                 "judge": JudgeResource(),
                 "hub": HuggingFaceResource(
                     token=dg.EnvVar("HF_TOKEN") if os.environ.get("HF_TOKEN") else None),
                 "label_studio": LabelStudioResource(
                     api_key=(dg.EnvVar(LABEL_STUDIO_KEY_ENV)
                              if os.environ.get(LABEL_STUDIO_KEY_ENV) else None)),
                 "pipes_subprocess_client": dg.PipesSubprocessClient()}
    # Out-of-range run config is refused before a run is created (defs/config_limits.py).
    enforce_config_limits(assets_and_checks, resources)
    return dg.Definitions(
        assets=assets,
        asset_checks=checks,
        jobs=list(jobs.values()),
        sensors=automation_sensors(),
        resources=resources,
        executor=executor or dg.in_process_executor,
    )


defs = build_definitions()
