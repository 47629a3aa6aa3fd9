"""Benchmark: token bins throughput against a per-story loop, and memory against corpus size.

A corpus of N offline Hindi stories is written with the real offline writer (nouns, verbs and
adjectives drawn from the packaged wordlists) into parquet shards (`part-XXXX.parquet`,
columns prompt_id and story). For each offline tokenizer (`spm` trained on the corpus' train
split, `byte`, `gpt2`):

* `pipeline`: the real streaming path, `write_token_bins(tok, iter_story_batches(shards), out)`
  (reads parquet in Arrow batches, splits train/val, encodes on one thread per CPU, writes
  `train.bin`/`val.bin`);
* `baseline`: the original framework's approach re-created here: read every story with
  `pl.read_parquet`, then per story `ids = [bos] + encode(story) + [eos]` appended to one Python
  list per split (same `val_mask`), `np.array(ids, dtype)`, written to a `.bin` file. `encode`
  is the backend's own single-text call (`SentencePieceProcessor.encode`, tiktoken's
  `encode_ordinary`, UTF-8 bytes): what a per-story script calls, and without the thread pool
  that the platform's batch API would start for each single-story call.

For information only, the same loop is also timed through the platform's own
`Tokenizer.encode` (`api-loop`), which hands each single story to the backend's batch call.
Throughput figures are the fastest of `--repeats` runs. Both produce the same ids; the
baseline's are compared with the pipeline's bins id for id.
Then the pipeline's peak RSS (VmHWM) is measured in a fresh process for each of several corpus
sizes. What it holds at once is bounded by the batches in flight (encoding threads + 3, one
5,000-row shard each), so the peak grows until the pipeline is full (20,000 stories are only 4
batches) and then stays put: the third size shows whether it does.

    python benchmarks/bins_bench.py [--stories 20000] [--memory-counts 20000 80000 160000]
        [--memory-tokenizers gpt2 spm]

Last line: one JSON object with the figures and `meets_bar` (pipeline tokens/s >= 5x the
baseline's for every tokenizer, and peak RSS at the largest corpus <= 1.25x the smallest's).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from peak_memory import peak_rss_mb  # noqa: E402

from tsr_assets.tokenizers.base import Tokenizer, bins_dtype  # noqa: E402
from tsr_assets.tokenizers.token_bins import (  # noqa: E402
    DEFAULT_VAL_SHARE,
    SPLITS,
    iter_split_texts,
    iter_story_batches,
    open_bins,
    val_mask,
    write_token_bins,
)

BAR_RATIO = 5.0
BAR_RSS_RATIO = 1.25
TOKENIZERS = ("spm", "byte", "gpt2")
SPM_VOCAB = 8192


def write_corpus(folder: Path, count: int, shard_rows: int = 5000, seed: int = 0) -> list[Path]:
    """Write `count` offline Hindi stories as parquet shards in `folder`; return the shards.

    Story i always has prompt_id f"{i:016x}" and the same words for a given seed, so a smaller
    corpus is a prefix of a larger one.
    """
    from tsr_assets.core.languages import get_language
    from tsr_assets.prompts.wordlists import load_wordlists
    from tsr_assets.stories.offline_writer import load_sentence_banks, write_offline_story

    hindi = get_language("hindi")
    banks = load_sentence_banks(hindi.package_data_dir)
    lists = load_wordlists(hindi.package_data_dir, hindi)
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    shards: list[Path] = []
    for shard_no, start in enumerate(range(0, count, shard_rows)):
        prompt_ids: list[str] = []
        stories: list[str] = []
        for i in range(start, min(start + shard_rows, count)):
            prompt_id = f"{i:016x}"
            prompt_ids.append(prompt_id)
            stories.append(write_offline_story(
                prompt_id, rng.choice(lists.nouns), rng.choice(lists.verbs),
                rng.choice(lists.adjectives), i % len(lists.features), banks,
            ))
        path = folder / f"part-{shard_no:04d}.parquet"
        pl.DataFrame({"prompt_id": prompt_ids, "story": stories}).write_parquet(path)
        shards.append(path)
    return shards


def shard_paths(folder: Path) -> list[Path]:
    """The corpus shards of `folder`, in order."""
    return sorted(folder.glob("part-*.parquet"))


def load_tokenizer(kind: str, spm_model: Path | None) -> Tokenizer:
    """The platform tokenizer of `kind`; spm is read from `spm_model`."""
    if kind == "spm":
        from tsr_assets.tokenizers.spm_tokenizer import SentencePieceTokenizer

        if spm_model is None:
            raise ValueError("spm needs a trained model file")
        return SentencePieceTokenizer(spm_model.read_bytes())
    if kind == "byte":
        from tsr_assets.tokenizers.byte_tokenizer import ByteTokenizer

        return ByteTokenizer()
    if kind == "gpt2":
        from tsr_assets.tokenizers.gpt2_tokenizer import GPT2Tokenizer

        return GPT2Tokenizer()
    raise ValueError(f"unknown tokenizer {kind!r}")


def single_encoder(kind: str, spm_model: Path | None) -> Callable[[str], list[int]]:
    """The backend's own one-text encode, as a per-story script would call it."""
    if kind == "spm":
        import sentencepiece as spm

        assert spm_model is not None
        processor = spm.SentencePieceProcessor(model_proto=spm_model.read_bytes())
        return processor.encode
    if kind == "byte":
        return lambda text: list(text.encode("utf-8"))
    if kind == "gpt2":
        from tsr_assets.tokenizers.gpt2_tokenizer import load_gpt2_encoding

        encoding, _ = load_gpt2_encoding()
        return encoding.encode_ordinary
    raise ValueError(f"unknown tokenizer {kind!r}")


