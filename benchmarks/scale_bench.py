"""Benchmark: the data side of the study at the study's size, in bounded memory.

For each size in `--stories` (default 200,000 and 1,000,000; the study's own size is
`--stories 200000 2000000`), in a fresh Dagster home and data lake, a child process runs the
offline chain the way a researcher does:

    tsr run --language hindi --prompts N --tokenizers spm byte --presets

that is `language_job` (wordlists, prompts, stories with the offline writer and their checks,
near_duplicates, contamination, corpus_quality, hf_dataset), then `language_tokenizer_job` for
each tokenizer up to `tokenizer_stats` (tokenizer, token_bins and its check, tokenizer_stats),
no training. This process samples the resident memory (RSS) and the CPU seconds (user +
system) of the child's whole process tree (the child and every worker it starts, ended
workers through their parent) every 0.5 s, reads each step's start and end from the Dagster
instance afterwards, and prints per step the wall seconds, the CPU seconds and the peak GB,
and between the first and the last size their growth factors next to the stories' growth.

With `--corpus both` the tokenizers train and bin on generated plus translated stories (and
the data-quality steps read both stores, as they always do): the N stories are written first,
unmeasured, then a translated stand-in of N more (`write_translated_stand_in`: each story's
words reversed, under a translation's id, written through the translation store's journal
and compaction), and the chain measured on them; the peak bar is then 6 GB (the study's
2,000,000 + 2,000,000). `--stories-from LAKE` copies stories already written (with `--seed`)
instead of writing them again.

At the first size it also checks the tokenizer's training sample: SentencePiece trained on
every train story (the old way) against the platform's tokenizer (trained on its seeded sample
of `max_train_stories`), both compared by fertility (tokens per word) on the val stories.

Last line: one JSON object with the figures and `meets_bar`: every step's peak at most 4 GB
at every size up to 2,000,000 stories, the chain's CPU seconds growing at most linearly with
the stories (ratio <= stories ratio x 1.1), the sampled tokenizer's fertility within 1% of
the one trained on everything, and with `--baseline`, the chain at the first size using no
more CPU seconds than the baseline's x 1.1.

Times are compared in CPU seconds of the process tree, not wall seconds: on the 2-core machine
this runs on, shared with test runs, four runs of the same code at 50,000 stories took 112 to
160 s of wall time and 96 to 121 CPU seconds, and a baseline once came out 1.23x "slower"
against itself in wall time. CPU seconds are steadier, not exact (a loaded machine still
inflates them somewhat). Wall seconds are printed and recorded beside them; the CPU seconds of
a step that runs on both cores are more than its wall seconds.

    python benchmarks/scale_bench.py [--stories 200000 1000000] [--tokenizers spm byte]
        [--keep DIR] [--no-fertility] [--baseline GIT_REF] [--corpus generated|both]
        [--seed S] [--stories-from LAKE]

With `--baseline REF` the chain also runs at the first size with the code of an older commit
(a git worktree on the same environment, the child started in it so that it imports that
code), and each step's seconds and peak are printed beside today's: the check that nothing
got slower at the small size.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
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
#: The bar with `--corpus both` (generated + translated stories, as many of each).
PEAK_BAR_BOTH_GB = 6.0
TIME_NOISE = 1.1
FERTILITY_BAR = 0.01
SAMPLE_EVERY_S = 0.5


class TreeSampler:
    """RSS and CPU seconds of a process and all its descendants, sampled on a thread.

    A sample's CPU is the user + system seconds of every live process of the tree plus those
    of the children each one has reaped (so a worker that has ended still counts, through its
    parent): cumulative, so a step's CPU is the difference across the step."""

    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)
        self.samples: list[tuple[float, float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> tuple[float, float] | None:
        rss = cpu = 0.0
        try:
            procs = [self.root, *self.root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return None
        for proc in procs:
            try:
                with proc.oneshot():
                    rss += proc.memory_info().rss
                    times = proc.cpu_times()
            except psutil.NoSuchProcess:
                continue
            cpu += times.user + times.system + times.children_user + times.children_system
        return rss / 2**30, cpu

    def _run(self) -> None:
        while not self._stop.is_set():
            sample = self._sample()
            if sample is not None:
                self.samples.append((time.time(), *sample))
            self._stop.wait(SAMPLE_EVERY_S)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def peak(self, start: float, end: float) -> float:
        """The highest RSS sampled between `start` and `end` (and the sample just before)."""
        inside = [gb for t, gb, _ in self.samples if start - SAMPLE_EVERY_S <= t <= end]
        return max(inside, default=0.0)

    def cpu_at(self, when: float) -> float:
        """The tree's cumulative CPU seconds at `when`, interpolated between samples."""
        before = after = None
        for sample in self.samples:
            if sample[0] <= when:
                before = sample
            else:
                after = sample
                break
        if before is None or after is None:
            return (before or after or (0.0, 0.0, 0.0))[2]
        share = (when - before[0]) / (after[0] - before[0])
        return before[2] + share * (after[2] - before[2])

    def cpu(self, start: float, end: float) -> float:
        """CPU seconds the tree spent between `start` and `end` (to a sample's resolution)."""
        return max(self.cpu_at(end) - self.cpu_at(start), 0.0)


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


def _children_cpu() -> float:
    """User + system seconds of this process's ended (waited-for) children and theirs."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _check_imports_from(code: Path, env: dict) -> None:
    """Fail unless a child started like the chain's imports `tsr_assets` from `code`."""
    found = subprocess.run(
        [sys.executable, "-c", "import tsr_assets; print(tsr_assets.__file__)"], env=env,
        cwd=code, capture_output=True, text=True, check=True).stdout.strip()
    if Path(found).resolve().parent.parent != code.resolve():
        raise SystemExit(f"the chain would import tsr_assets from {found}, not from {code}")


#: Writes wordlists, prompts and stories (and the stories' checks) before a `--corpus both`
#: chain, so that the translated stand-in can be made from the stories.
PRELUDE = """
import sys
import dagster as dg
from tsr_assets.definitions import build_definitions
from tsr_assets.defs.jobs import LANGUAGE_JOB
count, seed = int(sys.argv[1]), int(sys.argv[2])
with dg.DagsterInstance.get() as instance:
    result = build_definitions().resolve_job_def(LANGUAGE_JOB).execute_in_process(
        instance=instance, partition_key="hindi", raise_on_error=False,
        run_config={"ops": {"prompts": {"config": {"count": count, "seed": seed}}}},
        asset_selection=[dg.AssetKey(k) for k in ("wordlists", "prompts", "stories")])
sys.exit(0 if result.success else 1)
"""


def _chain_env(home: Path, lake: Path, code: Path) -> dict:
    return {**os.environ, "DAGSTER_HOME": str(home), "TSR_DATA_DIR": str(lake),
            "TSR_PRESETS": "tiny", "TSR_IMPORTED_MODELS": "", "PYTHONPATH": str(code)}


def write_translated_stand_in(lake: Path, language: str = "hindi") -> int:
    """A stand-in for `translated_stories` as large as the generated store, for the
    `--corpus both` chain without a translator: every generated story with the words of each
    paragraph in reverse order (the same characters, lengths and vocabulary, but other word
    3-grams, so no story is a near-duplicate of its source), under a `src-` id as a
    translation's, written the way the translation asset writes (journal, then `compact`
    into parquet shards with the story schema). Returns the stories written."""
    sys.path.insert(0, str(REPO))
    import polars as pl
    import pyarrow.parquet as pq

    from tsr_assets.core.lake import Lake
    from tsr_assets.stories.parsing import StoryLimits
    from tsr_assets.stories.store import (
        compact,
        now_utc,
        open_journal,
        save_limits,
        shard_files,
    )
    from tsr_assets.translation.source_stories import source_id_of

    lake_ = Lake(lake)
    folder = lake_.translated_stories_dir(language)
    folder.mkdir(parents=True, exist_ok=True)
    save_limits(lake_.translated_limits_file(language), StoryLimits())
    reverse = (pl.col("story").str.split("\n").list.eval(
        pl.element().str.split(" ").list.reverse().list.join(" ")).list.join("\n"))
    written = 0
    with open_journal(folder) as journal:
        for shard in shard_files(lake_.stories_dir(language)):
            for batch in pq.ParquetFile(shard).iter_batches(20_000, columns=["story"]):
                frame = pl.from_arrow(batch).with_columns(translated=reverse)
                for source, text in frame.iter_rows():
                    journal.write({
                        "kind": "story", "prompt_id": source_id_of(source), "story": text,
                        "provider": "scale_bench", "model": "reversed-words", "attempts": 1,
                        "latency_s": 0.0, "source_chars": len(source),
                        "source_language": "english", "created_at": now_utc()})
                written += frame.height
    compact(folder)
    return written


def _prelude(stories: int, seed: int, home: Path, lake: Path, code: Path) -> None:
    """Wordlists, prompts and stories (unmeasured), then the translated stand-in."""
    env = _chain_env(home, lake, code)
    done = subprocess.run([sys.executable, "-c", PRELUDE, str(stories), str(seed)], env=env,
                          cwd=code, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"writing {stories} stories failed:\n{done.stdout[-3000:]}"
                         f"{done.stderr[-3000:]}")


def run_chain(stories: int, tokenizers: Sequence[str], root: Path,
              code: Path = REPO, corpus: str = "generated", seed: int = 0,
              stories_from: Path | None = None) -> dict:
    """The offline chain at one size in a fresh home and lake, with per-step figures; `code`
    is the checkout whose `tsr_assets` runs (a worktree of an older commit for a baseline).

    `corpus` is the tokenizers' (`tsr run --corpus`); with `both`, the stories are written
    first, unmeasured, and a translated stand-in as large (`write_translated_stand_in`), so
    the chain's `stories` step only checks them. `stories_from` is a lake whose hindi
    wordlists, prompts and stories (written with `seed`) are copied in instead of writing."""
    home, lake = root / "home", root / "lake"
    home.mkdir(parents=True)
    shutil.copy(code / "dagster.yaml", home / "dagster.yaml")
    env = _chain_env(home, lake, code)
    if stories_from:
        for asset in ("wordlists", "prompts", "stories"):
            shutil.copytree(stories_from / asset / "hindi", lake / asset / "hindi")
    if corpus == "both":
        if not stories_from:
            _prelude(stories, seed, home, lake, code)
        translated = write_translated_stand_in(lake)
        print(f"translated stand-in: {translated:,} stories", flush=True)
    command = [sys.executable, "-c", "from tsr_assets.cli import main; main()", "run",
               "--language", "hindi", "--prompts", str(stories), "--seed", str(seed),
               "--corpus", corpus, "--tokenizers", *tokenizers, "--presets"]
    started, cpu_before = time.time(), _children_cpu()
    # `python -c` puts its working directory first on sys.path, ahead of PYTHONPATH: the child
    # runs in `code`, or a baseline would import today's `tsr_assets` from REPO.
    _check_imports_from(code, env)
    child = subprocess.Popen(command, env=env, cwd=code, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    with TreeSampler(child.pid) as sampler:
        output = child.communicate()[0]
    seconds, cpu = time.time() - started, _children_cpu() - cpu_before
    if child.returncode:
        raise SystemExit(f"tsr run failed at {stories} stories:\n{output[-4000:]}")
    steps = {}
    for label, start, end in step_times(home):
        if start < started:
            continue  # the prelude's
        steps[label] = {"seconds": round(end - start, 2),
                        "cpu_seconds": round(sampler.cpu(start, end), 2),
                        "peak_gb": round(sampler.peak(start, end), 2)}
    return {"stories": stories, "corpus": corpus, "seconds": round(seconds, 1),
            "cpu_seconds": round(cpu, 1),
            "peak_gb": round(max(s[1] for s in sampler.samples), 2), "steps": steps,
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
    print(f"\nagainst {ref} at {stories:,} stories: {theirs['seconds']:.0f} s "
          f"({theirs['cpu_seconds']:.0f} CPU s), peak {theirs['peak_gb']:.2f} GB (ours "
          f"{ours['seconds']:.0f} s ({ours['cpu_seconds']:.0f} CPU s), {ours['peak_gb']:.2f} GB)")
    print(f"{'step':44s} {'s then':>8s} {'s now':>8s} {'CPU then':>8s} {'CPU now':>8s} "
          f"{'GB then':>8s} {'GB now':>8s}")
    steps = {}
    for label, now in ours["steps"].items():
        then = theirs["steps"].get(label)
        if then:
            steps[label] = {key: [then[key], now[key]]
                            for key in ("seconds", "cpu_seconds", "peak_gb")}
            print(f"{label:44s} {then['seconds']:8.1f} {now['seconds']:8.1f} "
                  f"{then['cpu_seconds']:8.1f} {now['cpu_seconds']:8.1f} "
                  f"{then['peak_gb']:8.2f} {now['peak_gb']:8.2f}")
    return {"ref": ref, "stories": stories, "seconds": [theirs["seconds"], ours["seconds"]],
            "cpu_seconds": [theirs["cpu_seconds"], ours["cpu_seconds"]],
            "peak_gb": [theirs["peak_gb"], ours["peak_gb"]], "steps": steps}


def fertility_check(lake: Path) -> dict:
    """SentencePiece on every train story against the platform's sampled one: fertility on
    the val stories, trained with the same settings."""
    os.environ["TSR_DATA_DIR"] = str(lake)
    sys.path.insert(0, str(REPO))  # this checkout's code, not the one installed in the venv
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
    parser.add_argument("--corpus", choices=["generated", "both"], default="generated",
                        help="the tokenizers' corpus; both: the stories and a translated "
                        "stand-in as large are written first (unmeasured), bar 6 GB")
    parser.add_argument("--seed", type=int, default=0, help="the prompts' seed (tsr run --seed)")
    parser.add_argument("--stories-from", type=Path, metavar="LAKE",
                        help="copy hindi wordlists, prompts and stories from this lake (written "
                        "with --seed, as many as the one size) instead of writing them")
    args = parser.parse_args(argv)
    if args.stories_from and len(args.stories) != 1:
        parser.error("--stories-from takes one size")
    sizes = sorted(args.stories)
    root = args.keep or Path(tempfile.mkdtemp(prefix="scale_bench_"))
    results, fertility = [], None
    try:
        for stories in sizes:
            result = run_chain(stories, args.tokenizers, root / str(stories),
                               corpus=args.corpus, seed=args.seed,
                               stories_from=args.stories_from)
            results.append(result)
            print(f"\n{stories:,} stories: {result['seconds']:.0f} s "
                  f"({result['cpu_seconds']:.0f} CPU s), peak {result['peak_gb']:.2f} GB "
                  "(whole process tree)")
            print(f"{'step':44s} {'seconds':>9s} {'CPU s':>8s} {'peak GB':>8s}")
            for label, figures in result["steps"].items():
                print(f"{label:44s} {figures['seconds']:9.1f} {figures['cpu_seconds']:8.1f} "
                      f"{figures['peak_gb']:8.2f}")
            if (fertility is None and not args.no_fertility and "spm" in args.tokenizers
                    and args.corpus == "generated"):
                fertility = fertility_check(Path(result["lake"]))
                print(f"fertility on {fertility['val_stories']:,} val stories: sampled "
                      f"{fertility['fertility_sampled']:.4f}, all {fertility['fertility_all']:.4f}"
                      f" ({fertility['relative_difference']:+.2%})")
        baseline = None
        if args.baseline:
            baseline = run_baseline(args.baseline, sizes[0], args.tokenizers, root, results[0])
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    first, last = results[0], results[-1]
    ratio = last["stories"] / first["stories"]
    growth = {}
    if len(results) > 1:
        print(f"\ngrowth {first['stories']:,} -> {last['stories']:,} stories ({ratio:.1f}x):")
        print(f"{'step':44s} {'time x':>8s} {'CPU x':>8s} {'peak x':>8s}")
        for label, figures in last["steps"].items():
            before = first["steps"].get(label)
            if not before:
                continue
            growth[label] = {
                "time": round(figures["seconds"] / max(before["seconds"], 0.01), 2),
                "cpu": round(figures["cpu_seconds"] / max(before["cpu_seconds"], 0.01), 2),
                "peak": round(figures["peak_gb"] / max(before["peak_gb"], 0.01), 2)}
            print(f"{label:44s} {growth[label]['time']:8.2f} {growth[label]['cpu']:8.2f} "
                  f"{growth[label]['peak']:8.2f}")
    time_ratio = last["seconds"] / first["seconds"]
    cpu_ratio = last["cpu_seconds"] / max(first["cpu_seconds"], 0.01)
    in_bar = [r for r in results if r["stories"] <= 2_000_000]
    peak_bar = PEAK_BAR_BOTH_GB if args.corpus == "both" else PEAK_BAR_GB
    peak_ok = all(f["peak_gb"] <= peak_bar for r in in_bar for f in r["steps"].values())
    time_ok = len(results) < 2 or cpu_ratio <= ratio * TIME_NOISE
    fertility_ok = fertility is None or abs(fertility["relative_difference"]) <= FERTILITY_BAR
    baseline_ok = (baseline is None
                   or baseline["cpu_seconds"][1] <= baseline["cpu_seconds"][0] * TIME_NOISE)
    print(json.dumps({
        "sizes": [{k: v for k, v in r.items() if k != "lake"} for r in results],
        "stories_ratio": round(ratio, 2), "time_ratio": round(time_ratio, 2),
        "cpu_ratio": round(cpu_ratio, 2),
        "growth": growth, "fertility": fertility, "baseline": baseline,
        "corpus": args.corpus, "peak_bar_gb": peak_bar,
        "meets_bar": bool(peak_ok and time_ok and fertility_ok and baseline_ok),
    }))


if __name__ == "__main__":
    main()
