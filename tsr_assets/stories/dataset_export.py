"""A language's stories (and the prompts they came from) as a Hugging Face dataset folder.

`datasets.load_dataset(folder)` loads it: `data/train-*.parquet` and
`data/validation-*.parquet`, split by the same hash of prompt_id as the token bins (so the
validation stories are the ones no model of this language trained on), and a `README.md`
dataset card whose YAML header declares the splits.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from tsr_assets.core.atomic_files import temp_path_for
from tsr_assets.core.lake import Lake
from tsr_assets.stories.store import load_limits, read_table
from tsr_assets.tokenizers.token_bins import DEFAULT_VAL_SHARE, val_mask

STORY_COLUMNS = ("prompt_id", "story", "provider", "model", "prompt_tokens",
                 "completion_tokens", "usage_estimated", "created_at")
PROMPT_COLUMNS = ("prompt_id", "noun", "verb", "adjective", "feature", "feature_en", "template",
                  "template_hash", "prompt")
SPLIT_FILES = {"train": "train-00000-of-00001.parquet",
               "validation": "validation-00000-of-00001.parquet"}


@dataclass
class DatasetFacts:
    """What a dataset card says about the data."""

    language: str
    rows: dict[str, int]
    sources: dict[str, int]
    template_hashes: dict[str, int] = field(default_factory=dict)
    wordlist_counts: dict[str, int] = field(default_factory=dict)
    limits: dict = field(default_factory=dict)
    rejections: dict[str, int] = field(default_factory=dict)
    attempts: int = 0


def dataset_table(lake: Lake, language: str) -> pl.DataFrame:
    """Every stored story with its prompt's words and text (empty columns for imports)."""
    stories = read_table(lake.stories_dir(language))
    stories = stories.select([c for c in STORY_COLUMNS if c in stories.columns])
    prompts_path = lake.prompts_file(language)
    if not prompts_path.is_file():
        return stories
    available = pl.read_parquet_schema(prompts_path)
    prompts = pl.read_parquet(prompts_path, columns=[c for c in PROMPT_COLUMNS if c in available])
    return stories.join(prompts, on="prompt_id", how="left")


def _facts(lake: Lake, language: str, table: pl.DataFrame, rows: dict[str, int]
           ) -> DatasetFacts:
    sources = Counter(f"{p} ({m})" if m else p
                      for p, m in zip(table["provider"], table["model"], strict=True))
    hashes = (Counter(h for h in table["template_hash"] if h)
              if "template_hash" in table.columns else Counter())
    wordlists = lake.wordlists_file(language)
    counts = json.loads(wordlists.read_text(encoding="utf-8"))["counts"] \
        if wordlists.is_file() else {}
    rejected = read_table(lake.stories_dir(language), "rejection", ["reason"])["reason"]
    return DatasetFacts(language, rows, dict(sources), dict(hashes), counts,
                        load_limits(lake.story_limits_file(language)).__dict__,
                        dict(Counter(rejected.to_list())), table.height + rejected.len())


def export_dataset(lake: Lake, language: str, out: Path,
                   render_card: Callable[[DatasetFacts], str],
                   val_share: float = DEFAULT_VAL_SHARE) -> DatasetFacts:
    """Write the dataset folder to `out` (replaced whole, atomically); returns its facts.

    `render_card` turns the facts into the README.md (see `reports/cards.py`).
    """
    table = dataset_table(lake, language)
    if table.is_empty():
        raise ValueError(f"no stories for {language}: materialize `stories` first")
    in_val = pl.Series(val_mask(table["prompt_id"].to_list(), val_share))
    splits = {"train": table.filter(~in_val), "validation": table.filter(in_val)}
    facts = _facts(lake, language, table, {k: v.height for k, v in splits.items()})
    tmp = temp_path_for(out)
    try:
        (tmp / "data").mkdir(parents=True)
        for split, frame in splits.items():
            frame.write_parquet(tmp / "data" / SPLIT_FILES[split])
        (tmp / "README.md").write_text(render_card(facts), encoding="utf-8")
        shutil.rmtree(out, ignore_errors=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return facts
