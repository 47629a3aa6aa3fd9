"""Benchmark: training throughput (tokens/s) and MFU of the platform trainer.

CPU (always), at one fixed shape: 4 layers, n_embd 256, 8 heads, vocabulary 8192, batch 16 x
context 256, fp32, dropout 0. Synthetic token bins (random uniform ids, `train.bin` /
`val.bin` / `meta.json` in the layout `write_token_bins` produces) are written to a temp dir.

* `platform`: the real trainer, `tsr_assets.model.train.train(TrainConfig(...))`, in-process
  (preset `tiny`, recipe `nanogpt`, with the shape above as overrides, a fresh `out_dir`, no
  resume), for `--warmup + --steps` steps; evaluation only after the last step (and on 1
  batch per split). Step times come from its own `metrics.jsonl`: every step's row is stamped
  with `elapsed_s` before any evaluation or checkpoint, so `elapsed[s] - elapsed[s - 1]` is
  exactly step s
  (forward, next batch, backward, clip, AdamW, `loss.item()`, logging, metrics row). The
  trainer's own `tokens_per_s` (measured over its last `--log-every` window) is shown too.
* `reference`: a plain nanoGPT-style loop written here, with its own minimal model (pre-LN
  blocks, SDPA causal attention, GELU MLP, tied embeddings, no biases, the same GPT-2 init),
  AdamW with decay on matrices only, random windows from a numpy array, `loss.backward()`,
  clip to norm 1.0, `optimizer.step()`; the same W warmup steps, then N steps, each timed.

Headline tokens/s = tokens per step / the median of the N timed step times, which stays
honest when other processes take the cores for part of a run (this runs on shared machines);
the mean over the N steps ("window") is reported beside it and agrees on a quiet machine.
Each side runs `--repeats` times in ABBA order (platform, reference, reference, platform,
...), so a drift of the machine's speed favours neither; the fastest run of each counts (the
ratio over all runs' steps pooled is shown too). MFU = flops_per_token * tokens/s / peak,
with flops_per_token = 6 N + 12 L H Q T (as `GPT.flops_per_token`), and the peak either
`--cpu-peak-flops` or the best fp32 rate of a 2048 x 2048 @ 2048 x 2048 matmul timed here
before and after the runs ("measured matmul peak"). The trainer's small per-step extras
(batch construction, metrics row, lr schedule) are also timed in isolation, per step.

GPU (only when `torch.cuda.is_available()`): the real trainer with preset `e512_l6` (context
1024), bfloat16 autocast, `torch.compile`, batch `--gpu-batch-size`, on `cuda`; tokens/s and
MFU from the trainer's summary (its last log window, after compilation; peak from
`PEAK_FLOPS` by device name, or `--gpu-peak-flops`), and from `metrics.jsonl` over the steps
after `--gpu-warmup` (median step and mean).

    python benchmarks/train_bench.py [--steps 30] [--warmup 2] [--repeats 2]
        [--cpu-peak-flops F] [--no-gpu] [--gpu-steps 250] [--gpu-warmup 50]
        [--gpu-batch-size 16] [--gpu-peak-flops F] [--verbose]

Last line: one JSON object with the figures and `meets_bar` (CPU: platform tokens/s >= 0.95x
the reference's; GPU, when present: MFU >= 0.40; `"gpu": null` without one).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tsr_assets.model.batches import Bins  # noqa: E402
from tsr_assets.model.train import train  # noqa: E402
from tsr_assets.model.train_config import TrainConfig, lr_at  # noqa: E402

BAR_CPU_RATIO = 0.95  # a regression guard: the trainer within 5% of a plain loop
BAR_GPU_MFU = 0.40
VOCAB = 8192
CPU_SHAPE = {"n_layer": 4, "n_embd": 256, "n_head": 8, "block_size": 256, "batch_size": 16}
CPU_PRESET = "tiny"
GPU_PRESET = "e512_l6"
NEVER = 10**9  # an eval_every that never fires inside the timed steps


# --------------------------------------------------------------------------- synthetic bins


def write_synthetic_bins(folder: Path, train_tokens: int, val_tokens: int, seed: int = 0) -> dict:
    """Random uniform uint16 ids as `train.bin` / `val.bin` plus a `meta.json`; returns the meta.

    The meta has the keys `write_token_bins` writes (the trainer reads `tokenizer.vocab_size`,
    `dtype`, and each split's `tokens` and `bytes`); "bytes" pretends 4 UTF-8 bytes per token.
    """
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    counts = {}
    for split, size in (("train", train_tokens), ("val", val_tokens)):
        rng.integers(0, VOCAB, size=size, dtype=np.uint16).tofile(folder / f"{split}.bin")
        counts[split] = {"stories": size // 256, "tokens": size, "bytes": 4 * size}
    meta = {
        "tokenizer": {"kind": "synthetic", "name": "random-uniform", "version": "1",
                      "vocab_size": VOCAB, "bos_id": 0, "eos_id": 1},
        "dtype": "uint16",
        "val_share": round(val_tokens / (train_tokens + val_tokens), 4),
        "framing": "random uniform ids (benchmark)",
        "splits": counts,
    }
    (folder / "meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return meta


# --------------------------------------------------------------------------- peak FLOP/s


def measure_matmul_peak(size: int = 2048, rounds: int = 5, per_round: int = 5) -> float:
    """Best fp32 FLOP/s of `size`^3 matmuls on the CPU over `rounds` rounds of `per_round`."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    out = torch.empty(size, size)
    torch.mm(a, b, out=out)  # warm up the kernels and the thread pool
    best = 0.0
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(per_round):
            torch.mm(a, b, out=out)
        seconds = time.perf_counter() - started
        best = max(best, per_round * 2 * size**3 / seconds)
    return best


def flops_per_token(params: int, n_layer: int, n_embd: int, block_size: int) -> float:
    """6 N + 12 L H Q T, as `GPT.flops_per_token` (H * Q = n_embd)."""
    return 6 * params + 12 * n_layer * n_embd * block_size


# --------------------------------------------------------------------------- platform runs


def step_figures(durations: list[float], tokens_per_step: int, fpt: float,
                 peak: float | None) -> dict:
    """Throughput of timed steps: by the median step (the headline) and over the whole window.

    The median step is robust to other processes stealing cores for part of a run; on a quiet
    machine the two agree.
    """
    median = statistics.median(durations)
    mean = sum(durations) / len(durations)
    tokens_per_s = tokens_per_step / median
    return {
        "tokens_per_s": tokens_per_s,
        "mfu": fpt * tokens_per_s / peak if peak else None,
        "step_ms": 1000 * median,
        "tokens_per_s_window": tokens_per_step / mean,
        "mfu_window": fpt * tokens_per_step / mean / peak if peak else None,
        "step_ms_window": 1000 * mean,
        "step_ms_min": 1000 * min(durations),
        "step_ms_max": 1000 * max(durations),
        "tokens_per_step": tokens_per_step,
    }


@contextlib.contextmanager
def quiet(verbose: bool) -> Iterator[io.StringIO]:
    """Capture stdout (the trainer's `[train]` lines) unless `verbose`; echo it on failure."""
    buffer = io.StringIO()
    if verbose:
        yield buffer
        return
    try:
        with contextlib.redirect_stdout(buffer):
            yield buffer
    except BaseException:
        sys.stdout.write(buffer.getvalue())
        raise


def read_elapsed(metrics_path: Path) -> dict[int, float]:
    """Step -> `elapsed_s` of the per-step rows of `metrics.jsonl` (not the final eval row)."""
    elapsed: dict[int, float] = {}
    for line in metrics_path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if "train_loss" in row:
            elapsed[row["step"]] = row["elapsed_s"]
    return elapsed


def last_log_window(total_steps: int, log_every: int) -> tuple[int, int]:
    """The steps (first, last) over which the trainer measured its reported `tokens_per_s`."""
    last = (total_steps // log_every) * log_every
    if last <= 1:
        return 1, 1
    return max(2, last - log_every + 1), last


def run_platform(bins_dir: Path, out_dir: Path, *, preset: str, overrides: dict, warmup: int,
                 steps: int, log_every: int, device: str, dtype: str, compile_model: bool,
                 peak_flops: float | None, verbose: bool) -> dict:
    """Train with the real trainer for `warmup + steps` steps; return its throughput figures."""
    cfg = TrainConfig(
        bins_dir=str(bins_dir), out_dir=str(out_dir), preset=preset, **overrides,
        recipe="nanogpt",  # the reference loop is nanoGPT's; recipe_bench compares recipes
        max_steps=warmup + steps, eval_every=NEVER, eval_batches=1, log_every=log_every,
        device=device, dtype=dtype, compile=compile_model, resume=False,
        peak_flops=peak_flops, seed=1337,
    )
    with quiet(verbose):
        started = time.perf_counter()
        summary = train(cfg)
        wall = time.perf_counter() - started
    elapsed = read_elapsed(out_dir / "metrics.jsonl")
    tokens_per_step = summary["batch_size"] * summary["model_config"]["block_size"]
    # Step s took elapsed[s] - elapsed[s - 1]; step 1 has no start stamp, so with no warmup
    # the timing starts at step 2.
    start_step = max(warmup, 1)
    durations = [elapsed[s] - elapsed[s - 1] for s in range(start_step + 1, warmup + steps + 1)]
    mc = summary["model_config"]
    fpt = flops_per_token(summary["parameters"], mc["n_layer"], mc["n_embd"], mc["block_size"])
    peak = summary["peak_flops"]
    window = last_log_window(warmup + steps, log_every)
    return {
        **step_figures(durations, tokens_per_step, fpt, peak),
        "durations_s": durations,
        "timed_steps": [start_step + 1, warmup + steps],
        "trainer_tokens_per_s": summary["tokens_per_s"],
        "trainer_mfu": summary["mfu"],
        "trainer_window": list(window),
        "peak_flops": peak,
        "parameters": summary["parameters"],
        "flops_per_token": fpt,
        "run_wall_s": wall,
        "device": summary["device"],
        "precision": summary["precision"],
        "compiled": summary["compiled"],
    }


# --------------------------------------------------------------------------- reference loop


class RefAttention(nn.Module):
    """nanoGPT's causal self-attention, without biases, through SDPA."""

    def __init__(self, n_embd: int, n_head: int) -> None:
        super().__init__()
        self.n_head = n_head
        self.c_attn = nn.Linear(n_embd, 3 * n_embd, bias=False)
        self.c_proj = nn.Linear(n_embd, n_embd, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, C) -> (B, T, C)."""
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))


class RefBlock(nn.Module):
    """Pre-LN block: x + attn(ln(x)), then x + mlp(ln(x)) with a 4x GELU MLP."""

    def __init__(self, n_embd: int, n_head: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd, bias=False)
        self.attn = RefAttention(n_embd, n_head)
        self.ln_2 = nn.LayerNorm(n_embd, bias=False)
        self.c_fc = nn.Linear(n_embd, 4 * n_embd, bias=False)
        self.c_proj = nn.Linear(4 * n_embd, n_embd, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, C) -> (B, T, C)."""
        x = x + self.attn(self.ln_1(x))
        return x + self.c_proj(F.gelu(self.c_fc(self.ln_2(x))))


class RefGPT(nn.Module):
    """A minimal nanoGPT: token + position embeddings, blocks, final LN, tied LM head."""

    def __init__(self, vocab: int, block_size: int, n_layer: int, n_embd: int,
                 n_head: int) -> None:
        super().__init__()
        self.wte = nn.Embedding(vocab, n_embd)
        self.wpe = nn.Embedding(block_size, n_embd)
        self.h = nn.ModuleList(RefBlock(n_embd, n_head) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(n_embd, bias=False)
        self.lm_head = nn.Linear(n_embd, vocab, bias=False)
        self.lm_head.weight = self.wte.weight
        for name, param in self.named_parameters():
            if param.dim() >= 2:
                std = 0.02 / math.sqrt(2 * n_layer) if name.endswith("c_proj.weight") else 0.02
                nn.init.normal_(param, mean=0.0, std=std)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean next-token cross-entropy of `idx` (B, T) against `targets` (B, T)."""
        pos = torch.arange(idx.size(1), device=idx.device)
        x = self.wte(idx) + self.wpe(pos)
        for block in self.h:
            x = block(x)
        logits = self.lm_head(self.ln_f(x))
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


def run_reference(train_bin: Path, *, warmup: int, steps: int, log_every: int,
                  peak_flops: float) -> dict:
    """Train `RefGPT` at the CPU shape for `warmup` untimed then `steps` timed steps."""
    B, T = CPU_SHAPE["batch_size"], CPU_SHAPE["block_size"]
    torch.manual_seed(1337)
    data = np.fromfile(train_bin, dtype=np.uint16)

    def get_batch() -> tuple[torch.Tensor, torch.Tensor]:
        ix = torch.randint(len(data) - T - 1, (B,))
        x = torch.stack([torch.from_numpy(data[i:i + T].astype(np.int64)) for i in ix])
        y = torch.stack([torch.from_numpy(data[i + 1:i + 1 + T].astype(np.int64)) for i in ix])
        return x, y

    model = RefGPT(VOCAB, T, CPU_SHAPE["n_layer"], CPU_SHAPE["n_embd"], CPU_SHAPE["n_head"])
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        [{"params": [p for p in params if p.dim() >= 2], "weight_decay": 0.1},
         {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}],
        lr=3e-3, betas=(0.9, 0.95))
    n_params = sum(p.numel() for p in model.parameters())
    fpt = flops_per_token(n_params, CPU_SHAPE["n_layer"], CPU_SHAPE["n_embd"], T)
    x, y = get_batch()
    stamps: list[float] = []
    for it in range(warmup + steps):
        if it == warmup:
            stamps.append(time.perf_counter())
        lr = 3e-3 * min(1.0, (it + 1) / 100)  # linear warmup, like the trainer's schedule
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss = model(x, y)
        x, y = get_batch()  # next batch while (on GPU) the forward would run
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if (it + 1) % log_every == 0:
            loss.item()
        if stamps:
            stamps.append(time.perf_counter())
    durations = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    return {
        **step_figures(durations, B * T, fpt, peak_flops),
        "durations_s": durations,
        "parameters": n_params,
        "flops_per_token": fpt,
    }


# --------------------------------------------------------------------------- overheads


def time_per_call(fn: Callable[[], object], calls: int) -> float:
    """Mean seconds per call of the zero-argument callable `fn` over `calls` calls."""
    fn()
    started = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - started) / calls


def measure_overheads(bins_dir: Path, scratch: Path, calls: int = 300) -> dict:
    """Milliseconds per call of the trainer's per-step extras, and of the reference's batch."""
    B, T = CPU_SHAPE["batch_size"], CPU_SHAPE["block_size"]
    bins = Bins(bins_dir)
    generator = torch.Generator().manual_seed(0)
    cpu = torch.device("cpu")
    data = np.fromfile(bins_dir / "train.bin", dtype=np.uint16)

    def ref_batch() -> None:
        ix = torch.randint(len(data) - T - 1, (B,))
        torch.stack([torch.from_numpy(data[i:i + T].astype(np.int64)) for i in ix])
        torch.stack([torch.from_numpy(data[i + 1:i + 1 + T].astype(np.int64)) for i in ix])

    cfg = TrainConfig(max_steps=1000, warmup_steps=100)
    groups = [{"lr": 0.0} for _ in range(2)]

    def schedule() -> None:
        lr = lr_at(500, cfg, 3e-3)
        for group in groups:
            group["lr"] = lr

    row = {"step": 1, "train_loss": 9.01, "lr": 3e-3, "tokens_seen": 4096, "elapsed_s": 1.0}
    with (scratch / "metrics.jsonl").open("a", encoding="utf-8") as handle:

        def metrics_row() -> None:
            handle.write(json.dumps({**row, "elapsed_s": time.monotonic()}) + "\n")
            handle.flush()

        figures = {
            "trainer_batch_ms": time_per_call(
                lambda: bins.batch("train", B, T, generator, cpu), calls),
            "reference_batch_ms": time_per_call(ref_batch, calls),
            "metrics_row_ms": time_per_call(metrics_row, calls),
            "lr_schedule_ms": time_per_call(schedule, calls),
        }
    return {k: 1000 * v for k, v in figures.items()}


# --------------------------------------------------------------------------- main


def best_and_pooled(runs: list[dict], peak: float) -> dict:
    """One side's fastest run (by median step), with the figures pooled over all its runs."""
    best = max(runs, key=lambda run: run["tokens_per_s"])
    durations = [d for run in runs for d in run["durations_s"]]
    pool = step_figures(durations, best["tokens_per_step"], best["flops_per_token"], peak)
    return {**{k: v for k, v in best.items() if k != "durations_s"},
            "runs_tokens_per_s": [round(run["tokens_per_s"]) for run in runs],
            "pooled_tokens_per_s": pool["tokens_per_s"],
            "pooled_tokens_per_s_window": pool["tokens_per_s_window"]}


def run_cpu(args: argparse.Namespace, bins_dir: Path, tmp: Path) -> dict:
    """Platform and reference on the CPU in ABBA order; the fastest run of each counts."""
    if args.cpu_peak_flops:
        peak, peak_source = args.cpu_peak_flops, "--cpu-peak-flops"
    else:
        peak, peak_source = measure_matmul_peak(), "measured matmul peak (fp32 2048^3)"
    peaks = [peak]
    print(f"CPU peak: {peak / 1e9:,.1f} GFLOP/s ({peak_source})", flush=True)
    runs: dict[str, list[dict]] = {"platform": [], "reference": []}

    def platform_run(repeat: int) -> dict:
        return run_platform(
            bins_dir, tmp / f"cpu-run-{repeat}", preset=CPU_PRESET, overrides=CPU_SHAPE,
            warmup=args.warmup, steps=args.steps, log_every=args.log_every, device="cpu",
            dtype="float32", compile_model=False, peak_flops=peak, verbose=args.verbose)

    def reference_run(repeat: int) -> dict:
        return run_reference(bins_dir / "train.bin", warmup=args.warmup, steps=args.steps,
                             log_every=args.log_every, peak_flops=peak)

    for repeat in range(args.repeats):
        # ABBA: a drift of the machine's speed over time favours neither side.
        order = ["platform", "reference"] if repeat % 2 == 0 else ["reference", "platform"]
        for side in order:
            run = (platform_run if side == "platform" else reference_run)(repeat)
            runs[side].append(run)
            print(f"  {side:<9} run {repeat + 1}: {run['tokens_per_s']:,.0f} tok/s "
                  f"(median step {run['step_ms']:.1f} ms)", flush=True)
    if not args.cpu_peak_flops:  # again at the end: other work may have slowed the first try
        peaks.append(measure_matmul_peak())
        peak = max(peaks)
        for run in runs["platform"] + runs["reference"]:
            run.update(step_figures(run["durations_s"], run["tokens_per_step"],
                                    run["flops_per_token"], peak), peak_flops=peak)
            if "trainer_tokens_per_s" in run:
                run["trainer_mfu"] = run["flops_per_token"] * run["trainer_tokens_per_s"] / peak
    platform = best_and_pooled(runs["platform"], peak)
    reference = best_and_pooled(runs["reference"], peak)
    platform["trainer_runs_tokens_per_s"] = [round(r["trainer_tokens_per_s"])
                                             for r in runs["platform"]]
    overheads = measure_overheads(bins_dir, tmp)
    extra_ms = (overheads["trainer_batch_ms"] + overheads["metrics_row_ms"]
                + overheads["lr_schedule_ms"])
    return {
        "threads": torch.get_num_threads(),
        "shape": {**CPU_SHAPE, "vocab_size": VOCAB, "dtype": "float32", "dropout": 0.0},
        "warmup_steps": args.warmup,
        "timed_steps": args.steps,
        "repeats": args.repeats,
        "peak_flops": peak,
        "peak_source": peak_source,
        "peak_flops_measurements": peaks,
        "platform": platform,
        "reference": reference,
        "ratio": platform["tokens_per_s"] / reference["tokens_per_s"],
        "ratio_window": platform["tokens_per_s_window"] / reference["tokens_per_s_window"],
        "ratio_pooled": platform["pooled_tokens_per_s"] / reference["pooled_tokens_per_s"],
        "overheads_ms_per_step": overheads,
        "trainer_extras_share_of_step": extra_ms / platform["step_ms"],
    }


def run_gpu(args: argparse.Namespace, bins_dir: Path, tmp: Path) -> dict:
    """The real trainer on CUDA: preset e512_l6, bfloat16, torch.compile."""
    figures = run_platform(
        bins_dir, tmp / "gpu-run", preset=GPU_PRESET,
        overrides={"batch_size": args.gpu_batch_size}, warmup=args.gpu_warmup,
        steps=args.gpu_steps, log_every=args.gpu_log_every, device="cuda", dtype="bfloat16",
        compile_model=True, peak_flops=args.gpu_peak_flops, verbose=args.verbose)
    figures.pop("durations_s")
    figures["device_name"] = torch.cuda.get_device_name()
    figures["preset"] = GPU_PRESET
    figures["batch_size"] = args.gpu_batch_size
    return figures


def fmt_mfu(value: float | None) -> str:
    """MFU as a percentage, or n/a."""
    return "n/a" if value is None else f"{value:.1%}"


def print_tables(cpu: dict, gpu: dict | None) -> None:
    """The readable summary of both parts."""
    shape = cpu["shape"]
    print()
    print(f"CPU: {shape['n_layer']} layers, n_embd {shape['n_embd']}, {shape['n_head']} heads, "
          f"vocab {shape['vocab_size']}, batch {shape['batch_size']} x {shape['block_size']}, "
          f"fp32; torch threads {cpu['threads']}; {cpu['timed_steps']} timed steps after "
          f"{cpu['warmup_steps']} warmup; fastest of {cpu['repeats']} runs per side (ABBA order)")
    print(f"peak {cpu['peak_flops'] / 1e9:,.1f} GFLOP/s ({cpu['peak_source']}); "
          f"flops/token {cpu['platform']['flops_per_token'] / 1e6:.2f} M "
          f"({cpu['platform']['parameters']:,} parameters; reference "
          f"{cpu['reference']['parameters']:,})")
    header = (f"{'run':<32} {'tok/s':>7} {'ms/step':>8} {'MFU':>6}   {'window':>7} {'ms/step':>8}"
              f" {'MFU':>6}   {'min-max ms':>11}")
    print(header)
    print(f"{'':<32} {'(median step)':^23}   {'(mean over timed steps)':^23}")
    p, r = cpu["platform"], cpu["reference"]
    for label, f in (("platform (real trainer)", p), ("reference (nanoGPT-style loop)", r)):
        print(f"{label:<32} {f['tokens_per_s']:>7,.0f} {f['step_ms']:>8.1f} "
              f"{fmt_mfu(f['mfu']):>6}   {f['tokens_per_s_window']:>7,.0f} "
              f"{f['step_ms_window']:>8.1f} {fmt_mfu(f['mfu_window']):>6}   "
              f"{f['step_ms_min']:>5.0f}-{f['step_ms_max']:<5.0f}")
    first, last = p["trainer_window"]
    print(f"platform, the trainer's own tokens_per_s (steps {first}-{last}) per run: "
          f"{p['trainer_runs_tokens_per_s']}")
    print(f"ratio platform/reference: {cpu['ratio']:.3f} by median step (bar >= "
          f"{BAR_CPU_RATIO}), {cpu['ratio_window']:.3f} over the timed window, "
          f"{cpu['ratio_pooled']:.3f} by the median step of all runs pooled")
    print(f"per run, tok/s (median step): platform {p['runs_tokens_per_s']}, "
          f"reference {r['runs_tokens_per_s']}")
    print(f"1-minute load average {cpu['load_average_1m']['before']:.2f} before, "
          f"{cpu['load_average_1m']['after']:.2f} after (includes this benchmark; above "
          f"~{cpu['threads']} means other work shared the cores)")
    if not cpu["quiet_machine"]:
        print("WARNING: other work shared the cores during this run (matmul peaks "
              f"{', '.join(f'{x / 1e9:.0f}' for x in cpu['peak_flops_measurements'])} GFLOP/s, "
              f"load average {cpu['load_average_1m']['before']:.2f} before); the CPU figures "
              "are unreliable, rerun on a quiet machine")
    o = cpu["overheads_ms_per_step"]
    print(f"per-step extras, ms: trainer batch {o['trainer_batch_ms']:.3f} (reference batch "
          f"{o['reference_batch_ms']:.3f}), metrics row {o['metrics_row_ms']:.3f}, lr schedule "
          f"{o['lr_schedule_ms']:.4f}; trainer extras = "
          f"{cpu['trainer_extras_share_of_step']:.3%} of a step")
    print()
    if gpu is None:
        print("GPU: none (torch.cuda.is_available() is False); skipped")
    else:
        print(f"GPU: {gpu['device_name']}, preset {gpu['preset']}, batch {gpu['batch_size']} x "
              f"{gpu['tokens_per_step'] // gpu['batch_size']}, {gpu['precision']}, compiled "
              f"{gpu['compiled']}; peak {gpu['peak_flops'] or 0:.3g} FLOP/s")
        print(f"{'run':<34} {'tok/s':>11} {'ms/step':>9} {'MFU':>7}")
        first, last = gpu["trainer_window"]
        label = f"trainer summary (steps {first}-{last})"
        print(f"{label:<34} {gpu['trainer_tokens_per_s']:>11,.0f} {'':>9} "
              f"{fmt_mfu(gpu['trainer_mfu']):>7}  (bar MFU >= {BAR_GPU_MFU:.0%})")
        first, last = gpu["timed_steps"]
        label = "metrics.jsonl, median step"
        print(f"{label:<34} {gpu['tokens_per_s']:>11,.0f} {gpu['step_ms']:>9.2f} "
              f"{fmt_mfu(gpu['mfu']):>7}")
        label = f"metrics.jsonl, steps {first}-{last}"
        print(f"{label:<34} {gpu['tokens_per_s_window']:>11,.0f} "
              f"{gpu['step_ms_window']:>9.2f} {fmt_mfu(gpu['mfu_window']):>7}")
    print()


def rounded(figures: dict) -> dict:
    """`figures` with floats rounded for the JSON line."""
    out: dict = {}
    for key, value in figures.items():
        if isinstance(value, dict):
            out[key] = rounded(value)
        elif isinstance(value, float):
            out[key] = float(f"{value:.4g}") if abs(value) < 1e6 else round(value)
        else:
            out[key] = value
    return out


def main() -> None:
    """Write the bins, run the CPU comparison, the GPU run when there is a GPU, and report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=30, help="timed steps per CPU run")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps before them")
    parser.add_argument("--repeats", type=int, default=2,
                        help="runs of each CPU side, alternating; the fastest counts")
    parser.add_argument("--log-every", type=int, default=10, help="the trainer's log window")
    parser.add_argument("--train-tokens", type=int, default=4_000_000)
    parser.add_argument("--cpu-peak-flops", type=float, default=None,
                        help="CPU peak FLOP/s for MFU (default: measured fp32 matmul rate)")
    parser.add_argument("--no-gpu", action="store_true", help="skip the GPU part")
    parser.add_argument("--gpu-steps", type=int, default=250)
    parser.add_argument("--gpu-warmup", type=int, default=50,
                        help="untimed GPU steps first (compilation happens in them)")
    parser.add_argument("--gpu-log-every", type=int, default=50)
    parser.add_argument("--gpu-batch-size", type=int, default=16)
    parser.add_argument("--gpu-peak-flops", type=float, default=None,
                        help="GPU peak FLOP/s (default: PEAK_FLOPS by device name)")
    parser.add_argument("--verbose", action="store_true", help="show the trainer's log lines")
    args = parser.parse_args()
    if args.steps < 2 or args.warmup < 0 or args.repeats < 1 or args.gpu_steps < 2:
        parser.error("--steps >= 2, --gpu-steps >= 2, --warmup >= 0 and --repeats >= 1 "
                     "are required")

    load_before = os.getloadavg()[0]
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"cuda available: {torch.cuda.is_available()}, load average {load_before:.2f} "
          f"(other work on the machine skews every figure)", flush=True)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        bins_dir = tmp / "bins"
        write_synthetic_bins(bins_dir, args.train_tokens, max(100_000, args.train_tokens // 20))
        cpu = run_cpu(args, bins_dir, tmp)
        gpu = (run_gpu(args, bins_dir, tmp)
               if torch.cuda.is_available() and not args.no_gpu else None)

    cpu["load_average_1m"] = {"before": load_before, "after": os.getloadavg()[0]}
    peaks = cpu["peak_flops_measurements"]
    # Two matmul peaks 10% apart, or a busy machine before we start: other work shared the cores.
    cpu["quiet_machine"] = (max(peaks) <= 1.1 * min(peaks)
                            and load_before < cpu["threads"] + 0.5)
    print_tables(cpu, gpu)
    cpu_ok = cpu["ratio"] >= BAR_CPU_RATIO
    gpu_ok = gpu is None or (gpu["trainer_mfu"] is not None and gpu["trainer_mfu"] >= BAR_GPU_MFU)
    result = {
        "benchmark": "train",
        "cpu": rounded(cpu),
        "gpu": rounded(gpu) if gpu is not None else None,
        "bar": f"CPU: platform tokens/s >= {BAR_CPU_RATIO}x the nanoGPT-style reference's at "
               f"the same shape; GPU ({GPU_PRESET}, bf16, compiled; only with a GPU): "
               f"trainer MFU >= {BAR_GPU_MFU}",
        "meets_bar": cpu_ok and gpu_ok,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
