"""Benchmark: steps and wall time the `modern` recipe needs to reach `nanogpt`'s quality.

Data: `--stories` (default 20,000) Hindi stories from the platform's offline writer (random
noun, verb, adjective and feature per story, seeded), a SentencePiece unigram tokenizer of
`--vocab` pieces trained on them, and token bins written by `write_token_bins` (10% val).
Both recipes train on these same bins, with the same shape (`--layers`, `--width`, `--heads`,
context `--context`, batch `--batch`), seed, warmup and `min_lr_ratio`, through the real
trainer (`tsr_assets.model.train.train`), in fp32 on the CPU.

1. `nanogpt` trains for `--steps` N steps (cosine to the end, AdamW at `--nanogpt-lr`) and is
   evaluated once at the end: its final validation bits per byte is the target.
2. `modern` trains with a horizon of `--modern-fraction` x N steps (its schedule ends there;
   Muon at `--muon-lr`, AdamW at `--modern-lr` for embeddings, head and gains), evaluated
   every `--eval-every` steps on the same fixed validation windows. Its steps to target are
   the first evaluated step at or below the target; its wall time is the trainer's own clock
   (`elapsed_s` of `metrics.jsonl`) at that step minus the time spent evaluating before it.
   If it does not reach the target inside its horizon, it is trained again with a horizon of
   N steps to count the steps it needs (reported, the bar then fails).

A 3-step run of each recipe first warms torch up. nanogpt's wall time is its clock at step
N minus its one evaluation. Ratios are modern / nanogpt. Bar: steps ratio <= 0.5 and wall
ratio <= 0.6.

    python benchmarks/recipe_bench.py [--steps 600] [--stories 20000] [--dry-run]

Last line: one JSON object with the figures and `meets_bar`.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tsr_assets.model.train import train  # noqa: E402
from tsr_assets.model.train_config import TrainConfig  # noqa: E402

BAR_STEPS = 0.5
BAR_WALL = 0.6


def offline_stories(count: int, seed: int) -> tuple[list[str], list[str]]:
    """`count` offline-writer Hindi stories and their prompt ids."""
    from tsr_assets.core.languages import get_language
    from tsr_assets.prompts.wordlists import load_wordlists
    from tsr_assets.stories.offline_writer import load_sentence_banks, write_offline_story

    language = get_language("hindi")
    banks = load_sentence_banks(language.package_data_dir)
    lists = load_wordlists(language.package_data_dir, language)
    rng = random.Random(seed)
    ids = [f"{rng.getrandbits(64):016x}" for _ in range(count)]
    stories = [write_offline_story(pid, rng.choice(lists.nouns), rng.choice(lists.verbs),
                                   rng.choice(lists.adjectives), rng.randrange(15), banks,
                                   feature_count=15) for pid in ids]
    return ids, stories


def make_bins(folder: Path, stories: int, vocab: int, seed: int) -> dict:
    """Token bins of offline stories under `folder`; returns their meta."""
    from tsr_assets.tokenizers.spm_tokenizer import SentencePieceTokenizer, train_spm
    from tsr_assets.tokenizers.token_bins import write_token_bins

    ids, texts = offline_stories(stories, seed)
    tokenizer = SentencePieceTokenizer(train_spm(texts, vocab))
    return write_token_bins(tokenizer, [(ids, texts)], folder, val_share=0.1)


def run(bins: Path, out: Path, args: argparse.Namespace, recipe: str, horizon: int,
        eval_every: int, quiet: bool) -> tuple[dict, list[dict]]:
    """Train one recipe; returns its summary and its metrics rows."""
    cfg = TrainConfig(
        bins_dir=str(bins), out_dir=str(out), preset="tiny", recipe=recipe,
        n_layer=args.layers, n_embd=args.width, n_head=args.heads, block_size=args.context,
        batch_size=args.batch, max_steps=horizon, warmup_steps=args.warmup,
        learning_rate=args.nanogpt_lr if recipe == "nanogpt" else args.modern_lr,
        muon_lr=args.muon_lr, min_lr_ratio=0.1, eval_every=eval_every,
        eval_batches=args.eval_batches, log_every=max(1, horizon // 10), seed=args.seed,
        device="cpu", dtype="float32", resume=False)
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink) if quiet else contextlib.nullcontext():
        summary = train(cfg)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return summary, rows


def clock(rows: list[dict], step: int) -> float:
    """Trainer seconds up to the end of `step`, without the evaluations before it."""
    step_end = {r["step"]: r["elapsed_s"] for r in rows if "train_loss" in r}
    eval_time = 0.0
    for row in rows:
        if "val_loss" in row and row["step"] < step:
            eval_time += row["elapsed_s"] - step_end[row["step"]]
    return step_end[step] - eval_time


def first_at_or_below(rows: list[dict], target: float) -> int | None:
    """The first evaluated step whose val bits per byte is at most `target`."""
    for row in rows:
        if "val_bits_per_byte" in row and row["val_bits_per_byte"] <= target:
            return row["step"]
    return None


def parse_args() -> argparse.Namespace:
    """Command-line settings (defaults: the shape and budget of the recorded figures)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stories", type=int, default=20_000)
    parser.add_argument("--vocab", type=int, default=2048)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--modern-fraction", type=float, default=0.5)
    parser.add_argument("--eval-every", type=int, default=15)
    parser.add_argument("--eval-batches", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--context", type=int, default=256)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--nanogpt-lr", type=float, default=3e-3)
    parser.add_argument("--modern-lr", type=float, default=3e-3)
    parser.add_argument("--muon-lr", type=float, default=0.02)
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--dry-run", action="store_true",
                        help="a few hundred stories and steps: checks the script works")
    parser.add_argument("--verbose", action="store_true", help="show the trainer's lines")
    args = parser.parse_args()
    if args.dry_run:
        args.stories, args.steps, args.eval_every, args.warmup = 600, 40, 5, 4
        args.layers, args.width, args.context = 2, 64, 64
    return args


