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

Read top to bottom: the config (`TrainConfig`, in `train_config` so that Dagster and the `tsr`
command read its fields without loading torch), the compute (device, DDP, precision), where a
run starts from (recipe, weights), the run's two records (`Run`, fixed; `TrainState`, what
changes), data, model and optimizer (`setup_run`), resuming (`restore`), the loss curve and
throughput, one optimizer step, evaluation, the loop, the summary; `train` strings them
together and `main` is the command line. Shared with other code and kept apart: the model
(`gpt`), batches and the evaluation loss (`batches`, also used by imported models), the
optimizers, checkpoint files (`checkpoints`, also read by sampling and exports), the schedule
and flags (`train_config`) and the channel to Dagster Pipes and W&B (`telemetry`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import torch

from tsr_assets.core.atomic_files import write_json_atomic, write_text_atomic
from tsr_assets.core.devices import resolve_device
from tsr_assets.core.journal import Journal, read_jsonl
from tsr_assets.core.lake import CheckpointFiles
from tsr_assets.model.batches import Bins, evaluate
from tsr_assets.model.checkpoints import (
    CheckpointError,
    checkpoint_recipe,
    load_checkpoint,
    save_checkpoint,
)
from tsr_assets.model.gpt import GPT, GPTConfig
from tsr_assets.model.hf_import import ExternalModelError, is_nanogpt_checkpoint, load_external
from tsr_assets.model.optimizers import Optimizers, build_optimizers
from tsr_assets.model.presets import preset_of
from tsr_assets.model.telemetry import Telemetry
from tsr_assets.model.train_config import (
    DEFAULT_RECIPE,
    TrainConfig,
    bits_per_byte,
    check_config,
    lr_at,
    parse_args,
)
from tsr_assets.tokenizers.token_bins import corpus_fields

# ---------------------------------------------------------------------------------------------
# Compute: the device, the processes of a DDP run and the numeric precision


@dataclass
class Distributed:
    """Rank information (a single process is rank 0 of 1)."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that writes files and talks to Dagster."""
        return self.rank == 0


def setup_distributed(device_setting: str) -> tuple[Distributed, torch.device]:
    """Choose the device (`core.devices.resolve_device`) and, under torchrun, join the process
    group: NCCL with one GPU per local rank on CUDA, gloo on the CPU otherwise."""
    device = resolve_device(device_setting)
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return Distributed(), device
    import torch.distributed as dist

    dist_info = Distributed(int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", 0)),
                            int(os.environ["WORLD_SIZE"]))
    if device.type != "cuda":
        dist.init_process_group(backend="gloo")
        return dist_info, torch.device("cpu")
    dist.init_process_group(backend="nccl")
    torch.cuda.set_device(dist_info.local_rank)
    return dist_info, torch.device("cuda", dist_info.local_rank)


def teardown(dist_info: Distributed) -> None:
    """Leave the process group (nothing to do for one process)."""
    if dist_info.world_size > 1:
        import torch.distributed as dist

        dist.destroy_process_group()


def barrier(dist_info: Distributed) -> None:
    """Wait for every rank (nothing to do for one process)."""
    if dist_info.world_size > 1:
        import torch.distributed as dist

        dist.barrier()


def agree(local: bool, dist_info: Distributed, device: torch.device) -> bool:
    """Rank 0's answer, on every rank (so all ranks stop at the same step)."""
    if dist_info.world_size == 1:
        return local
    import torch.distributed as dist

    flag = torch.tensor([1 if local else 0], device=device)
    dist.broadcast(flag, src=0)
    return bool(flag.item())


def autocast_for(device: torch.device, dtype_setting: str) -> tuple[AbstractContextManager, str]:
    """The autocast context of a run and the name of its precision: `auto` is bf16 on CUDA
    that has it, fp16 on older CUDA (T4, P100), fp32 elsewhere."""
    precision = dtype_setting
    if precision == "auto":
        precision = ("float32" if device.type != "cuda"
                     else "bfloat16" if torch.cuda.is_bf16_supported() else "float16")
    if precision == "float32":
        return nullcontext(), precision
    return torch.autocast(device_type=device.type, dtype=getattr(torch, precision)), precision


# ---------------------------------------------------------------------------------------------
# Where a run starts from: its recipe and, for a fine-tune, its weights


def resolve_recipe(cfg: TrainConfig) -> str:
    """The run's recipe: the config's, else the preset's, else (resuming) the checkpoint's,
    else that of the weights it starts from, else DEFAULT_RECIPE. A config that contradicts a
    recipe-named preset is an error."""
    fixed = preset_of(cfg.preset, cfg.preset_shape).recipe
    if cfg.recipe and fixed and cfg.recipe != fixed:
        raise ValueError(f"preset {cfg.preset!r} is always trained with recipe {fixed!r}, "
                         f"but the config asks for {cfg.recipe!r}: drop `recipe` or pick the "
                         "preset without the suffix")
    resumed = checkpoint_recipe(CheckpointFiles(Path(cfg.out_dir)).last) if cfg.resume else None
    return cfg.recipe or fixed or resumed or init_recipe(cfg.init_from) or DEFAULT_RECIPE


def init_recipe(source: str | None) -> str | None:
    """The recipe of the weights a fine-tune starts from: a platform checkpoint's own, and
    nanogpt for GPT-2 and nanoGPT models made elsewhere (their architecture)."""
    if not source:
        return None
    path = Path(source).expanduser()
    if path.suffix == ".pt" and not is_nanogpt_checkpoint(path):
        return checkpoint_recipe(path)
    return "nanogpt"


def init_weights(source: str, device: torch.device) -> dict:
    """Weights to start from: a platform checkpoint, or a nanoGPT `.pt`, a `transformers`
    GPT-2 folder or a Hub id converted to the platform's layout."""
    path = Path(source).expanduser()
    if path.suffix == ".pt" and not is_nanogpt_checkpoint(path):
        return load_checkpoint(path, device)  # the platform's own (or a clear error)
    try:
        model = load_external(source)
    except ExternalModelError as exc:
        raise CheckpointError(str(exc)) from exc
    return {"model": model.state_dict(), "model_config": model.config.to_dict(), "step": 0}


# ---------------------------------------------------------------------------------------------
# The two records of a run: what stays fixed, and what changes (and a checkpoint restores)


@dataclass
class Run:
    """What stays fixed during one training run."""

    cfg: TrainConfig
    files: CheckpointFiles
    bins: Bins
    model_cfg: GPTConfig
    raw_model: GPT
    model: torch.nn.Module  # raw_model, compiled and/or wrapped in DDP
    optimizer: Optimizers
    autocast: AbstractContextManager
    precision: str
    dist: Distributed
    device: torch.device
    telemetry: Telemetry
    max_lr: float
    batch_size: int
    generator: torch.Generator
    started: float
    scaler: torch.amp.GradScaler | None = None
    #: The generator's state before the batch drawn last: that batch is drawn ahead of its
    #: step, so a checkpoint stores this state and a resume draws the same batch again.
    pending_rng: torch.Tensor | None = None

    @property
    def tokens_per_step(self) -> int:
        """Tokens one optimizer step consumes across every rank."""
        return (self.batch_size * self.model_cfg.block_size * self.cfg.grad_accum
                * self.dist.world_size)

    def batch(self, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
        """The next random training (or validation) batch."""
        self.pending_rng = self.generator.get_state()
        return self.bins.batch(split, self.batch_size, self.model_cfg.block_size,
                               self.generator, self.device)

    def val_bits_per_byte(self, loss: float) -> float:
        """Bits per byte of a val loss, from the val split's token and byte counts."""
        val = self.bins.meta["splits"]["val"]
        return bits_per_byte(loss, val["tokens"], val["bytes"])


@dataclass
class TrainState:
    """What changes as the run goes (and what a checkpoint restores)."""

    step: int = 0
    tokens_seen: int = 0
    best_val: float = math.inf
    resumed_from: int | None = None
    steps_this_run: int = 0
    last_eval: dict[str, float] = field(default_factory=dict)
    last_eval_step: int = -1
    tokens_per_s: float = 0.0
    mfu: float | None = None
    stop_reason: str = "max_steps"


# ---------------------------------------------------------------------------------------------
# Data, model and optimizer


def model_config_for(cfg: TrainConfig, vocab_size: int) -> GPTConfig:
    """The preset's model shape and the recipe's architecture, with the run's overrides
    (validated again after them)."""
    preset = preset_of(cfg.preset, cfg.preset_shape)
    model_cfg = preset.model_config(vocab_size, cfg.dropout, cfg.recipe)
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
    preset = preset_of(cfg.preset, cfg.preset_shape)
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


# ---------------------------------------------------------------------------------------------
# Resuming: a run continues a checkpoint of its own shape, never one of another corpus


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


def check_compatible(state: dict, model_cfg: GPTConfig, path: Path,
                     recipe: str | None = None) -> None:
    """A checkpoint's model shape must match the run's (dropout may differ)."""
    stored = GPTConfig(**state["model_config"]).to_dict()  # fields added since: defaults
    mismatched = {k: (stored.get(k), v) for k, v in model_cfg.to_dict().items()
                  if k != "dropout" and stored.get(k) != v}
    if not mismatched:
        return
    detail = ", ".join(f"{k}: checkpoint {a} vs run {b}" for k, (a, b) in mismatched.items())
    saved_recipe = state.get("recipe") or state.get("train_config", {}).get("recipe", "nanogpt")
    if recipe is not None and saved_recipe != recipe:
        raise CheckpointError(
            f"checkpoint {path} was trained with recipe {saved_recipe!r}, this run asks for "
            f"{recipe!r}: set recipe {saved_recipe!r} to continue it, resume: false to start "
            f"over, or train the preset `<shape>_{recipe}` to keep both side by side")
    raise CheckpointError(f"checkpoint {path} does not fit this run ({detail}); use a "
                          "matching preset/tokenizer or another out_dir")


def archive_other_corpus(files: CheckpointFiles, bins_meta: dict) -> str | None:
    """When `last.pt` was trained on another corpus than `bins_meta` describes, move that
    run's files to `<out_dir>/<corpus>_corpus/` (a model never continues on another corpus,
    and nothing trained is lost) and return the corpus it was trained on."""
    saved = load_checkpoint(files.last, torch.device("cpu"))
    was = corpus_fields(saved.get("bins_meta", {}))["corpus"]
    if was == corpus_fields(bins_meta)["corpus"]:
        return None
    archive = files.corpus_archive(was)
    archive.folder.mkdir(parents=True, exist_ok=True)
    for path, kept in zip(files.run_files, archive.run_files, strict=True):
        if path.is_file():
            path.replace(kept)
    return was


def wrap_model(run: Run) -> None:
    """Compile and/or wrap the model in DDP, as configured."""
    if run.cfg.compile:
        run.model = torch.compile(run.model)
    if run.dist.world_size > 1:
        from torch.nn.parallel import DistributedDataParallel

        run.model = DistributedDataParallel(
            run.model, device_ids=[run.device.index] if run.device.type == "cuda" else None)


# ---------------------------------------------------------------------------------------------
# What a run writes as it goes: the loss curve (`metrics.jsonl`, W&B) and its throughput


class MetricsLog:
    """`metrics.jsonl` (rank 0 only) and W&B. Per-step losses stay on the device until
    `flush`, so the CPU does not wait for the GPU at every step."""

    def __init__(self, run: Run, history: list[dict]) -> None:
        self._telemetry = run.telemetry
        self._grad_accum = run.cfg.grad_accum
        self._journal = None
        if run.dist.is_main:
            write_text_atomic(run.files.metrics, "".join(json.dumps(r) + "\n" for r in history))
            self._journal = Journal(run.files.metrics)
        self._pending: list[tuple[dict, torch.Tensor]] = []

    def write(self, row: dict) -> None:
        """Append one row now."""
        if self._journal:
            self._journal.write(row)
        self._telemetry.wandb_log(row)

    def add_step(self, row: dict, loss: torch.Tensor) -> None:
        """Queue a step's row; its loss is read at the next flush."""
        self._pending.append((row, loss.detach()))

    def flush(self) -> float:
        """Write the queued rows with their losses; returns the last loss."""
        if not self._pending:
            return math.nan
        losses = (torch.stack([t for _, t in self._pending]) * self._grad_accum).tolist()
        for (row, _), value in zip(self._pending, losses, strict=True):
            self.write({**row, "train_loss": value})
        self._pending.clear()
        return losses[-1]

    def close(self) -> None:
        """Close the file."""
        if self._journal:
            self._journal.close()


def read_metrics(path: Path, up_to_step: int | None = None) -> list[dict]:
    """Rows of `metrics.jsonl` (all, or those at or before `up_to_step`)."""
    return [row for row in read_jsonl(path)
            if up_to_step is None or row.get("step", 0) <= up_to_step]


#: Dense bf16 peak FLOP/s by device name fragment (first match wins), for MFU.
PEAK_FLOPS = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40": 181e12, "L4": 121e12,
              "A10": 125e12, "4090": 165e12, "3090": 71e12, "V100": 125e12, "T4": 65e12}


def peak_flops_for(device: torch.device, configured: float | None) -> float | None:
    """The peak FLOP/s MFU is measured against: configured, else a known GPU's, else None."""
    if configured:
        return configured
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for key, peak in PEAK_FLOPS.items() if key in name), None)


class Throughput:
    """Tokens per second and MFU over the steps since the last progress line."""

    def __init__(self, run: Run) -> None:
        self.peak = peak_flops_for(run.device, run.cfg.peak_flops)
        self._flops_per_token = run.raw_model.flops_per_token()
        self._world_size = run.dist.world_size
        self._device = run.device
        self._started, self.tokens = time.monotonic(), 0

    def measure(self, state: TrainState) -> None:
        """Update `state.tokens_per_s` and `state.mfu`, and start a new window."""
        if self._device.type == "cuda":
            torch.cuda.synchronize()
        elapsed = time.monotonic() - self._started
        state.tokens_per_s = self.tokens / elapsed if elapsed > 0 else 0.0
        state.mfu = (self._flops_per_token * state.tokens_per_s / (self.peak * self._world_size)
                     if self.peak else None)
        self._started, self.tokens = time.monotonic(), 0


# ---------------------------------------------------------------------------------------------
# The loop: one optimizer step, evaluation, checkpoints


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


# ---------------------------------------------------------------------------------------------
# The end of a run, and the whole run


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
