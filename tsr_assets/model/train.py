"""Standalone trainer: `python -m tsr_assets.model.train --bins-dir ... --out-dir ...`.

Also runs under `torchrun` (DDP: NCCL on GPU, gloo on CPU) and under Dagster Pipes, where rank
0 streams logs and reports the materialization; launched standalone it only prints.

- Data: `train.bin` / `val.bin` / `meta.json` from `token_bins`; random contiguous windows.
- Optimization: AdamW (fused on CUDA), linear warmup then cosine decay, gradient
  accumulation, gradient clipping, bf16 autocast on CUDA, optional `torch.compile`.
- Evaluation every `eval_every` steps: val loss and bits per byte; the best model is kept.
- Stops at `max_steps` or after `max_seconds`, whichever comes first. Seeded.
- Checkpoints (`last.pt`, `best.pt`) are written atomically and hold model, optimizer, step,
  configs and the bins' meta; a rerun with the same `out_dir` resumes from `last.pt`, and the
  loss curve (`metrics.jsonl`) continues from that step.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from tsr_assets.atomic_files import write_json_atomic, write_text_atomic
from tsr_assets.jsonl_files import read_jsonl
from tsr_assets.model.checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from tsr_assets.model.gpt import GPT, GPTConfig
from tsr_assets.model.presets import get_preset
from tsr_assets.model.telemetry import Telemetry
from tsr_assets.tokenizers.token_bins import open_bins, read_meta

# Dense bf16 peak FLOP/s by device name fragment (first match wins), for MFU.
PEAK_FLOPS = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40": 181e12, "L4": 121e12,
              "A10": 125e12, "4090": 165e12, "3090": 71e12, "V100": 125e12, "T4": 65e12}


@dataclass
class TrainConfig:
    """Everything one training run needs; command-line flags mirror the field names."""

    bins_dir: str = ""
    out_dir: str = ""
    preset: str = "tiny"
    # Overrides of the preset's shape and settings (None: the preset's value).
    n_layer: int | None = None
    n_embd: int | None = None
    n_head: int | None = None
    block_size: int | None = None
    learning_rate: float | None = None
    batch_size: int | None = None
    dropout: float = 0.0
    grad_accum: int = 1
    max_steps: int = 2000
    max_seconds: float | None = None
    warmup_steps: int = 100
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0
    eval_every: int = 100
    eval_batches: int = 20
    checkpoint_every: int | None = None  # steps; default: at every evaluation
    log_every: int = 10
    seed: int = 1337
    device: str = "auto"  # auto, cpu, cuda, cuda:N
    dtype: str = "auto"  # auto (bf16 on CUDA if supported, else fp32), float32, bfloat16
    compile: bool = False
    resume: bool = True  # continue from out_dir/last.pt if present
    init_from: str | None = None  # start from this checkpoint's weights (fine-tune)
    peak_flops: float | None = None  # device peak for MFU; default by GPU name, none on CPU
    wandb_project: str | None = None
    wandb_run_name: str | None = None
    wandb_mode: str | None = None  # online, offline; default offline without WANDB_API_KEY
    tags: dict = field(default_factory=dict)  # stored in the summary (language, tokenizer...)


def bits_per_byte(loss_nats: float, tokens: int, nbytes: int) -> float:
    """Bits per UTF-8 byte: mean loss per token (nats) times tokens per byte, in bits.

    Comparable across tokenizers, unlike per-token loss. `tokens` counts the bins' tokens
    including the bos/eos framing, `nbytes` the stories' UTF-8 bytes.
    """
    if nbytes <= 0:
        raise ValueError("no bytes: cannot compute bits per byte")
    return loss_nats * tokens / nbytes / math.log(2)


def lr_at(step: int, cfg: TrainConfig, max_lr: float) -> float:
    """Linear warmup to `max_lr`, then cosine decay to `min_lr_ratio * max_lr` at max_steps."""
    min_lr = max_lr * cfg.min_lr_ratio
    if step < cfg.warmup_steps:
        return max_lr * (step + 1) / cfg.warmup_steps
    if step >= cfg.max_steps:
        return min_lr
    progress = (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (max_lr - min_lr)


class Bins:
    """The token bins of one (language, tokenizer) as memmaps, and batches drawn from them."""

    def __init__(self, folder: Path) -> None:
        self.meta = read_meta(folder)
        self.splits = {split: open_bins(folder, split, self.meta) for split in ("train", "val")}

    def check_fits(self, block_size: int) -> None:
        """Both splits must hold more tokens than one window."""
        for split, ids in self.splits.items():
            if ids.size <= block_size + 1:
                raise ValueError(
                    f"{split}.bin has {ids.size} tokens, fewer than block_size + 1 = "
                    f"{block_size + 1}; add stories, raise val_share, or lower block_size")

    def batch(self, split: str, batch_size: int, block_size: int, generator: torch.Generator,
              device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """`batch_size` random windows of `block_size` tokens and their next-token targets."""
        ids = self.splits[split]
        starts = torch.randint(ids.size - block_size - 1, (batch_size,), generator=generator)
        windows = np.stack([ids[s:s + block_size + 1] for s in starts.tolist()]).astype(np.int64)
        xy = torch.from_numpy(windows)
        x, y = xy[:, :-1], xy[:, 1:]
        if device.type == "cuda":
            return (x.pin_memory().to(device, non_blocking=True),
                    y.pin_memory().to(device, non_blocking=True))
        return x.to(device), y.to(device)


@dataclass
class Distributed:
    """Rank information (a single process is rank 0 of 1)."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup_distributed(device_setting: str) -> tuple[Distributed, torch.device]:
    """Initialize DDP under torchrun (NCCL on CUDA, gloo on CPU) and choose the device."""
    want_cuda = device_setting.startswith("cuda") or (
        device_setting == "auto" and torch.cuda.is_available())
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:
        import torch.distributed as dist

        dist_info = Distributed(int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", 0)),
                                int(os.environ["WORLD_SIZE"]))
        dist.init_process_group(backend="nccl" if want_cuda else "gloo")
        if want_cuda:
            torch.cuda.set_device(dist_info.local_rank)
            return dist_info, torch.device("cuda", dist_info.local_rank)
        return dist_info, torch.device("cpu")
    if want_cuda:
        return Distributed(), torch.device(device_setting if device_setting != "auto" else "cuda")
    return Distributed(), torch.device("cpu")


