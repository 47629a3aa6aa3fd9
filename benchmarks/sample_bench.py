"""Benchmark: the platform's cached, batched sampler against full-recompute generation.

One model, one run, three ways of producing `--samples` continuations of `--new-tokens` tokens
for each of `--prompts` prompts (bos + `--prompt-len - 1` ids), drawn with the
`SamplingSettings` defaults (temperature 0.8, top-k 15):

* `platform`: `sample_many(model, prompts, eos, settings, samples_per_prompt, batch_rows=64)`,
  the real path (every row of a batch advances together; each step feeds only the newest token
  and reads the rest from the key/value cache);
* `cache-only`: the same call with `batch_rows=1`, so the key/value cache is the only
  difference from the baseline (shows the cache's share of the speedup apart from batching);
* `baseline`: the classic nanoGPT loop written here: one sample at a time, and at every step
  the model runs on the whole sequence so far (`model(idx)`, no cache, last-position logits),
  then the next id is drawn with the platform's own `pick_next` (same top-k/temperature rule),
  so cache and batching are the only differences.

The model is a randomly initialised `GPT` (default 6 layers, 256 wide, 8 heads, block 512,
vocab 8192) or a real checkpoint (`--checkpoint`, read with `load_model`). Every sample must
run to full length: eos is given as -1, an id outside the vocabulary that neither sampler can
ever draw (both only compare drawn ids with it; prompts all have the same length, so
`generate` never left-pads with it). The benchmark checks every sample has exactly
`--new-tokens` ids. Each method is warmed up once on a short run first; `platform` and
`cache-only` count the fastest of `--repeats` runs, the (slow) baseline the fastest of
`--baseline-repeats`. As an information-only check that both loops compute the same model, a
short greedy (temperature 0) continuation is compared id for id.

    python benchmarks/sample_bench.py [--samples 3] [--new-tokens 350] [--prompts 1]
        [--n-layer 6 --n-embd 256 --n-head 8 --block-size 512 --vocab-size 8192]
        [--checkpoint PATH] [--repeats 3] [--baseline-repeats 2]

Smaller and quicker: `--new-tokens 100 --n-layer 2`. Last line: one JSON object with the
figures and `meets_bar` (platform tokens/s >= 10x the full-recompute baseline's).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tsr_assets.model.gpt import GPT, GPTConfig  # noqa: E402
from tsr_assets.model.sample import (  # noqa: E402
    SamplingSettings,
    load_model,
    pick_next,
    sample_many,
)

BAR_RATIO = 10.0
NEVER_EOS = -1  # outside every vocabulary: no sampler can draw it, so samples run full length
WARMUP_TOKENS = 8
GREEDY_CHECK_TOKENS = 24


def build_model(args: argparse.Namespace) -> tuple[GPT, str]:
    """The model to sample from (eval mode, CPU) and a one-line description of it."""
    if args.checkpoint:
        model, state = load_model(args.checkpoint)
        return model, f"checkpoint {args.checkpoint} (step {state.get('step')})"
    torch.manual_seed(args.seed)
    config = GPTConfig(vocab_size=args.vocab_size, block_size=args.block_size,
                       n_layer=args.n_layer, n_head=args.n_head, n_embd=args.n_embd)
    return GPT(config).eval(), "random init"


def make_prompts(count: int, length: int, vocab_size: int, bos: int, seed: int) -> list[list[int]]:
    """`count` distinct prompts of `length` ids each: bos, then random ids from the vocabulary."""
    generator = torch.Generator().manual_seed(seed)
    prompts = []
    for _ in range(count):
        body = torch.randint(0, vocab_size, (length - 1,), generator=generator).tolist()
        prompts.append([bos, *body])
    return prompts


def recompute_generate(model: GPT, prompt: Sequence[int], eos_id: int,
                       settings: SamplingSettings, generator: torch.Generator) -> list[int]:
    """The classic loop for one sample: run the model on the whole sequence at every step."""
    block_size = model.config.block_size
    idx = torch.tensor([list(prompt)], dtype=torch.long)
    new: list[int] = []
    for _ in range(settings.max_new_tokens):
        logits, _ = model(idx[:, -block_size:])  # no cache: last-position logits (1, 1, V)
        token = pick_next(logits[:, -1, :], settings, generator)
        if int(token) == eos_id:
            break
        new.append(int(token))
        idx = torch.cat([idx, token[:, None]], dim=1)
    return new


def run_baseline(model: GPT, prompts: Sequence[Sequence[int]], settings: SamplingSettings,
                 samples: int, seed: int) -> dict:
    """Time full-recompute generation of every sample, one after the other."""
    generator = torch.Generator().manual_seed(seed)
    started = time.perf_counter()
    with torch.no_grad():
        outputs = [recompute_generate(model, prompt, NEVER_EOS, settings, generator)
                   for prompt in prompts for _ in range(samples)]
    return figures(time.perf_counter() - started, [len(ids) for ids in outputs])


def run_platform(model: GPT, prompts: Sequence[Sequence[int]], settings: SamplingSettings,
                 samples: int, batch_rows: int, seed: int) -> dict:
    """Time the platform's `sample_many` with `batch_rows` rows per batch."""
    started = time.perf_counter()
    records = sample_many(model, prompts, NEVER_EOS, settings, samples_per_prompt=samples,
                          batch_rows=batch_rows, seed=seed)
    seconds = time.perf_counter() - started
    if any(record.ended_at_eos for record in records):
        raise AssertionError("a sample ended at eos although eos is outside the vocabulary")
    return figures(seconds, [len(record.ids) for record in records])


