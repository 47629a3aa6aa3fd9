"""A finished training run's `summary.json`, read back and turned into a warehouse row."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

#: Summary fields copied into DuckDB `training_runs` as they are.
RUN_FIELDS = ("recipe", "corpus", "stories_by_source", "parameters", "parameters_non_embedding",
              "steps", "steps_this_run", "resumed_from_step", "tokens_seen", "best_val_loss",
              "final_val_loss", "best_val_bits_per_byte", "final_val_bits_per_byte",
              "tokens_per_s", "mfu", "wall_s", "stop_reason", "device", "precision",
              "world_size", "checkpoint")
#: Model-shape fields copied from the summary's model config.
SHAPE_FIELDS = ("n_layer", "n_embd", "n_head", "block_size", "vocab_size")
#: What a person reads first about a run.
SHOWN_FIELDS = ("recipe", "corpus", "parameters", "parameters_non_embedding", "steps",
                "tokens_seen", "best_val_loss", "final_val_loss", "best_val_bits_per_byte",
                "tokens_per_s", "mfu", "wall_s", "stop_reason", "device", "precision")


def read_summary(path: Path) -> dict:
    """A run's summary; a clear error when the trainer wrote none."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: the training run did not finish")
    return json.loads(path.read_text(encoding="utf-8"))


def training_run_row(summary: dict, run_id: str, language: str, tokenizer: str,
                     preset: str) -> dict:
    """The `training_runs` row of one run."""
    model = summary["model_config"]
    return {
        "run_id": run_id, "language": language, "tokenizer": tokenizer, "preset": preset,
        "tokenizer_version": summary["tokenizer"]["version"],
        **{k: json.dumps(v, sort_keys=True) if isinstance(v, dict) else v
           for k, v in ((k, summary.get(k)) for k in RUN_FIELDS)},
        **{k: model[k] for k in SHAPE_FIELDS},
        "finished_at": datetime.now(UTC),
    }


def readable(value: object) -> object:
    """Numbers with thousands separators (floats to 4 significant digits)."""
    if isinstance(value, float):
        return f"{value:,.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return value