def peak_flops_for(device: torch.device, configured: float | None) -> float | None:
    """The peak FLOP/s MFU is measured against: configured, else a known GPU's, else None."""
    if configured:
        return configured
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for key, peak in PEAK_FLOPS.items() if key in name), None)


def _autocast(device: torch.device, dtype_setting: str):
    use_bf16 = dtype_setting == "bfloat16" or (
        dtype_setting == "auto" and device.type == "cuda" and torch.cuda.is_bf16_supported())
    if use_bf16:
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16), "bfloat16"
    return nullcontext(), "float32"


@torch.no_grad()
def evaluate(model: GPT, bins: Bins, cfg: TrainConfig, block_size: int, batch_size: int,
             device: torch.device, autocast) -> dict[str, float]:
    """Mean loss on the same `eval_batches` windows of each split every time (fixed seed)."""
    model.eval()
    out = {}
    for split in ("train", "val"):
        generator = torch.Generator().manual_seed(cfg.seed + 10_000)
        losses = []
        for _ in range(cfg.eval_batches):
            x, y = bins.batch(split, batch_size, block_size, generator, device)
            with autocast:
                _, loss = model(x, y)
            losses.append(loss.item())
        out[split] = float(np.mean(losses))
    model.train()
    return out


def read_metrics(path: Path, up_to_step: int | None = None) -> list[dict]:
    """Rows of `metrics.jsonl` (all, or those at or before `up_to_step`)."""
    return [row for row in read_jsonl(path)
            if up_to_step is None or row.get("step", 0) <= up_to_step]


def train(cfg: TrainConfig) -> dict:
    """Run one training run and return its summary (also written to `out_dir/summary.json`)."""
    if not cfg.bins_dir or not cfg.out_dir:
        raise ValueError("bins_dir and out_dir are required")
    dist_info, device = setup_distributed(cfg.device)
    telemetry = Telemetry(enabled=dist_info.is_main, cfg=cfg)
    try:
        return _train(cfg, dist_info, device, telemetry)
    finally:
        telemetry.close()
        if dist_info.world_size > 1:
            import torch.distributed as dist

            dist.destroy_process_group()


