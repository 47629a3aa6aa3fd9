"""Benchmark: the data side of the study at the study's size, in bounded memory.

For each size in `--stories` (default 200,000 and 1,000,000; the study's own size is
`--stories 200000 2000000`), in a fresh Dagster home and data lake, a child process runs the
offline chain the way a researcher does:

    tsr run --language hindi --prompts N --tokenizers spm byte --presets

that is `language_job` (wordlists, prompts, stories with the offline writer and their checks,
near_duplicates, contamination, corpus_quality, hf_dataset), then `language_tokenizer_job` for
each tokenizer up to `tokenizer_stats` (tokenizer, token_bins and its check, tokenizer_stats),
no training. This process samples the resident memory (RSS) of the child's whole process
tree (the child and every worker it starts) every 0.5 s, reads each step's start and end from
the Dagster instance afterwards, and prints per step the seconds and the peak GB, and between
the first and the last size their growth factors next to the stories' growth factor.

At the first size it also checks the tokenizer's training sample: SentencePiece trained on
every train story (the old way) against the platform's tokenizer (trained on its seeded sample
of `max_train_stories`), both compared by fertility (tokens per word) on the val stories.

Last line: one JSON object with the figures and `meets_bar`: every step's peak at most 4 GB
at every size up to 2,000,000 stories, the chain's time growing at most linearly with the
stories (time ratio <= stories ratio x 1.1, the 10% for a shared machine's noise), and the
sampled tokenizer's fertility within 1% of the one trained on everything, and with
`--baseline`, the chain at the first size no slower than the baseline's (x 1.1).

    python benchmarks/scale_bench.py [--stories 200000 1000000] [--tokenizers spm byte]
        [--keep DIR] [--no-fertility] [--baseline GIT_REF]

With `--baseline REF` the chain also runs at the first size with the code of an older commit
(a git worktree on the same environment), and each step's seconds and peak are printed
beside today's: the check that nothing got slower at the small size.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
PEAK_BAR_GB = 4.0
TIME_NOISE = 1.1
FERTILITY_BAR = 0.01
SAMPLE_EVERY_S = 0.5


class TreeSampler:
    """RSS of a process and all its descendants, sampled on a thread."""

    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _rss(self) -> float:
        total = 0
        try:
            procs = [self.root, *self.root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0.0
        for proc in procs:
            try:
                total += proc.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        return total / 2**30

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.time(), self._rss()))
            self._stop.wait(SAMPLE_EVERY_S)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def peak(self, start: float, end: float) -> float:
        """The highest sample taken between `start` and `end` (and the one just before)."""
        inside = [gb for t, gb in self.samples if start - SAMPLE_EVERY_S <= t <= end]
        return max(inside, default=0.0)


def _step_label(run_tags: dict, step_key: str) -> str:
    tokenizer = run_tags.get("dagster/partition/tokenizer")
    return f"{step_key} ({tokenizer})" if tokenizer else step_key


def step_times(home: Path) -> list[tuple[str, float, float]]:
    """(step, start, end) of every step of every run in the Dagster home, in run order."""
    os.environ["DAGSTER_HOME"] = str(home)
    import dagster as dg

    starts: dict[tuple[str, str], float] = {}
    steps: list[tuple[str, float, float]] = []
    with dg.DagsterInstance.get() as instance:
        for run in sorted(instance.get_runs(), key=lambda r: r.run_id):
            records = instance.all_logs(run.run_id, of_type={
                dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS,
                dg.DagsterEventType.STEP_FAILURE})
            for record in records:
                key = (run.run_id, record.step_key)
                if record.dagster_event.event_type == dg.DagsterEventType.STEP_START:
                    starts[key] = record.timestamp
                elif key in starts:
                    steps.append((_step_label(run.tags, record.step_key), starts[key],
                                  record.timestamp))
    return sorted(steps, key=lambda s: s[1])


def run_chain(stories: int, tokenizers: Sequence[str], root: Path,
              code: Path = REPO) -> dict:
    """The offline chain at one size in a fresh home and lake, with per-step figures; `code`
    is the checkout whose `tsr_assets` runs (a worktree of an older commit for a baseline)."""
    home, lake = root / "home", root / "lake"
    home.mkdir(parents=True)
    shutil.copy(code / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home), "TSR_DATA_DIR": str(lake),
           "TSR_PRESETS": "tiny", "TSR_IMPORTED_MODELS": "", "PYTHONPATH": str(code)}
    command = [sys.executable, "-c", "from tsr_assets.cli import main; main()", "run",
               "--language", "hindi", "--prompts", str(stories),
               "--tokenizers", *tokenizers, "--presets"]
    started = time.time()
    child = subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    with TreeSampler(child.pid) as sampler:
        output = child.communicate()[0]
    seconds = time.time() - started
    if child.returncode:
        raise SystemExit(f"tsr run failed at {stories} stories:\n{output[-4000:]}")
    steps = {}
    for label, start, end in step_times(home):
        steps[label] = {"seconds": round(end - start, 2),
                        "peak_gb": round(sampler.peak(start, end), 2)}
    return {"stories": stories, "seconds": round(seconds, 1),
            "peak_gb": round(max(gb for _, gb in sampler.samples), 2), "steps": steps,
            "lake": str(lake)}


def run_baseline(ref: str, stories: int, tokenizers: Sequence[str], root: Path,
                 ours: dict) -> dict:
    """The chain at `stories` with the code of commit `ref`; each step's time and peak beside
    ours (ratio = ours / baseline)."""
    worktree = root / f"baseline-{ref}"
    subprocess.run(["git", "worktree", "add", "--detach", str(worktree), ref], cwd=REPO,
                   check=True, capture_output=True)
    try:
        theirs = run_chain(stories, tokenizers, root / f"{stories}-baseline", code=worktree)
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=REPO,
                       capture_output=True)
    print(f"\nagainst {ref} at {stories:,} stories: {theirs['seconds']:.0f} s, peak "
          f"{theirs['peak_gb']:.2f} GB (ours {ours['seconds']:.0f} s, {ours['peak_gb']:.2f} GB)")
    print(f"{'step':44s} {'s then':>8s} {'s now':>8s} {'GB then':>8s} {'GB now':>8s}")
    steps = {}
    for label, now in ours["steps"].items():
        then = theirs["steps"].get(label)
        if then:
            steps[label] = {"seconds": [then["seconds"], now["seconds"]],
                            "peak_gb": [then["peak_gb"], now["peak_gb"]]}
            print(f"{label:44s} {then['seconds']:8.1f} {now['seconds']:8.1f} "
                  f"{then['peak_gb']:8.2f} {now['peak_gb']:8.2f}")
    return {"ref": ref, "stories": stories, "seconds": [theirs["seconds"], ours["seconds"]],
            "peak_gb": [theirs["peak_gb"], ours["peak_gb"]], "steps": steps}


def fertility_check(lake: Path) -> dict:
    """SentencePiece on every train story against the platform's sampled one: fertility on
    the val stories, trained with the same settings."""
    os.environ["TSR_DATA_DIR"] = str(lake)
    from tsr_assets.core.lake import Lake
    from tsr_assets.stories.corpus import corpus_of
    from tsr_assets.tokenizers.base import TokenizerSettings
    from tsr_assets.tokenizers.registry import load_tokenizer
    from tsr_assets.tokenizers.spm_tokenizer import SentencePieceTokenizer, train_spm
    from tsr_assets.tokenizers.token_bins import DEFAULT_VAL_SHARE, iter_split_texts

    lake_ = Lake(lake)
    shards = corpus_of(lake_, "hindi", "generated").shards
    sampled = load_tokenizer(lake_.tokenizer_dir("hindi", "spm"))
    settings = TokenizerSettings()
    started = time.monotonic()
    everything = SentencePieceTokenizer(train_spm(
        iter_split_texts(shards, "train", DEFAULT_VAL_SHARE), settings.vocab_size,
        settings.model_type, settings.max_train_sentences))
    seconds = time.monotonic() - started
    val = list(iter_split_texts(shards, "val", DEFAULT_VAL_SHARE))
    words = sum(len(t.split()) for t in val)

    def fertility(tok) -> float:
        return sum(len(ids) for ids in tok.encode_batch(val)) / words

    ours, full = fertility(sampled), fertility(everything)
    return {"val_stories": len(val), "fertility_sampled": round(ours, 5),
            "fertility_all": round(full, 5), "relative_difference": round(ours / full - 1, 5),
            "train_all_seconds": round(seconds, 1),
            "vocab_sampled": sampled.vocab_size, "vocab_all": everything.vocab_size}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stories", type=int, nargs="+", default=[200_000, 1_000_000])
    parser.add_argument("--tokenizers", nargs="+", default=["spm", "byte"])
    parser.add_argument("--keep", type=Path, help="keep the homes and lakes in this folder")
    parser.add_argument("--no-fertility", action="store_true",
                        help="skip SentencePiece on every train story at the first size")
    parser.add_argument("--baseline", metavar="GIT_REF",
                        help="also run the chain at the first size with the code of this commit "
                        "(a git worktree, same environment) and print each step's time ratio")
    args = parser.parse_args(argv)
    sizes = sorted(args.stories)
    root = args.keep or Path(tempfile.mkdtemp(prefix="scale_bench_"))
    results, fertility = [], None
    try:
        for stories in sizes:
            result = run_chain(stories, args.tokenizers, root / str(stories))
            results.append(result)
            print(f"\n{stories:,} stories: {result['seconds']:.0f} s, peak "
                  f"{result['peak_gb']:.2f} GB (whole process tree)")
            print(f"{'step':44s} {'seconds':>9s} {'peak GB':>8s}")
            for label, figures in result["steps"].items():
                print(f"{label:44s} {figures['seconds']:9.1f} {figures['peak_gb']:8.2f}")
            if fertility is None and not args.no_fertility and "spm" in args.tokenizers:
                fertility = fertility_check(Path(result["lake"]))
                print(f"fertility on {fertility['val_stories']:,} val stories: sampled "
                      f"{fertility['fertility_sampled']:.4f}, all {fertility['fertility_all']:.4f}"
                      f" ({fertility['relative_difference']:+.2%})")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    baseline = None
    if args.baseline:
        baseline = run_baseline(args.baseline, sizes[0], args.tokenizers, root, results[0])
    first, last = results[0], results[-1]
    ratio = last["stories"] / first["stories"]
    growth = {}
    if len(results) > 1:
        print(f"\ngrowth {first['stories']:,} -> {last['stories']:,} stories ({ratio:.1f}x):")
        print(f"{'step':44s} {'time x':>8s} {'peak x':>8s}")
        for label, figures in last["steps"].items():
            before = first["steps"].get(label)
            if not before:
                continue
            growth[label] = {
                "time": round(figures["seconds"] / max(before["seconds"], 0.01), 2),
                "peak": round(figures["peak_gb"] / max(before["peak_gb"], 0.01), 2)}
            print(f"{label:44s} {growth[label]['time']:8.2f} {growth[label]['peak']:8.2f}")
    time_ratio = last["seconds"] / first["seconds"]
    in_bar = [r for r in results if r["stories"] <= 2_000_000]
    peak_ok = all(f["peak_gb"] <= PEAK_BAR_GB for r in in_bar for f in r["steps"].values())
    time_ok = len(results) < 2 or time_ratio <= ratio * TIME_NOISE
    fertility_ok = fertility is None or abs(fertility["relative_difference"]) <= FERTILITY_BAR
    baseline_ok = baseline is None or baseline["seconds"][1] <= baseline["seconds"][0] * TIME_NOISE
    print(json.dumps({
        "sizes": [{k: v for k, v in r.items() if k != "lake"} for r in results],
        "stories_ratio": round(ratio, 2), "time_ratio": round(time_ratio, 2),
        "growth": growth, "fertility": fertility, "baseline": baseline,
        "peak_bar_gb": PEAK_BAR_GB,
        "meets_bar": bool(peak_ok and time_ok and fertility_ok and baseline_ok),
    }))


if __name__ == "__main__":
    main()
