"""The data version of the story stores, so the UI marks what new stories made stale.

Code versions live in each asset's decorator (`code_version="2"`, with a comment per bump):
bump it in the same commit as a change that alters what the asset writes (a new gate, a new
statistic, another prompt wording); downstream assets then show as stale in the UI until they
are materialized again. Assets made once per model share their stage's factory, so its version.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import dagster as dg

from tsr_assets.stories.store import shard_files


def story_store_version(folder: Path) -> dg.DataVersion:
    """The data version of a story store: its shards' names and sizes (written once, renamed
    into place, so a new or rewritten shard is a new version); cheap for millions of stories."""
    shards = shard_files(folder)
    digest = hashlib.blake2b(digest_size=8)
    for shard in shards:
        digest.update(f"{shard.name}:{shard.stat().st_size};".encode())
    return dg.DataVersion(f"{len(shards)}-{digest.hexdigest()}")
