"""Assembles the one `Definitions` object: assets, checks, resources, jobs and schedules."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence

import dagster as dg

from tsr_assets.assets.evaluation import build_judge_asset, build_samples_asset
from tsr_assets.assets.prompts import build_prompts_defs
from tsr_assets.assets.reports import build_reports_defs
from tsr_assets.assets.stories import build_stories_defs
from tsr_assets.assets.tokenizer_stats import build_tokenizer_stats_defs
from tsr_assets.assets.tokenizers import build_tokenizer_defs
from tsr_assets.assets.training import build_checkpoint_asset
from tsr_assets.assets.wordlists import build_wordlists_defs
from tsr_assets.automation import build_language_schedules, build_sensors
from tsr_assets.model.presets import DEFAULT_PRESETS, get_preset
from tsr_assets.partitions import build_partitions
from tsr_assets.resources.data_lake import DataLakeResource
from tsr_assets.resources.judge import JudgeResource
from tsr_assets.resources.llm import LLMResource
from tsr_assets.resources.wandb_settings import WandbSettings
from tsr_assets.resources.warehouse import WarehouseResource

# Partitioned asset checks are a preview feature in Dagster 1.13; we rely on them knowingly.
warnings.filterwarnings("ignore", category=dg.PreviewWarning, message=".*partitions_def.*")
# Pipes' own internals use a preview API of Dagster 1.13 on every launch.
warnings.filterwarnings("ignore", category=dg.PreviewWarning, message=".*expected_writer_count.*")

LANGUAGE_JOB = "language_job"
LANGUAGE_ASSETS = ("wordlists", "prompts", "stories")
LANGUAGE_TOKENIZER_JOB = "language_tokenizer_job"
TOKENIZER_ASSETS = ("tokenizer", "token_bins", "tokenizer_stats")
PRESET_STAGES = ("checkpoint", "samples", "judge_scores")
REPORTS_JOB = "reports_job"


PRESETS_ENV = "TSR_PRESETS"


def configured_presets(presets: Sequence[str] | None = None) -> tuple[str, ...]:
    """Presets that get assets: the argument, else `$TSR_PRESETS` (comma-separated), else
    `tiny,e512_l6`. Unknown names are an error that lists the known ones."""
    if presets is None:
        from_env = [p.strip() for p in os.environ.get(PRESETS_ENV, "").split(",") if p.strip()]
        presets = from_env or DEFAULT_PRESETS
    for name in presets:
        get_preset(name)
    return tuple(dict.fromkeys(presets))


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
        *build_tokenizer_defs(partitions),
        *build_tokenizer_stats_defs(partitions),
        *(build_checkpoint_asset(partitions, preset) for preset in preset_names),
        *(build_samples_asset(partitions, preset) for preset in preset_names),
        *(build_judge_asset(partitions, preset) for preset in preset_names),
        *build_reports_defs(preset_names),
    ]
    checks = [c for c in assets_and_checks if isinstance(c, dg.AssetChecksDefinition)]
    assets = [a for a in assets_and_checks if a not in checks]
    language_job = dg.define_asset_job(
        LANGUAGE_JOB,
        selection=dg.AssetSelection.assets(*LANGUAGE_ASSETS),
        description="Per-language chain: wordlists -> prompts -> stories.",
    )
    language_tokenizer_job = dg.define_asset_job(
        LANGUAGE_TOKENIZER_JOB,
        selection=dg.AssetSelection.assets(
            *TOKENIZER_ASSETS,
            *(f"{stage}_{p}" for p in preset_names for stage in PRESET_STAGES)),
        description="Per language x tokenizer chain: tokenizer -> token_bins -> "
        "tokenizer_stats -> checkpoint_<preset> -> samples_<preset> -> judge_scores_<preset>.",
    )
    reports_job = dg.define_asset_job(
        REPORTS_JOB, selection=dg.AssetSelection.assets("reports"),
        description="Comparison tables and plots from the warehouse.",
    )
    return dg.Definitions(
        assets=assets,
        asset_checks=checks,
        jobs=[language_job, language_tokenizer_job, reports_job],
        schedules=build_language_schedules(partitions.language.get_partition_keys(),
                                           language_job),
        sensors=build_sensors(language_tokenizer_job, reports_job,
                              partitions.tokenizer.get_partition_keys()),
        resources={"data_lake": DataLakeResource(), "llm": LLMResource(),
                   "warehouse": WarehouseResource(), "wandb": WandbSettings(),
                   "judge": JudgeResource(),
                   "pipes_subprocess_client": dg.PipesSubprocessClient()},
        executor=executor or dg.in_process_executor,
    )


defs = build_definitions()
