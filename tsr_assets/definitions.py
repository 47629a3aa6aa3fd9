"""Assembles the one `Definitions` object: assets, checks, resources, jobs and schedules."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import dagster as dg

from tsr_assets.assets.prompts import build_prompts_defs
from tsr_assets.assets.stories import build_stories_defs
from tsr_assets.assets.tokenizer_stats import build_tokenizer_stats_defs
from tsr_assets.assets.tokenizers import build_tokenizer_defs
from tsr_assets.assets.wordlists import build_wordlists_defs
from tsr_assets.partitions import build_partitions
from tsr_assets.resources.data_lake import DataLakeResource
from tsr_assets.resources.llm import LLMResource
from tsr_assets.resources.warehouse import WarehouseResource

# Partitioned asset checks are a preview feature in Dagster 1.13; we rely on them knowingly.
warnings.filterwarnings("ignore", category=dg.PreviewWarning, message=".*partitions_def.*")

LANGUAGE_JOB = "language_job"
LANGUAGE_ASSETS = ("wordlists", "prompts", "stories")
LANGUAGE_TOKENIZER_JOB = "language_tokenizer_job"
TOKENIZER_ASSETS = ("tokenizer", "token_bins", "tokenizer_stats")


def build_definitions(languages: Sequence[str] | None = None) -> dg.Definitions:
    """Build the platform's definitions for `languages` (default: every registered language)."""
    partitions = build_partitions(languages)
    assets_and_checks = [
        *build_wordlists_defs(partitions),
        *build_prompts_defs(partitions),
        *build_stories_defs(partitions),
        *build_tokenizer_defs(partitions),
        *build_tokenizer_stats_defs(partitions),
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
        selection=dg.AssetSelection.assets(*TOKENIZER_ASSETS),
        description="Per language x tokenizer chain: tokenizer -> token_bins -> tokenizer_stats.",
    )
    return dg.Definitions(
        assets=assets,
        asset_checks=checks,
        jobs=[language_job, language_tokenizer_job],
        resources={"data_lake": DataLakeResource(), "llm": LLMResource(),
                   "warehouse": WarehouseResource()},
        executor=dg.in_process_executor,
    )


defs = build_definitions()