def figures(seconds: float, lengths: list[int]) -> dict:
    """Seconds, samples, new tokens and tokens/s of one timed run."""
    tokens = sum(lengths)
    return {"seconds": seconds, "samples": len(lengths), "tokens": tokens,
            "min_len": min(lengths), "max_len": max(lengths), "per_s": tokens / seconds}


def best_of(repeats: int, run: Callable[..., dict], *args: object) -> dict:
    """The fastest (by seconds) of `repeats` calls of `run(*args)`."""
    return min((run(*args) for _ in range(max(1, repeats))),
               key=lambda result: result["seconds"])


def greedy_agreement(model: GPT, prompt: Sequence[int], tokens: int) -> dict:
    """Greedy ids from both loops for one prompt: how many leading ids agree (information)."""
    settings = SamplingSettings(temperature=0.0, max_new_tokens=tokens)
    cached = sample_many(model, [prompt], NEVER_EOS, settings, samples_per_prompt=1,
                         batch_rows=1)[0].ids
    with torch.no_grad():
        full = recompute_generate(model, prompt, NEVER_EOS, settings, torch.Generator())
    agree = next((i for i, (a, b) in enumerate(zip(cached, full, strict=True)) if a != b),
                 len(cached))
    return {"tokens": tokens, "agreeing_prefix": agree, "identical": cached == full}