def _train(cfg: TrainConfig, dist_info: Distributed, device: torch.device,
           telemetry: Telemetry) -> dict:
    started = time.monotonic()
    out_dir = Path(cfg.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    bins = Bins(Path(cfg.bins_dir))
    preset = get_preset(cfg.preset)
    vocab_size = bins.meta["tokenizer"]["vocab_size"]
    model_cfg = preset.model_config(vocab_size, cfg.dropout)
    for name in ("n_layer", "n_embd", "n_head", "block_size"):
        if getattr(cfg, name) is not None:
            setattr(model_cfg, name, getattr(cfg, name))
    model_cfg = GPTConfig(**model_cfg.to_dict())  # re-validate after overrides
    max_lr = cfg.learning_rate or preset.learning_rate
    batch_size = cfg.batch_size or preset.batch_size
    bins.check_fits(model_cfg.block_size)

    torch.manual_seed(cfg.seed + dist_info.rank)
    generator = torch.Generator().manual_seed(cfg.seed + 1000 * dist_info.rank)
    model = GPT(model_cfg).to(device)
    optimizer = model.configure_optimizer(cfg.weight_decay, max_lr, (cfg.beta1, cfg.beta2),
                                          device.type)
    step, tokens_seen, best_val = 0, 0, math.inf
    resumed_from = None
    last_path, best_path = out_dir / "last.pt", out_dir / "best.pt"
    if dist_info.is_main:  # a run killed while saving leaves a hidden temp file; drop it
        for stale in out_dir.glob(".*.pt.tmp-*"):
            stale.unlink(missing_ok=True)
    if cfg.resume and last_path.is_file():
        state = load_checkpoint(last_path, device)
        _check_compatible(state, model_cfg, last_path)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step, tokens_seen = state["step"], state.get("tokens_seen", 0)
        best_val = state.get("best_val_loss", math.inf)
        if "generator" in state and dist_info.world_size == 1:
            generator.set_state(state["generator"])
        resumed_from = step
        telemetry.log(f"resumed from {last_path} at step {step}")
    elif cfg.init_from:
        state = load_checkpoint(cfg.init_from, device)
        _check_compatible(state, model_cfg, Path(cfg.init_from))
        model.load_state_dict(state["model"])
        telemetry.log(f"initialized weights from {cfg.init_from} (step {state['step']})")

    metrics_path = out_dir / "metrics.jsonl"
    history = read_metrics(metrics_path, step)
    if dist_info.is_main:
        write_text_atomic(metrics_path, "".join(json.dumps(r) + "\n" for r in history))

    autocast, precision = _autocast(device, cfg.dtype)
    raw_model = model
    if cfg.compile:
        model = torch.compile(model)
    if dist_info.world_size > 1:
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda"
                                        else None)
    tokens_per_step = batch_size * model_cfg.block_size * cfg.grad_accum * dist_info.world_size
    peak = peak_flops_for(device, cfg.peak_flops)
    flops_per_token = raw_model.flops_per_token()
    split_meta = bins.meta["splits"]["val"]
    checkpoint_every = cfg.checkpoint_every or cfg.eval_every
    telemetry.log(
        f"{raw_model.num_params():,} parameters ({raw_model.num_params(True):,} without "
        f"embeddings), {tokens_per_step:,} tokens/step on {device} ({precision}, "
        f"world size {dist_info.world_size})"
    )
    telemetry.start_wandb(model_cfg.to_dict())

    def checkpoint_state(val_loss: float | None) -> dict:
        return {"model": raw_model.state_dict(), "optimizer": optimizer.state_dict(),
                "model_config": model_cfg.to_dict(), "train_config": dataclasses.asdict(cfg),
                "step": step, "tokens_seen": tokens_seen, "best_val_loss": best_val,
                "val_loss": val_loss, "bins_meta": bins.meta, "generator": generator.get_state()}

    metrics_file = metrics_path.open("a", encoding="utf-8") if dist_info.is_main else None
    pending: list[tuple[dict, torch.Tensor]] = []

    def write_row(row: dict) -> None:
        if metrics_file:
            metrics_file.write(json.dumps(row) + "\n")
            metrics_file.flush()
        telemetry.wandb_log(row)

    def flush() -> float:
        """Write the pending per-step rows with their losses; returns the last loss."""
        if not pending:
            return math.nan
        losses = (torch.stack([t for _, t in pending]) * cfg.grad_accum).tolist()
        for (row, _), value in zip(pending, losses, strict=True):
            write_row({**row, "train_loss": value})
        pending.clear()
        return losses[-1]

    last_eval: dict[str, float] = {}
    window_started, window_tokens = time.monotonic(), 0
    tokens_per_s, mfu, stop_reason = 0.0, None, "max_steps"
    train_started = time.monotonic()
    steps_this_run = 0
    last_eval_step = -1
    x, y = bins.batch("train", batch_size, model_cfg.block_size, generator, device)
    while step < cfg.max_steps:
        if cfg.max_seconds is not None and _should_stop(
                time.monotonic() - train_started >= cfg.max_seconds, dist_info, device):
            stop_reason = "max_seconds"
            break
        lr = lr_at(step, cfg, max_lr)
        for group in optimizer.param_groups:
            group["lr"] = lr
        for micro in range(cfg.grad_accum):
            sync = micro == cfg.grad_accum - 1
            context = (model.no_sync() if dist_info.world_size > 1 and not sync else nullcontext())
            with context, autocast:
                _, loss = model(x, y)
                loss = loss / cfg.grad_accum
            x, y = bins.batch("train", batch_size, model_cfg.block_size, generator, device)
            loss.backward()
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        steps_this_run += 1
        tokens_seen += tokens_per_step
        window_tokens += tokens_per_step
        # The loss stays on the device until the next flush: reading it every step would make
        # the CPU wait for the GPU at every step.
        pending.append(({"step": step, "lr": lr, "tokens_seen": tokens_seen,
                         "elapsed_s": time.monotonic() - started}, loss.detach()))
        evaluate_now = step % cfg.eval_every == 0 or step == cfg.max_steps
        checkpoint_now = step % checkpoint_every == 0
        if step % cfg.log_every == 0 or step == 1 or evaluate_now or checkpoint_now:
            flushed = flush()
            if step % cfg.log_every == 0 or step == 1:
                if device.type == "cuda":
                    torch.cuda.synchronize()
                elapsed = time.monotonic() - window_started
                tokens_per_s = window_tokens / elapsed if elapsed > 0 else 0.0
                mfu = (flops_per_token * tokens_per_s / (peak * dist_info.world_size)
                       if peak else None)
                window_started, window_tokens = time.monotonic(), 0
                telemetry.log(f"step {step}: loss {flushed:.4f}, lr {lr:.2e}, "
                              f"{tokens_per_s:,.0f} tok/s" + (f", MFU {mfu:.1%}" if mfu else ""))
        if evaluate_now:
            last_eval = _evaluate_on_main(raw_model, bins, cfg, model_cfg.block_size, batch_size,
                                          device, autocast, dist_info)
            last_eval_step = step
            if dist_info.is_main:
                bpb = bits_per_byte(last_eval["val"], split_meta["tokens"], split_meta["bytes"])
                write_row({"step": step, "tokens_seen": tokens_seen,
                           "elapsed_s": time.monotonic() - started, "val_loss": last_eval["val"],
                           "eval_train_loss": last_eval["train"], "val_bits_per_byte": bpb})
                telemetry.log(f"step {step}: val loss {last_eval['val']:.4f}, {bpb:.4f} bits/byte")
                if last_eval["val"] < best_val:
                    best_val = last_eval["val"]
                    save_checkpoint(checkpoint_state(last_eval["val"]), best_path)
        if dist_info.is_main and checkpoint_now:
            save_checkpoint(checkpoint_state(last_eval.get("val")), last_path)
    flush()
    # Final evaluation (if the last step was not one) and final checkpoint.
    if last_eval_step != step:
        last_eval = _evaluate_on_main(raw_model, bins, cfg, model_cfg.block_size, batch_size,
                                      device, autocast, dist_info)
        if dist_info.is_main and last_eval:
            if last_eval["val"] < best_val:
                best_val = last_eval["val"]
                save_checkpoint(checkpoint_state(last_eval["val"]), best_path)
            bpb = bits_per_byte(last_eval["val"], split_meta["tokens"], split_meta["bytes"])
            write_row({"step": step, "tokens_seen": tokens_seen,
                       "elapsed_s": time.monotonic() - started, "val_loss": last_eval["val"],
                       "eval_train_loss": last_eval["train"], "val_bits_per_byte": bpb})
    if metrics_file:
        metrics_file.close()
    summary: dict = {}
    if dist_info.is_main:
        save_checkpoint(checkpoint_state(last_eval.get("val")), last_path)
        summary = {
            "preset": cfg.preset, **cfg.tags,
            "parameters": raw_model.num_params(),
            "parameters_non_embedding": raw_model.num_params(True),
            "model_config": model_cfg.to_dict(),
            "steps": step, "steps_this_run": steps_this_run, "resumed_from_step": resumed_from,
            "tokens_seen": tokens_seen, "best_val_loss": best_val,
            "final_val_loss": last_eval.get("val"),
            "best_val_bits_per_byte": bits_per_byte(best_val, split_meta["tokens"],
                                                    split_meta["bytes"]),
            "final_val_bits_per_byte": bits_per_byte(last_eval["val"], split_meta["tokens"],
                                                     split_meta["bytes"]),
            "tokens_per_s": tokens_per_s, "mfu": mfu, "peak_flops": peak,
            "wall_s": time.monotonic() - started, "stop_reason": stop_reason,
            "device": str(device), "precision": precision, "world_size": dist_info.world_size,
            "compiled": cfg.compile, "learning_rate": max_lr, "batch_size": batch_size,
            "tokenizer": bins.meta["tokenizer"],
            "checkpoint": str(last_path), "best_checkpoint": str(best_path),
            "metrics": str(metrics_path),
        }
        write_json_atomic(out_dir / "summary.json", summary)
        telemetry.report_summary(summary)
    return summary


