"""Assembles the one `Definitions` object from the defs layer: assets, checks, resources, jobs,
schedules and sensors."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import dagster as dg

from tsr_assets.defs.automation import build_language_schedules, build_sensors
from tsr_assets.defs.evaluation import build_judge_asset, build_samples_asset
from tsr_assets.defs.jobs import LANGUAGE_JOB, LANGUAGE_TOKENIZER_JOB, REPORTS_JOB, build_jobs
from tsr_assets.defs.partitions import build_partitions
from tsr_assets.defs.prompts import build_prompts_defs, build_wordlists_defs
from tsr_assets.defs.reports import build_reports_defs
from tsr_assets.defs.resources import (
    DataLakeResource,
    JudgeResource,
    LLMResource,
    WandbResource,
    WarehouseResource,
)
from tsr_assets.defs.stories import build_stories_defs
from tsr_assets.defs.tokenizers import build_tokenizers_defs
from tsr_assets.defs.training import build_checkpoint_asset
from tsr_assets.model.presets import configured_presets

# Partitioned asset checks are a preview feature in Dagster 1.13; we rely on them knowingly.
warnings.filterwarnings("ignore", category=dg.PreviewWarning, message=".*partitions_def.*")
# Pipes' own internals use a preview API of Dagster 1.13 on every launch.
warnings.filterwarnings("ignore", category=dg.PreviewWarning, message=".*expected_writer_count.*")


def build_definitions(
    languages: Sequence[str] | None = None,
    presets: Sequence[str] | None = None,
    executor: dg.ExecutorDefinition | None = None,
) -> dg.Definitions:
    """Build the platform's definitions for `languages` (default: every registered language)
    and model `presets` (default: `configured_presets()`). `executor` defaults to in-process
    (one run, one process); `deploy/celery/definitions.py` passes Celery's."""
    partitions = build_partitions(languages)
    preset_names = configured_presets(presets)
    assets_and_checks = [
        *build_wordlists_defs(partitions),
        *build_prompts_defs(partitions),
        *build_stories_defs(partitions),
        *build_tokenizers_defs(partitions),
        *(build_checkpoint_asset(partitions, preset) for preset in preset_names),
        *(build_samples_asset(partitions, preset) for preset in preset_names),
        *(build_judge_asset(partitions, preset) for preset in preset_names),
        *build_reports_defs(preset_names),
    ]
    checks = [c for c in assets_and_checks if isinstance(c, dg.AssetChecksDefinition)]
    assets = [a for a in assets_and_checks if a not in checks]
    jobs = {job.name: job for job in build_jobs()}
    return dg.Definitions(
        assets=assets,
        asset_checks=checks,
        jobs=list(jobs.values()),
        schedules=build_language_schedules(partitions.language.get_partition_keys(),
                                           jobs[LANGUAGE_JOB]),
        sensors=build_sensors(jobs[LANGUAGE_TOKENIZER_JOB], jobs[REPORTS_JOB],
                              partitions.tokenizer.get_partition_keys()),
        resources={"data_lake": DataLakeResource(), "llm": LLMResource(),
                   "warehouse": WarehouseResource(), "wandb": WandbResource(),
                   "judge": JudgeResource(),
                   "pipes_subprocess_client": dg.PipesSubprocessClient()},
        executor=executor or dg.in_process_executor,
    )


defs = build_definitions()
