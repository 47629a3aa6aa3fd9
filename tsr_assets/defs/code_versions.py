"""The code version of every asset, and the data version of the story stores, so the UI marks
what a code change or new stories made stale.

Bump an asset's entry in the same commit as a change that alters what it writes (a new gate,
a new statistic, another prompt wording); downstream assets then show as stale in the UI until
they are materialized again. Assets made once per model preset share their stage's entry.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import dagster as dg

from tsr_assets.stories.store import shard_files

CODE_VERSIONS: dict[str, str] = {
    "wordlists": "1",
    "prompts": "1",
    # 2: the breaker decides early, prompt echoes are named, damaged shards are refused.
    "stories": "2",
    # 2: any registered language as the source, records source_language.
    "translated_stories": "2",
    # 2: LaBSE similarity and COMET-DA beside chrF++.
    "translation_quality": "2",
    "near_duplicates": "1",
    "contamination": "1",
    "corpus_quality": "1",
    "hf_dataset": "1",
    "tokenizer": "1",
    # 2: stories_by_source records the languages translations came from.
    "token_bins": "2",
    # 2: Rényi in nats over train+val, MorphScore.
    # 3: MorphScore as the original defines it (piece names), the decoded variant beside it.
    "tokenizer_stats": "3",
    # 2: checkpoints are read as data only (weights_only=True).
    "checkpoint": "2",
    "imported_checkpoint": "2",
    "samples": "1",
    # 2: batch mode and the request cache for the LLM judge.
    "judge_scores": "2",
    "judge_probes": "1",
    "hf_model": "1",
    "rating_tasks": "1",
    "human_ratings": "1",
    # 2: MorphScore, Rényi, paired comparisons and costs.
    # 3: both MorphScores and the gold list's counts.
    # 4: judges against human raters (judge_calibration) and the judge probes.
    "reports": "4",
}


def code_version(stage: str) -> str:
    """The code version of `stage` (an asset name, or the stage of a preset's asset)."""
    return CODE_VERSIONS[stage]


def story_store_version(folder: Path) -> dg.DataVersion:
    """The data version of a story store: its shards' names and sizes (written once, renamed
    into place, so a new or rewritten shard is a new version); cheap for millions of stories."""
    shards = shard_files(folder)
    digest = hashlib.blake2b(digest_size=8)
    for shard in shards:
        digest.update(f"{shard.name}:{shard.stat().st_size};".encode())
    return dg.DataVersion(f"{len(shards)}-{digest.hexdigest()}")
