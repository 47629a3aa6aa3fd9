"""The GPU suite: trainer, sampler and DDP figures on the GPUs of one machine, in one run.

On a CUDA machine (at most about 8 minutes on one GPU):

* trainer: the real trainer (`tsr_assets.model.train.train`) at preset `e512_l6` (6 layers,
  width 512, 8 heads, context 1024) with bf16 autocast and `torch.compile`, batch
  `--batch-size`, on synthetic token bins (vocabulary 8,192), for each recipe (`nanogpt`,
  `modern`): tokens/s and MFU of its last log window (after compilation), the step time,
  and the peak GPU memory;
* sampler: the platform's KV-cache sampler (`tsr_assets.model.sample.generate`, top-k 15,
  temperature 0.8) on each trained model, `--new-tokens` new tokens after a 32-token prompt,
  at batch 1 and 64: generated tokens per second;
* DDP: the trainer under `torchrun` on all visible GPUs (`nanogpt`, bf16, no compile), its
  tokens/s against the single-GPU run of the same settings (scaling efficiency), or one
  process (the launch path) on a one-GPU machine.

Without CUDA it is a dry run of about 30 seconds: the same steps on the CPU with a 2-layer,
64-wide model, fp32 and no compile, 2 processes for DDP; it checks the script works.

    benchmarks/gpu_suite.sh [--steps 300] [--batch-size 32] [--new-tokens 256]

Last line: one JSON object (`meets_bar`: every stage ran and, on a GPU, trainer MFU >= 0.40
for `nanogpt`).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from train_bench import write_synthetic_bins  # noqa: E402

from tsr_assets.model.checkpoints import load_checkpoint  # noqa: E402
from tsr_assets.model.gpt import GPT, GPTConfig  # noqa: E402
from tsr_assets.model.sample import SamplingSettings, generate  # noqa: E402
from tsr_assets.model.train import train  # noqa: E402
from tsr_assets.model.train_config import RECIPES, TrainConfig  # noqa: E402

BAR_MFU = 0.40
DRY_SHAPE = {"n_layer": 2, "n_embd": 64, "n_head": 4, "block_size": 128}


def train_config(bins: Path, out: Path, args: argparse.Namespace, recipe: str,
                 compile_model: bool) -> TrainConfig:
    """One benchmark run of the trainer (GPU: e512_l6, bf16; dry run: a tiny fp32 model)."""
    shape = DRY_SHAPE if args.dry_run else {}
    return TrainConfig(
        bins_dir=str(bins), out_dir=str(out), preset="e512_l6", recipe=recipe, **shape,
        batch_size=args.batch_size, max_steps=args.steps, warmup_steps=10,
        eval_every=10**9, eval_batches=2, log_every=max(1, args.steps // 4), resume=False,
        device="cuda" if args.cuda else "cpu", dtype="bfloat16" if args.cuda else "float32",
        compile=compile_model)


def run_trainer(cfg: TrainConfig, cuda: bool) -> dict:
    """Train quietly; returns the figures of the summary."""
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    with contextlib.redirect_stdout(io.StringIO()):
        summary = train(cfg)
    step_s = cfg.batch_size * summary["model_config"]["block_size"] / summary["tokens_per_s"]
    return {"tokens_per_s": round(summary["tokens_per_s"]), "mfu": summary["mfu"]
            and round(summary["mfu"], 4), "step_ms": round(1000 * step_s, 2),
            "parameters": summary["parameters"], "compiled": summary["compiled"],
            "precision": summary["precision"], "wall_s": round(summary["wall_s"], 1),
            "peak_memory_gb": round(torch.cuda.max_memory_allocated() / 1e9, 2) if cuda
            else None}


def sampler_figures(checkpoint: Path, device: str, new_tokens: int, batches: list[int]) -> dict:
    """Generated tokens per second of the KV-cache sampler at each batch size."""
    saved = load_checkpoint(checkpoint, device)
    model = GPT(GPTConfig(**saved["model_config"])).to(device)
    model.load_state_dict(saved["model"])
    model.eval()
    if device == "cuda":
        model = model.to(torch.bfloat16)
    settings = SamplingSettings(max_new_tokens=new_tokens)
    vocab = model.config.vocab_size
    figures = {}
    for batch in batches:
        prompts = torch.randint(2, vocab, (batch, 32), generator=torch.Generator().manual_seed(0))
        generator = torch.Generator(device=device).manual_seed(0)
        generate(model, prompts[:, :8].tolist(), 1, settings, generator)  # warm up
        if device == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        out = generate(model, prompts.tolist(), 1, settings, generator)
        if device == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - started
        tokens = sum(len(g.ids) for g in out)
        figures[f"batch_{batch}"] = {"tokens_per_s": round(tokens / seconds), "tokens": tokens,
                                     "seconds": round(seconds, 3)}
    return figures


def run_ddp(bins: Path, out: Path, args: argparse.Namespace, processes: int) -> dict:
    """The trainer under torchrun with `processes` ranks; its summary's figures."""
    cfg = train_config(bins, out, args, "nanogpt", compile_model=False)
    settings = {k: v for k, v in vars(cfg).items() if v is not None and k != "tags"}
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc-per-node={processes}", "-m", "tsr_assets.model.train",
               "--config-json", json.dumps(settings)]
    started = time.monotonic()
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"torchrun failed: {proc.stderr[-2000:]}")
    summary = json.loads((out / "summary.json").read_text())
    return {"world_size": summary["world_size"], "tokens_per_s": round(summary["tokens_per_s"]),
            "mfu": summary["mfu"] and round(summary["mfu"], 4),
            "wall_s": round(time.monotonic() - started, 1)}