def _evaluate_on_main(model, bins, cfg, block_size, batch_size, device, autocast, dist_info):
    result = (evaluate(model, bins, cfg, block_size, batch_size, device, autocast)
              if dist_info.is_main else {})
    if dist_info.world_size > 1:
        import torch.distributed as dist

        dist.barrier()
    return result


def _should_stop(local: bool, dist_info: Distributed, device: torch.device) -> bool:
    if dist_info.world_size == 1:
        return local
    import torch.distributed as dist

    flag = torch.tensor([1 if local else 0], device=device)
    dist.broadcast(flag, src=0)
    return bool(flag.item())


def _check_compatible(state: dict, model_cfg: GPTConfig, path: Path) -> None:
    stored = state["model_config"]
    mismatched = {k: (stored.get(k), v) for k, v in model_cfg.to_dict().items()
                  if k != "dropout" and stored.get(k) != v}
    if mismatched:
        detail = ", ".join(f"{k}: checkpoint {a} vs run {b}" for k, (a, b) in mismatched.items())
        raise CheckpointError(f"checkpoint {path} does not fit this run ({detail}); use a "
                              "matching preset/tokenizer or another out_dir")


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    """Flags named like the `TrainConfig` fields, or `--config-json` (a JSON object or file)."""
    parser = argparse.ArgumentParser(prog="python -m tsr_assets.model.train",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--config-json", help="JSON object or path to a JSON file")
    for f in dataclasses.fields(TrainConfig):
        if f.name == "tags":
            continue
        flag = "--" + f.name.replace("_", "-")
        if f.type in ("bool",):
            parser.add_argument(flag, type=lambda s: s.lower() in {"1", "true", "yes"})
        else:
            parser.add_argument(flag, type=_caster(str(f.type)))
    args = parser.parse_args(argv)
    values: dict = {}
    if args.config_json:
        text = args.config_json
        values.update(json.loads(text if text.lstrip().startswith("{")
                                 else Path(text).read_text(encoding="utf-8")))
    for f in dataclasses.fields(TrainConfig):
        given = getattr(args, f.name, None)
        if given is not None:
            values[f.name] = given
    unknown = set(values) - {f.name for f in dataclasses.fields(TrainConfig)}
    if unknown:
        parser.error(f"unknown settings: {', '.join(sorted(unknown))}")
    return TrainConfig(**values)


def _caster(type_name: str):
    if "int" in type_name:
        return int
    if "float" in type_name:
        return float
    return str


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
