"""Bringing a model made elsewhere into the platform's comparison: converted to a platform
checkpoint under a name the user gives, evaluated on the partition's validation bins like a
trained model, and summarised like a training run (stop reason `imported`)."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path

import torch

from tsr_assets.core.atomic_files import write_json_atomic, write_text_atomic
from tsr_assets.core.lake import CheckpointFiles
from tsr_assets.model.batches import Bins, evaluate
from tsr_assets.model.checkpoints import save_checkpoint
from tsr_assets.model.gpt import GPT
from tsr_assets.model.hf_import import ExternalModelError, load_external
from tsr_assets.model.presets import check_model_name
from tsr_assets.model.train_config import TrainConfig, bits_per_byte
from tsr_assets.tokenizers.token_bins import corpus_fields


def check_import_name(name: str, reserved: Sequence[str] = ()) -> None:
    """An imported model's name must be a lowercase asset-key part and not a preset's name."""
    check_model_name(name, "imported model name")
    if name in reserved:
        raise ValueError(f"imported model name {name!r} is a model preset's name")


def check_vocabulary(model: GPT, vocab_size: int, source: str, tokenizer: str) -> None:
    """The model must have exactly the tokenizer's vocabulary."""
    if model.config.vocab_size != vocab_size:
        raise ExternalModelError(
            f"{source} has a vocabulary of {model.config.vocab_size:,} ids but the {tokenizer} "
            f"tokenizer of this partition has {vocab_size:,}: import it into the partition of "
            "the tokenizer it was trained with")


def import_model(source: str, bins_dir: Path, files: CheckpointFiles, preset: str,
                 tags: dict, eval_batches: int = 20, batch_size: int = 8) -> dict:
    """Convert, evaluate and store an external model; returns its summary (`summary.json`)."""
    started = time.monotonic()
    model = load_external(source)
    bins = Bins(bins_dir)
    check_vocabulary(model, bins.meta["tokenizer"]["vocab_size"], source,
                     bins.meta["tokenizer"]["name"])
    block = min(model.config.block_size, *(ids.size - 2 for ids in bins.splits.values()))
    if block < 2:
        raise ExternalModelError(f"{bins_dir}: too few tokens to evaluate {source}")
    cfg = TrainConfig(bins_dir=str(bins_dir), out_dir=str(files.folder), preset=preset,
                      eval_batches=eval_batches, init_from=source, max_steps=0, tags=tags)
    losses = evaluate(model, bins, cfg, block, batch_size, torch.device("cpu"), nullcontext())
    val = bins.meta["splits"]["val"]
    bpb = bits_per_byte(losses["val"], val["tokens"], val["bytes"])
    state = {"model": model.state_dict(), "model_config": model.config.to_dict(), "step": 0,
             "tokens_seen": 0, "best_val_loss": losses["val"], "val_loss": losses["val"],
             "train_config": dataclasses.asdict(cfg), "bins_meta": bins.meta, "imported": source}
    for path in (files.last, files.best):
        save_checkpoint(state, path)
    write_text_atomic(files.metrics, json.dumps({"step": 0, "val_loss": losses["val"],
                                                 "eval_train_loss": losses["train"],
                                                 "val_bits_per_byte": bpb}) + "\n")
    summary = _summary(model, losses, bpb, preset, tags, bins, files, source, started)
    write_json_atomic(files.summary, summary)
    return summary


def _summary(model: GPT, losses: dict, bpb: float, preset: str, tags: dict, bins: Bins,
             files: CheckpointFiles, source: str, started: float) -> dict:
    return {
        "preset": preset, "recipe": "imported", **tags, "imported_from": source,
        "parameters": model.num_params(), "parameters_non_embedding": model.num_params(True),
        "model_config": model.config.to_dict(), "steps": 0, "steps_this_run": 0,
        "resumed_from_step": None, "tokens_seen": 0, "best_val_loss": losses["val"],
        "final_val_loss": losses["val"], "best_val_bits_per_byte": bpb,
        "final_val_bits_per_byte": bpb, "tokens_per_s": 0.0, "mfu": None,
        "wall_s": time.monotonic() - started, "stop_reason": "imported", "device": "cpu",
        "precision": "float32", "world_size": 1, "tokenizer": bins.meta["tokenizer"],
        **corpus_fields(bins.meta),
        "checkpoint": str(files.last), "best_checkpoint": str(files.best),
        "metrics": str(files.metrics),
    }