def parse_args() -> argparse.Namespace:
    """Settings; a dry run (no CUDA) shrinks them to about 30 seconds."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--dry-run", action="store_true", help="force the CPU dry run")
    args = parser.parse_args()
    args.cuda = torch.cuda.is_available() and not args.dry_run
    args.dry_run = not args.cuda
    if args.dry_run:
        args.steps, args.batch_size, args.new_tokens = 12, 4, 16
    return args


def main() -> None:
    """Run every stage and print the figures; the last line is one JSON object."""
    args = parse_args()
    device = "cuda" if args.cuda else "cpu"
    gpus = torch.cuda.device_count() if args.cuda else 0
    started = time.monotonic()
    result: dict = {"benchmark": "gpu_suite", "dry_run": args.dry_run, "device":
                    torch.cuda.get_device_name(0) if args.cuda else "cpu", "gpus": gpus,
                    "torch": torch.__version__, "steps": args.steps,
                    "batch_size": args.batch_size, "trainer": {}, "sampler": {}, "errors": []}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        tokens = 4_000_000 if args.cuda else 200_000
        write_synthetic_bins(root / "bins", tokens, tokens // 10)
        for recipe in RECIPES:
            try:
                cfg = train_config(root / "bins", root / recipe, args, recipe, args.cuda)
                result["trainer"][recipe] = run_trainer(cfg, args.cuda)
                result["sampler"][recipe] = sampler_figures(
                    root / recipe / "last.pt", device, args.new_tokens, [1, 64])
            except Exception as exc:  # one failing stage must not hide the others' figures
                result["errors"].append(f"{recipe}: {type(exc).__name__}: {exc}")
            print(f"{recipe}: {json.dumps(result['trainer'].get(recipe))}", flush=True)
        try:
            processes = gpus if args.cuda else 2
            single = run_trainer(train_config(root / "bins", root / "single", args, "nanogpt",
                                              False), args.cuda)
            ddp = run_ddp(root / "bins", root / "ddp", args, processes)
            ddp["single_tokens_per_s"] = single["tokens_per_s"]
            ddp["scaling_efficiency"] = round(
                ddp["tokens_per_s"] / (single["tokens_per_s"] * ddp["world_size"]), 3)
            result["ddp"] = ddp
        except Exception as exc:
            result["errors"].append(f"ddp: {type(exc).__name__}: {exc}")
            result["ddp"] = None
    result["wall_s"] = round(time.monotonic() - started, 1)
    ran = (not result["errors"] and len(result["trainer"]) == len(RECIPES)
           and result["ddp"] is not None)
    mfu = (result["trainer"].get("nanogpt") or {}).get("mfu")
    result["meets_bar"] = bool(ran and (args.dry_run or (mfu is not None and mfu >= BAR_MFU)))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
