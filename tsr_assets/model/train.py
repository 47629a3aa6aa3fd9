"""Standalone trainer: `python -m tsr_assets.model.train --bins-dir ... --out-dir ...`.

Also runs under `torchrun` (DDP: NCCL on GPU, gloo on CPU) and under Dagster Pipes, where rank
0 streams logs and reports the materialization; launched standalone it only prints.

- Data: `train.bin` / `val.bin` / `meta.json` from `token_bins`; random contiguous windows.
- Recipes: `nanogpt` (GPT-2, AdamW) or `modern` (RMSNorm, rotary positions, QK-norm, SwiGLU,
  untied head, zero-initialised projections; Muon for the blocks' matrices, AdamW for the rest).
- Optimization: linear warmup then cosine or warmup-stable-decay to `min_lr_ratio`, following
  the wall clock when `max_seconds` is set; gradient accumulation and clipping; bf16 autocast on
  CUDA (fp16 with a gradient scaler where bf16 is missing), optional `torch.compile`.
- Evaluation every `eval_every` steps: val loss and bits per byte; the best model is kept.
- Stops at `max_steps` or after `max_seconds`, whichever comes first. Seeded.
- Checkpoints (`last.pt`, `best.pt`) are written atomically and hold model, optimizer, step,
  configs and the bins' meta; a rerun with the same `out_dir` resumes from `last.pt`, and the
  loss curve (`metrics.jsonl`) continues from that step.

Read top to bottom: `setup_run` builds what stays fixed for a run (`training_run.Run`),
`restore` resumes the state, `train_step` does one optimizer step, `run_eval` evaluates
(`validation_loss`) and keeps the best checkpoint, `train_loop` steps on schedule,
`write_summary` ends the run; `train` strings them together. What a run starts from is in
`starting_point`, what a checkpoint's history allows in `checkpoints`, the loss curve and
throughput in `training_log`, the command-line flags in `train_config`.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import torch

from tsr_assets.core.atomic_files import write_json_atomic
from tsr_assets.core.lake import CheckpointFiles
from tsr_assets.model.batches import Bins
from tsr_assets.model.checkpoints import (
    CheckpointError,
    archive_other_corpus,
    check_compatible,
    load_checkpoint,
    save_checkpoint,
)
from tsr_assets.model.distributed import (
    Distributed,
    agree,
    barrier,
    setup_distributed,
    teardown,
)
from tsr_assets.model.gpt import GPT, GPTConfig
from tsr_assets.model.optimizers import build_optimizers
from tsr_assets.model.precision import autocast_for
from tsr_assets.model.presets import get_preset
from tsr_assets.model.starting_point import init_weights, resolve_recipe
from tsr_assets.model.telemetry import Telemetry
from tsr_assets.model.train_config import (
    TrainConfig,
    check_config,
    lr_at,
    parse_args,
)
from tsr_assets.model.training_log import MetricsLog, Throughput, read_metrics
from tsr_assets.model.training_run import Run, TrainState
from tsr_assets.model.validation_loss import evaluate
from tsr_assets.tokenizers.token_bins import corpus_fields


def model_config_for(cfg: TrainConfig, vocab_size: int) -> GPTConfig:
    """The preset's model shape and the recipe's architecture, with the run's overrides
    (validated again after them)."""
    model_cfg = get_preset(cfg.preset).model_config(vocab_size, cfg.dropout, cfg.recipe)
    for name in ("n_layer", "n_embd", "n_head", "block_size"):
        if getattr(cfg, name) is not None:
            setattr(model_cfg, name, getattr(cfg, name))
    return GPTConfig(**model_cfg.to_dict())


def setup_run(cfg: TrainConfig, dist_info: Distributed, device: torch.device,
              telemetry: Telemetry) -> Run:
    """Bins, model, optimizer and precision of a run (nothing restored yet)."""
    started = time.monotonic()
    files = CheckpointFiles(Path(cfg.out_dir))
    files.folder.mkdir(parents=True, exist_ok=True)
    bins = Bins(Path(cfg.bins_dir))
    preset = get_preset(cfg.preset)
    model_cfg = model_config_for(cfg, bins.meta["tokenizer"]["vocab_size"])
    bins.check_fits(model_cfg.block_size)
    torch.manual_seed(cfg.seed + dist_info.rank)
    generator = torch.Generator().manual_seed(cfg.seed + 1000 * dist_info.rank)
    raw_model = GPT(model_cfg).to(device)
    max_lr = cfg.learning_rate or preset.learning_rate
    optimizer = build_optimizers(raw_model, cfg.recipe, max_lr, cfg.weight_decay,
                                 (cfg.beta1, cfg.beta2), device.type, cfg.muon_lr,
                                 cfg.muon_momentum)
    autocast, precision = autocast_for(device, cfg.dtype)
    scaler = torch.amp.GradScaler(device.type) if precision == "float16" else None
    return Run(cfg=cfg, files=files, bins=bins, model_cfg=model_cfg, raw_model=raw_model,
               model=raw_model, optimizer=optimizer, autocast=autocast, precision=precision,
               dist=dist_info, device=device, telemetry=telemetry, max_lr=max_lr,
               batch_size=cfg.batch_size or preset.batch_size, generator=generator,
               started=started, scaler=scaler)


def restore(run: Run) -> TrainState:
    """Resume from `last.pt` (or start from `init_from`'s weights); trim the loss curve."""
    cfg, state = run.cfg, TrainState()
    if run.dist.is_main:  # a run killed while saving leaves a hidden temp file; drop it
        for stale in run.files.folder.glob(".*.pt.tmp-*"):
            stale.unlink(missing_ok=True)
    if cfg.resume and run.files.last.is_file() and run.dist.is_main:
        was = archive_other_corpus(run.files, run.bins.meta)
        if was:
            run.telemetry.log(f"the checkpoint here was trained on the {was!r} corpus; it "
                              f"moved to {run.files.corpus_archive(was).folder}, and a new "
                              "model trains on this corpus")
    barrier(run.dist)
    if cfg.resume and run.files.last.is_file():
        saved = load_checkpoint(run.files.last, run.device)
        check_compatible(saved, run.model_cfg, run.files.last, cfg.recipe)
        run.raw_model.load_state_dict(saved["model"])
        run.optimizer.load_state_dict(saved["optimizer"])
        if run.scaler is not None and saved.get("scaler"):
            run.scaler.load_state_dict(saved["scaler"])
        state.step, state.tokens_seen = saved["step"], saved.get("tokens_seen", 0)
        state.best_val = saved.get("best_val_loss", math.inf)
        if "generator" in saved and run.dist.world_size == 1:
            run.generator.set_state(saved["generator"])
        state.resumed_from = state.step
        run.telemetry.log(f"resumed from {run.files.last} at step {state.step}")
    elif cfg.init_from:
        saved = init_weights(cfg.init_from, run.device)
        check_compatible(saved, run.model_cfg, Path(cfg.init_from))
        run.raw_model.load_state_dict(saved["model"])
        run.telemetry.log(f"initialized weights from {cfg.init_from} (step {saved['step']})")
    return state


def wrap_model(run: Run) -> None:
    """Compile and/or wrap the model in DDP, as configured."""
    if run.cfg.compile:
        run.model = torch.compile(run.model)
    if run.dist.world_size > 1:
        from torch.nn.parallel import DistributedDataParallel

        run.model = DistributedDataParallel(
            run.model, device_ids=[run.device.index] if run.device.type == "cuda" else None)


def checkpoint_state(run: Run, state: TrainState, val_loss: float | None) -> dict:
    """Everything a resume needs."""
    return {"model": run.raw_model.state_dict(), "optimizer": run.optimizer.state_dict(),
            "model_config": run.model_cfg.to_dict(), "train_config": dataclasses.asdict(run.cfg),
            "step": state.step, "tokens_seen": state.tokens_seen,
            "best_val_loss": state.best_val, "val_loss": val_loss, "bins_meta": run.bins.meta,
            "generator": run.generator.get_state() if run.pending_rng is None else run.pending_rng,
            "recipe": run.cfg.recipe,
            "scaler": run.scaler.state_dict() if run.scaler is not None else None}


def train_step(run: Run, x: torch.Tensor, y: torch.Tensor, lr: float
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One optimizer step over `grad_accum` micro-batches; returns the last micro-batch's
    (scaled) loss and the next batch."""
    run.optimizer.set_lr_factor(lr / run.max_lr)
    accum, scaler = run.cfg.grad_accum, run.scaler
    for micro in range(accum):
        last = micro == accum - 1
        no_sync = run.dist.world_size > 1 and not last
        with run.model.no_sync() if no_sync else nullcontext(), run.autocast:
            _, loss = run.model(x, y)
            loss = loss / accum
        x, y = run.batch()
        (scaler.scale(loss) if scaler is not None else loss).backward()
    if scaler is not None:
        run.optimizer.unscale(scaler)
    if run.cfg.grad_clip:
        torch.nn.utils.clip_grad_norm_(run.model.parameters(), run.cfg.grad_clip)
    run.optimizer.step(scaler)
    if scaler is not None:
        scaler.update()
    run.optimizer.zero_grad(set_to_none=True)
    return loss, x, y


def run_eval(run: Run, state: TrainState, metrics: MetricsLog) -> None:
    """Evaluate on rank 0 (others wait), write the val row, keep the best checkpoint."""
    state.last_eval = (evaluate(run.raw_model, run.bins, run.cfg, run.model_cfg.block_size,
                                run.batch_size, run.device, run.autocast)
                       if run.dist.is_main else {})
    state.last_eval_step = state.step
    barrier(run.dist)
    if not run.dist.is_main:
        return
    val = state.last_eval["val"]
    bpb = run.val_bits_per_byte(val)
    metrics.write({"step": state.step, "tokens_seen": state.tokens_seen,
                   "elapsed_s": time.monotonic() - run.started, "val_loss": val,
                   "eval_train_loss": state.last_eval["train"], "val_bits_per_byte": bpb})
    run.telemetry.log(f"step {state.step}: val loss {val:.4f}, {bpb:.4f} bits/byte")
    if val < state.best_val:
        state.best_val = val
        if state.step:  # an untrained model never replaces a checkpoint
            save_checkpoint(checkpoint_state(run, state, val), run.files.best)


def train_loop(run: Run, state: TrainState, metrics: MetricsLog, throughput: Throughput) -> None:
    """Step until `max_steps` or the wall-clock budget; evaluate and checkpoint on schedule."""
    cfg = run.cfg
    checkpoint_every = cfg.checkpoint_every or cfg.eval_every
    loop_started = time.monotonic()
    x, y = run.batch()
    while state.step < cfg.max_steps:
        if cfg.max_seconds is not None and agree(
                time.monotonic() - loop_started >= cfg.max_seconds, run.dist, run.device):
            state.stop_reason = "max_seconds"
            break
        lr = lr_at(state.step, cfg, run.max_lr, time.monotonic() - loop_started)
        loss, x, y = train_step(run, x, y, lr)
        state.step += 1
        state.steps_this_run += 1
        state.tokens_seen += run.tokens_per_step
        throughput.tokens += run.tokens_per_step
        metrics.add_step({"step": state.step, "lr": lr, "tokens_seen": state.tokens_seen,
                          "elapsed_s": time.monotonic() - run.started}, loss)
        progress_now = state.step % cfg.log_every == 0 or state.step == 1
        evaluate_now = state.step % cfg.eval_every == 0 or state.step == cfg.max_steps
        checkpoint_now = state.step % checkpoint_every == 0
        if progress_now or evaluate_now or checkpoint_now:
            flushed = metrics.flush()
            if progress_now:
                throughput.measure(state)
                run.telemetry.log(
                    f"step {state.step}: loss {flushed:.4f}, lr {lr:.2e}, "
                    f"{state.tokens_per_s:,.0f} tok/s"
                    + (f", MFU {state.mfu:.1%}" if state.mfu else ""))
        if evaluate_now:
            run_eval(run, state, metrics)
        if run.dist.is_main and checkpoint_now:
            save_checkpoint(checkpoint_state(run, state, state.last_eval.get("val")),
                            run.files.last)
    metrics.flush()


def write_summary(run: Run, state: TrainState, throughput: Throughput) -> dict:
    """Save the final checkpoint and write `summary.json` (rank 0). A run that made no
    optimizer step saves no checkpoint (its summary says `steps: 0`, and the checkpoint asset
    fails on it)."""
    if state.step:
        save_checkpoint(checkpoint_state(run, state, state.last_eval.get("val")),
                        run.files.last)
    summary = {
        "preset": run.cfg.preset, "recipe": run.cfg.recipe, **run.cfg.tags,
        "parameters": run.raw_model.num_params(),
        "parameters_non_embedding": run.raw_model.num_params(True),
        "model_config": run.model_cfg.to_dict(),
        "steps": state.step, "steps_this_run": state.steps_this_run,
        "resumed_from_step": state.resumed_from, "tokens_seen": state.tokens_seen,
        "best_val_loss": state.best_val, "final_val_loss": state.last_eval.get("val"),
        "best_val_bits_per_byte": run.val_bits_per_byte(state.best_val),
        "final_val_bits_per_byte": run.val_bits_per_byte(state.last_eval["val"]),
        "tokens_per_s": state.tokens_per_s, "mfu": state.mfu, "peak_flops": throughput.peak,
        "wall_s": time.monotonic() - run.started, "stop_reason": state.stop_reason,
        "device": str(run.device), "precision": run.precision,
        "world_size": run.dist.world_size, "compiled": run.cfg.compile,
        "learning_rate": run.max_lr, "batch_size": run.batch_size,
        "tokenizer": run.bins.meta["tokenizer"], **corpus_fields(run.bins.meta),
        "checkpoint": str(run.files.last), "best_checkpoint": str(run.files.best),
        "metrics": str(run.files.metrics),
    }
    write_json_atomic(run.files.summary, summary)
    if not state.step:
        return summary
    run.telemetry.log_artifact(
        f"{run.cfg.wandb_run_name or run.cfg.preset}-checkpoint", "model",
        [run.files.checkpoint("best"), run.files.summary])
    run.telemetry.report_summary(summary)
    return summary


def train(cfg: TrainConfig) -> dict:
    """Run one training run and return its summary (also written to `out_dir/summary.json`)."""
    if not cfg.bins_dir or not cfg.out_dir:
        raise ValueError("bins_dir and out_dir are required")
    check_config(cfg)
    cfg = dataclasses.replace(cfg, recipe=resolve_recipe(cfg))
    dist_info, device = setup_distributed(cfg.device)
    telemetry = Telemetry(enabled=dist_info.is_main, cfg=cfg)
    try:
        run = setup_run(cfg, dist_info, device, telemetry)
        state = restore(run)
        metrics = MetricsLog(run, read_metrics(run.files.metrics, state.step))
        wrap_model(run)
        telemetry.log(
            f"{run.raw_model.num_params():,} parameters ({run.raw_model.num_params(True):,} "
            f"without embeddings), {run.tokens_per_step:,} tokens/step on {device} "
            f"({run.precision}, world size {dist_info.world_size})")
        telemetry.start_wandb(run.model_cfg.to_dict())
        throughput = Throughput(run)
        try:
            train_loop(run, state, metrics, throughput)
            if state.last_eval_step != state.step:
                run_eval(run, state, metrics)
        finally:
            metrics.close()
        return write_summary(run, state, throughput) if dist_info.is_main else {}
    finally:
        telemetry.close()
        teardown(dist_info)


def main(argv: list[str] | None = None) -> None:
    """Entry point; exits with status 2 and a one-line reason on bad input."""
    cfg = parse_args(argv)
    try:
        train(cfg)
    except (CheckpointError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc


if __name__ == "__main__":
    main()