def run_pipeline(tokenizer: Tokenizer, shards: list[Path], out: Path) -> dict:
    """Time the real streaming bins path; return seconds and token counts."""
    started = time.perf_counter()
    meta = write_token_bins(tokenizer, iter_story_batches(shards), out)
    seconds = time.perf_counter() - started
    tokens = sum(meta["splits"][split]["tokens"] for split in SPLITS)
    return {"seconds": seconds, "tokens": tokens, "per_s": tokens / seconds,
            "stories": sum(meta["splits"][split]["stories"] for split in SPLITS)}


def run_baseline(
    encode: Callable[[str], list[int]], bos: int, eos: int, vocab_size: int,
    shards: list[Path], out: Path,
) -> dict:
    """Time the per-story loop: read all, frame each story into a Python list, np.array, write."""
    started = time.perf_counter()
    frame = pl.read_parquet(shards, columns=["prompt_id", "story"])
    in_val = val_mask(frame["prompt_id"].to_list(), DEFAULT_VAL_SHARE)
    all_ids: dict[str, list[int]] = {split: [] for split in SPLITS}
    for story, is_val in zip(frame["story"].to_list(), in_val, strict=True):
        ids = [bos] + encode(story) + [eos]
        all_ids["val" if is_val else "train"].extend(ids)
    dtype = bins_dtype(vocab_size)
    out.mkdir(parents=True, exist_ok=True)
    tokens = 0
    for split in SPLITS:
        array = np.array(all_ids[split], dtype=dtype)
        array.tofile(out / f"{split}.bin")
        tokens += array.size
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "tokens": tokens, "per_s": tokens / seconds}


def compare_bins(baseline_dir: Path, pipeline_dir: Path, dtype: np.dtype) -> dict:
    """Whether both folders hold the same ids per split; where they first differ if not."""
    report: dict = {"identical": True}
    for split in SPLITS:
        theirs = np.fromfile(baseline_dir / f"{split}.bin", dtype=dtype)
        ours = open_bins(pipeline_dir, split)
        if np.array_equal(theirs, ours):
            continue
        report["identical"] = False
        common = min(theirs.size, ours.size)
        diff = np.flatnonzero(theirs[:common] != np.asarray(ours[:common]))
        first = int(diff[0]) if diff.size else common
        report[split] = {
            "baseline_tokens": int(theirs.size), "pipeline_tokens": int(ours.size),
            "first_difference_at": first,
            "baseline_ids_there": theirs[first:first + 8].tolist(),
            "pipeline_ids_there": np.asarray(ours[first:first + 8]).tolist(),
        }
    return report


