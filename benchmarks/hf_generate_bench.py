"""Benchmark: the platform's sampler against `transformers` `generate` on the same weights.

A randomly initialised platform `GPT` (default 6 layers, 256 wide, 8 heads, context 1024,
vocabulary 8192) is exported with `model/hf_export.py` and loaded back with
`AutoModelForCausalLM.from_pretrained`, so both run identical weights. Each side writes
`--samples` continuations of `--new-tokens` tokens from same-length prompts (no padding), on
the CPU, with top-k sampling (temperature 0.8, top-k 15: the platform's defaults):

* `platform`: `sample_many(model, prompts, eos, settings, samples_per_prompt=1, batch_rows)`;
* `transformers`: `model.generate(ids, do_sample=True, top_k=15, temperature=0.8,
  max_new_tokens=N, min_new_tokens=N)` with its key/value cache on (the default).

Neither may stop early (the platform's eos is an id no sampler draws; `transformers` gets
`min_new_tokens`), so both produce the same number of tokens. Each side is warmed up once;
the fastest of `--repeats` runs counts. Greedy continuations of the same prompts must be
identical id for id (checked, part of the bar).

    python benchmarks/hf_generate_bench.py [--batches 3 32] [--new-tokens 350] [--repeats 3]

Last line: one JSON object with the figures and `meets_bar` (platform >= 1.5x transformers'
tokens/s at every batch size, with identical greedy output).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tsr_assets.model.gpt import GPT, GPTConfig  # noqa: E402
from tsr_assets.model.hf_export import export_model  # noqa: E402
from tsr_assets.model.sample import SamplingSettings, generate, sample_many  # noqa: E402
from tsr_assets.tokenizers.byte_tokenizer import ByteTokenizer  # noqa: E402

BAR_RATIO = 1.5
NEVER_EOS = -1
PROMPT_LEN = 16
GREEDY_TOKENS = 32


def prompts(count: int, vocab: int, seed: int = 0) -> list[list[int]]:
    """`count` random same-length prompts."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab, (count, PROMPT_LEN), generator=generator).tolist()


def time_platform(model: GPT, batch: list[list[int]], new_tokens: int) -> tuple[float, int]:
    """Seconds and tokens for the platform sampler on one batch."""
    settings = SamplingSettings(max_new_tokens=new_tokens)
    started = time.perf_counter()
    records = sample_many(model, batch, NEVER_EOS, settings, samples_per_prompt=1,
                          batch_rows=len(batch), seed=1)
    return time.perf_counter() - started, sum(len(r.ids) for r in records)


@torch.no_grad()
def time_transformers(hf, batch: list[list[int]], new_tokens: int) -> tuple[float, int]:
    """Seconds and tokens for `transformers` generate on one batch."""
    ids = torch.tensor(batch)
    torch.manual_seed(1)
    started = time.perf_counter()
    out = hf.generate(ids, attention_mask=torch.ones_like(ids), do_sample=True, top_k=15,
                      temperature=0.8, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                      pad_token_id=0)
    return time.perf_counter() - started, int((out.shape[1] - ids.shape[1]) * ids.shape[0])


def greedy_matches(model: GPT, hf, batch: list[list[int]]) -> bool:
    """Do both give the same greedy continuation of every prompt?"""
    settings = SamplingSettings(temperature=0.0, top_k=None, max_new_tokens=GREEDY_TOKENS)
    ours = [g.ids for g in generate(model, batch, NEVER_EOS, settings, torch.Generator())]
    ids = torch.tensor(batch)
    with torch.no_grad():
        theirs = hf.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False,
                             max_new_tokens=GREEDY_TOKENS, min_new_tokens=GREEDY_TOKENS,
                             pad_token_id=0)[:, PROMPT_LEN:].tolist()
    return ours == theirs


def fastest(fn, repeats: int) -> tuple[float, int]:
    """The fastest of `repeats` runs (seconds, tokens)."""
    return min((fn() for _ in range(repeats)), key=lambda r: r[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[3, 32])
    parser.add_argument("--new-tokens", type=int, default=350)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n-layer", type=int, default=6)
    parser.add_argument("--n-embd", type=int, default=256)
    parser.add_argument("--vocab-size", type=int, default=8192)
    args = parser.parse_args()
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=args.vocab_size, block_size=1024, n_layer=args.n_layer,
                          n_head=8, n_embd=args.n_embd)).eval()
    with tempfile.TemporaryDirectory() as tmp:
        export_model(model, ByteTokenizer(), Path(tmp) / "export", "# benchmark\n")
        hf = AutoModelForCausalLM.from_pretrained(str(Path(tmp) / "export")).eval()
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"{model.num_params():,} parameters, load average {os.getloadavg()[0]:.2f}")
    rows = []
    for size in args.batches:
        batch = prompts(size, args.vocab_size, seed=size)
        time_platform(model, batch, 8)  # warm-up
        time_transformers(hf, batch, 8)
        ours = fastest(lambda b=batch: time_platform(model, b, args.new_tokens), args.repeats)
        theirs = fastest(lambda b=batch: time_transformers(hf, b, args.new_tokens),
                         args.repeats)
        row = {"batch": size, "new_tokens": args.new_tokens,
               "platform_tokens_per_s": round(ours[1] / ours[0], 1),
               "transformers_tokens_per_s": round(theirs[1] / theirs[0], 1),
               "tokens": [ours[1], theirs[1]]}
        row["ratio"] = round(row["platform_tokens_per_s"] / row["transformers_tokens_per_s"], 3)
        rows.append(row)
        print(f"batch {size:>3} x {args.new_tokens}: platform {row['platform_tokens_per_s']:,} "
              f"tokens/s, transformers {row['transformers_tokens_per_s']:,} ({row['ratio']}x)")
    identical = greedy_matches(model, hf, prompts(3, args.vocab_size, seed=99))
    print(f"greedy output identical: {identical}")
    print(json.dumps({
        "benchmark": "hf_generate", "runs": rows, "greedy_identical": identical,
        "bar": f"platform >= {BAR_RATIO}x transformers tokens/s at every batch size, "
               "identical greedy output",
        "meets_bar": identical and all(r["ratio"] >= BAR_RATIO for r in rows),
    }))


if __name__ == "__main__":
    main()