def main() -> None:
    """Build model and prompts, warm up, time the three methods, print table and JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=3, help="samples per prompt")
    parser.add_argument("--new-tokens", type=int, default=350)
    parser.add_argument("--prompts", type=int, default=1, help="distinct prompts")
    parser.add_argument("--prompt-len", type=int, default=20, help="bos + this - 1 ids")
    parser.add_argument("--bos", type=int, default=1)
    parser.add_argument("--batch-rows", type=int, default=64, help="platform batch size")
    parser.add_argument("--n-layer", type=int, default=6)
    parser.add_argument("--n-embd", type=int, default=256)
    parser.add_argument("--n-head", type=int, default=8)
    parser.add_argument("--block-size", type=int, default=512)
    parser.add_argument("--vocab-size", type=int, default=8192)
    parser.add_argument("--checkpoint", help="sample from this checkpoint instead")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed runs of platform and cache-only; the fastest counts")
    parser.add_argument("--baseline-repeats", type=int, default=2,
                        help="timed runs of the full-recompute baseline; the fastest counts")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.set_grad_enabled(False)
    model, origin = build_model(args)
    config = model.config
    if args.prompt_len + args.new_tokens > config.block_size:
        parser.error(f"prompt {args.prompt_len} + {args.new_tokens} new tokens exceed "
                     f"block_size {config.block_size}")
    settings = SamplingSettings(max_new_tokens=args.new_tokens)
    prompts = make_prompts(args.prompts, args.prompt_len, config.vocab_size, args.bos, args.seed)
    print(f"model: {origin}, {config.n_layer} layers x {config.n_embd} wide, {config.n_head} "
          f"heads, block {config.block_size}, vocab {config.vocab_size}, "
          f"{model.num_params() / 1e6:.2f}M params; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {os.cpu_count()} CPUs")
    print(f"workload: {args.prompts} prompt(s) of {args.prompt_len} ids x {args.samples} "
          f"samples x {args.new_tokens} new tokens (temperature {settings.temperature}, "
          f"top-k {settings.top_k})")

    warm = replace(settings, max_new_tokens=WARMUP_TOKENS)
    run_platform(model, prompts, warm, args.samples, args.batch_rows, args.seed)
    run_platform(model, prompts, warm, args.samples, 1, args.seed)
    run_baseline(model, prompts, warm, args.samples, args.seed)

    methods = {
        "platform": best_of(args.repeats, run_platform, model, prompts, settings,
                            args.samples, args.batch_rows, args.seed),
        "cache-only": best_of(args.repeats, run_platform, model, prompts, settings,
                              args.samples, 1, args.seed),
        "baseline": best_of(args.baseline_repeats, run_baseline, model, prompts, settings,
                            args.samples, args.seed),
    }
    expected = args.prompts * args.samples * args.new_tokens
    for name, result in methods.items():
        if result["tokens"] != expected or result["min_len"] != args.new_tokens:
            raise AssertionError(f"{name} generated {result['tokens']} tokens "
                                 f"(shortest sample {result['min_len']}), expected {expected}")
    greedy = greedy_agreement(model, prompts[0], min(GREEDY_CHECK_TOKENS, args.new_tokens))

    base = methods["baseline"]["per_s"]
    ratio = methods["platform"]["per_s"] / base
    cache_ratio = methods["cache-only"]["per_s"] / base
    batch_ratio = methods["platform"]["per_s"] / methods["cache-only"]["per_s"]
    descriptions = {
        "platform": f"sample_many, batch_rows={args.batch_rows} (cache + batching)",
        "cache-only": "sample_many, batch_rows=1 (cache only)",
        "baseline": "full recompute, one sample at a time",
    }
    print()
    print(f"{'method':<11} {'tokens':>7} {'seconds':>9} {'tokens/s':>10} {'vs baseline':>12}  "
          "what")
    for name, result in methods.items():
        print(f"{name:<11} {result['tokens']:>7,} {result['seconds']:>9.3f} "
              f"{result['per_s']:>10,.1f} {result['per_s'] / base:>11.1f}x  "
              f"{descriptions[name]}")
    print(f"batching on top of the cache: {batch_ratio:.2f}x; greedy check: first "
          f"{greedy['agreeing_prefix']}/{greedy['tokens']} ids agree between cached and "
          "full-recompute loops")
    print()

    result = {
        "benchmark": "sample",
        "model": {"origin": origin, **config.to_dict(), "params": model.num_params()},
        "torch_threads": torch.get_num_threads(),
        "prompts": args.prompts,
        "samples_per_prompt": args.samples,
        "new_tokens": args.new_tokens,
        "prompt_len": args.prompt_len,
        "methods": {name: {"tokens": r["tokens"], "seconds": round(r["seconds"], 3),
                           "tokens_per_s": round(r["per_s"], 1)}
                    for name, r in methods.items()},
        "ratio": round(ratio, 2),
        "cache_only_ratio": round(cache_ratio, 2),
        "batching_ratio": round(batch_ratio, 2),
        "greedy_check": greedy,
        "bar": f"platform (cached, batched) tokens/s >= {BAR_RATIO}x full-recompute "
               f"generation for {args.samples} samples x {args.new_tokens} new tokens "
               "on the same model",
        "meets_bar": ratio >= BAR_RATIO,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