def best_of(repeats: int, run: Callable[..., dict], *args: object) -> dict:
    """The fastest (by seconds) of `repeats` calls of `run(*args)`."""
    return min((run(*args) for _ in range(max(1, repeats))),
               key=lambda figures: figures["seconds"])


def child(kind: str, corpus: Path, spm_model: Path | None) -> None:
    """Subprocess entry for the memory runs: the pipeline on `corpus`, figures + peak RSS."""
    tokenizer = load_tokenizer(kind, spm_model)
    with tempfile.TemporaryDirectory() as tmp:
        figures = run_pipeline(tokenizer, shard_paths(corpus), Path(tmp) / "bins")
    figures["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(figures))


def measure_memory(kind: str, corpus: Path, spm_model: Path | None) -> dict:
    """Run the pipeline for `kind` on `corpus` in a fresh process; return its figures."""
    command = [sys.executable, __file__, "--child", kind, "--corpus", str(corpus)]
    if spm_model is not None:
        command += ["--spm-model", str(spm_model)]
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} memory run failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    """Build the corpora, run pipeline and baseline per tokenizer, then the memory runs."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stories", type=int, default=20_000)
    parser.add_argument("--memory-counts", type=int, nargs="+", default=[20_000, 80_000, 160_000],
                        help="corpus sizes (at least two) for the peak-RSS runs")
    parser.add_argument("--memory-tokenizers", nargs="+", choices=TOKENIZERS,
                        default=["gpt2", "spm"])
    parser.add_argument("--shard-rows", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=5,
                        help="runs of each throughput measurement; the fastest counts")
    parser.add_argument("--child", choices=TOKENIZERS, help=argparse.SUPPRESS)
    parser.add_argument("--corpus", help=argparse.SUPPRESS)
    parser.add_argument("--spm-model", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if len(set(args.memory_counts)) < 2:
        parser.error("--memory-counts needs at least two different sizes")
    if args.child:
        child(args.child, Path(args.corpus), Path(args.spm_model) if args.spm_model else None)
        return

    from tsr_assets.tokenizers.spm_tokenizer import train_spm

    rows: dict[str, dict] = {}
    memory: dict[str, dict[int, dict]] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        started = time.perf_counter()
        shards = write_corpus(tmp / "corpus", args.stories, args.shard_rows)
        corpus_mb = sum(p.stat().st_size for p in shards) / 1e6
        print(f"cpus: {os.cpu_count()} (the pipeline encodes on that many threads)")
        print(f"corpus: {args.stories:,} stories in {len(shards)} shards ({corpus_mb:.1f} MB "
              f"parquet), written in {time.perf_counter() - started:.1f}s")

        started = time.perf_counter()
        spm_model = tmp / "spm.model"
        spm_model.write_bytes(train_spm(
            iter_split_texts(shards, "train", DEFAULT_VAL_SHARE), vocab_size=SPM_VOCAB
        ))
        got = load_tokenizer("spm", spm_model).vocab_size
        print(f"spm: trained in {time.perf_counter() - started:.1f}s, vocab {got} "
              f"(asked for {SPM_VOCAB}; SentencePiece stops at what the corpus supports)")

        for kind in TOKENIZERS:
            tokenizer = load_tokenizer(kind, spm_model)
            encode = single_encoder(kind, spm_model)
            framing = (tokenizer.bos_id, tokenizer.eos_id, tokenizer.vocab_size)
            pipeline = best_of(args.repeats, run_pipeline,
                               tokenizer, shards, tmp / kind / "pipeline")
            baseline = best_of(args.repeats, run_baseline,
                               encode, *framing, shards, tmp / kind / "baseline")
            api_baseline = best_of(args.repeats, run_baseline,
                                   tokenizer.encode, *framing, shards, tmp / kind / "api-loop")
            comparison = compare_bins(tmp / kind / "baseline", tmp / kind / "pipeline",
                                      bins_dtype(tokenizer.vocab_size))
            if pipeline["tokens"] != baseline["tokens"]:
                comparison["identical"] = False
            rows[kind] = {
                "tokenizer": tokenizer.name,
                "tokens": pipeline["tokens"],
                "pipeline_s": round(pipeline["seconds"], 3),
                "pipeline_tokens_per_s": round(pipeline["per_s"]),
                "baseline_s": round(baseline["seconds"], 3),
                "baseline_tokens_per_s": round(baseline["per_s"]),
                "ratio": round(pipeline["per_s"] / baseline["per_s"], 2),
                "api_baseline_tokens_per_s": round(api_baseline["per_s"]),
                "ratio_vs_api_baseline": round(pipeline["per_s"] / api_baseline["per_s"], 2),
                **comparison,
            }

        memory_corpora: dict[int, Path] = {}
        for count in args.memory_counts:
            memory_corpora[count] = tmp / f"corpus-{count}"
            write_corpus(memory_corpora[count], count, args.shard_rows)
        for kind in args.memory_tokenizers:
            memory[kind] = {
                count: measure_memory(kind, folder, spm_model if kind == "spm" else None)
                for count, folder in memory_corpora.items()
            }

    print()
    print(f"{'tokenizer':<10} {'tokens':>11} {'pipeline tok/s':>15} {'baseline tok/s':>15} "
          f"{'ratio':>7}  identical  {'api-loop tok/s':>15} {'ratio':>7}")
    for kind, row in rows.items():
        print(f"{kind:<10} {row['tokens']:>11,} {row['pipeline_tokens_per_s']:>15,} "
              f"{row['baseline_tokens_per_s']:>15,} {row['ratio']:>6.1f}x  "
              f"{row['identical']!s:<9}  {row['api_baseline_tokens_per_s']:>15,} "
              f"{row['ratio_vs_api_baseline']:>6.1f}x")
        for split in SPLITS:
            if split in row:
                print(f"  {split} differs: {row[split]}")
    small, large = min(args.memory_counts), max(args.memory_counts)
    print()
    print(f"{'tokenizer':<10} {'stories':>9} {'peak RSS MB':>12} {'tok/s':>12}")
    rss_ratios: dict[str, float] = {}
    for kind, by_count in memory.items():
        for count, figures in by_count.items():
            print(f"{kind:<10} {count:>9,} {figures['peak_rss_mb']:>12.1f} "
                  f"{figures['per_s']:>12,.0f}")
        rss_ratios[kind] = by_count[large]["peak_rss_mb"] / by_count[small]["peak_rss_mb"]
        print(f"{kind:<10} RSS ratio {large:,}/{small:,}: {rss_ratios[kind]:.3f}")
    print()

    min_ratio = min(row["ratio"] for row in rows.values())
    max_rss_ratio = max(rss_ratios.values())
    result = {
        "benchmark": "bins",
        "stories": args.stories,
        "cpus": os.cpu_count(),
        "tokenizers": rows,
        "min_ratio": min_ratio,
        "all_identical": all(row["identical"] for row in rows.values()),
        "peak_rss_mb": {kind: {str(count): round(figures["peak_rss_mb"], 1)
                               for count, figures in by_count.items()}
                        for kind, by_count in memory.items()},
        "rss_ratio_large_to_small": {kind: round(r, 3) for kind, r in rss_ratios.items()},
        "bar": f"pipeline tokens/s >= {BAR_RATIO}x the per-story baseline for every tokenizer; "
               f"peak RSS for {large:,} stories <= {BAR_RSS_RATIO}x that for {small:,}",
        "meets_bar": min_ratio >= BAR_RATIO and max_rss_ratio <= BAR_RSS_RATIO,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