def main() -> None:
    """Run both recipes and print the figures; the last line is one JSON object."""
    args = parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        started = time.monotonic()
        meta = make_bins(root / "bins", args.stories, args.vocab, args.seed)
        train_tokens = meta["splits"]["train"]["tokens"]
        print(f"data: {args.stories:,} stories, {train_tokens:,} training tokens, vocabulary "
              f"{meta['tokenizer']['vocab_size']:,} ({time.monotonic() - started:.0f} s)")
        quiet = not args.verbose
        for recipe in ("nanogpt", "modern"):  # first-call costs of torch land on neither run
            run(root / "bins", root / f"warm_{recipe}", args, recipe, 3, 3, True)
        base, base_rows = run(root / "bins", root / "nanogpt", args, "nanogpt", args.steps,
                              args.steps, quiet)
        target = base["final_val_bits_per_byte"]
        base_wall = clock(base_rows, args.steps)
        print(f"nanogpt: {args.steps} steps, val {target:.4f} bits/byte, {base_wall:.1f} s")

        horizon = max(1, round(args.steps * args.modern_fraction))
        modern, rows = run(root / "bins", root / "modern", args, "modern", horizon,
                           args.eval_every, quiet)
        reached = first_at_or_below(rows, target)
        if reached is None:
            print(f"modern: not at {target:.4f} within {horizon} steps (final "
                  f"{modern['final_val_bits_per_byte']:.4f}); again with {args.steps} steps")
            horizon = args.steps
            modern, rows = run(root / "bins", root / "modern_full", args, "modern", horizon,
                               args.eval_every, quiet)
            reached = first_at_or_below(rows, target)
    steps_ratio = reached / args.steps if reached else None
    wall = clock(rows, reached) if reached else None
    wall_ratio = wall / base_wall if wall else None
    if reached:
        print(f"modern (horizon {horizon} steps): reached {target:.4f} at step {reached} in "
              f"{wall:.1f} s; {steps_ratio:.3f}x the steps, {wall_ratio:.3f}x the wall time; "
              f"final {modern['final_val_bits_per_byte']:.4f} bits/byte")
    else:
        print(f"modern: did not reach {target:.4f} in {args.steps} steps")
    seconds_per_step = {"nanogpt": base_wall / args.steps,
                        "modern": clock(rows, horizon) / horizon}
    result = {
        "benchmark": "recipe", "dry_run": args.dry_run, "stories": args.stories,
        "train_tokens": train_tokens,
        "shape": {"n_layer": args.layers, "n_embd": args.width, "n_head": args.heads,
                  "block_size": args.context, "batch_size": args.batch, "vocab": args.vocab},
        "nanogpt": {"steps": args.steps, "final_val_bpb": round(target, 4),
                    "wall_s": round(base_wall, 1), "lr": args.nanogpt_lr},
        "modern": {"horizon": horizon, "steps_to_target": reached,
                   "wall_s_to_target": round(wall, 1) if wall else None,
                   "final_val_bpb": round(modern["final_val_bits_per_byte"], 4),
                   "lr": args.modern_lr, "muon_lr": args.muon_lr},
        "seconds_per_step": {k: round(v, 4) for k, v in seconds_per_step.items()},
        "steps_ratio": round(steps_ratio, 3) if steps_ratio else None,
        "wall_ratio": round(wall_ratio, 3) if wall_ratio else None,
        "bar": {"steps_ratio_max": BAR_STEPS, "wall_ratio_max": BAR_WALL},
        "meets_bar": bool(steps_ratio is not None and steps_ratio <= BAR_STEPS
                          and wall_ratio <= BAR_WALL),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
