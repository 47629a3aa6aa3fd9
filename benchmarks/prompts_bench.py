"""Benchmark: building N unique prompts for one language (wall time and peak RSS).

Runs each measurement in a fresh subprocess so peak RSS belongs to that measurement alone:

* `ours`: the `prompts` asset's code path (permutation sampling, vectorized ids, chunked
  rendering, streaming zstd parquet) on the packaged wordlists;
* `baseline`: the original framework's approach re-created here: draw random words, build a
  string id by concatenating list indices, reject ids already seen, render each prompt with
  str.format, keep all prompts in a list and dump them as JSON.

Both run at the same N (the baseline's N is smaller by default because it is slow), and ours
also runs at the bar's N. Last line: one JSON object with the figures and `meets_bar`.

    python benchmarks/prompts_bench.py [--count 3000000] [--baseline-count 1000000]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peak_memory import peak_rss_mb  # noqa: E402

BAR_SECONDS = 10.0
BAR_RSS_GB = 1.5


def run_ours(count: int, out_dir: Path, language_key: str) -> dict:
    from tsr_assets.core.languages import get_language
    from tsr_assets.prompts.building import prompt_frames, write_prompts_parquet
    from tsr_assets.prompts.templates import get_template
    from tsr_assets.prompts.wordlists import load_wordlists

    language = get_language(language_key)
    started = time.perf_counter()
    lists = load_wordlists(language.package_data_dir, language)
    frames = prompt_frames(lists, language, get_template("structured"), count, seed=0)
    rows = write_prompts_parquet(frames, out_dir / "prompts.parquet")
    seconds = time.perf_counter() - started
    size = (out_dir / "prompts.parquet").stat().st_size
    return {"rows": rows, "seconds": seconds, "file_mb": size / 1e6,
            "combinations": lists.combination_count}


def run_baseline(count: int, out_dir: Path, language_key: str) -> dict:
    from tsr_assets.core.languages import get_language
    from tsr_assets.prompts.templates import get_template, render_prompt
    from tsr_assets.prompts.wordlists import load_wordlists

    language = get_language(language_key)
    started = time.perf_counter()
    lists = load_wordlists(language.package_data_dir, language)
    template = get_template("structured")
    rng = random.Random(0)
    seen: set[str] = set()
    prompts: list[dict] = []
    draws = 0
    while len(prompts) < count:
        draws += 1
        i, j = rng.randrange(len(lists.nouns)), rng.randrange(len(lists.verbs))
        k, m = rng.randrange(len(lists.adjectives)), rng.randrange(len(lists.features))
        key = f"{i}{j}{k}{m}"  # the original's id: indices glued together (they collide)
        if key in seen:
            continue
        seen.add(key)
        words = (lists.nouns[i], lists.verbs[j], lists.adjectives[k], lists.features[m])
        prompts.append({"id": key, "prompt": render_prompt(template, language, *words)})
    (out_dir / "prompts.json").write_text(json.dumps(prompts, ensure_ascii=False))
    seconds = time.perf_counter() - started
    return {"rows": len(prompts), "seconds": seconds, "draws": draws}


def measure(mode: str, count: int, language: str) -> dict:
    """Run one mode in a subprocess; return its figures plus its peak RSS."""
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run(
            [sys.executable, __file__, "--worker", mode, "--count", str(count),
             "--language", language, "--out", tmp],
            capture_output=True, text=True, check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"{mode} worker failed:\n{proc.stderr[-3000:]}")
        return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=3_000_000)
    parser.add_argument("--baseline-count", type=int, default=1_000_000)
    parser.add_argument("--language", default="hindi")
    parser.add_argument("--worker", choices=["ours", "baseline"])
    parser.add_argument("--out")
    args = parser.parse_args()

    if args.worker:
        run = run_ours if args.worker == "ours" else run_baseline
        figures = run(args.count, Path(args.out), args.language)
        figures["peak_rss_gb"] = peak_rss_mb() / 1024
        print(json.dumps(figures))
        return

    ours_same = measure("ours", args.baseline_count, args.language)
    baseline = measure("baseline", args.baseline_count, args.language)
    ours = measure("ours", args.count, args.language)
    print(f"baseline (original approach), {args.baseline_count:,} prompts: "
          f"{baseline['seconds']:.2f}s, peak RSS {baseline['peak_rss_gb']:.2f} GB, "
          f"{baseline['draws']:,} draws")
    print(f"ours, {args.baseline_count:,} prompts: {ours_same['seconds']:.2f}s, "
          f"peak RSS {ours_same['peak_rss_gb']:.2f} GB")
    print(f"ours, {args.count:,} prompts: {ours['seconds']:.2f}s, "
          f"peak RSS {ours['peak_rss_gb']:.2f} GB, parquet {ours['file_mb']:.0f} MB")
    result = {
        "benchmark": "prompts",
        "language": args.language,
        "count": args.count,
        "seconds": round(ours["seconds"], 2),
        "peak_rss_gb": round(ours["peak_rss_gb"], 3),
        "baseline_count": args.baseline_count,
        "baseline_seconds": round(baseline["seconds"], 2),
        "baseline_peak_rss_gb": round(baseline["peak_rss_gb"], 3),
        "ours_seconds_at_baseline_count": round(ours_same["seconds"], 2),
        "speedup_at_baseline_count": round(baseline["seconds"] / ours_same["seconds"], 1),
        "bar": f"{args.count:,} prompts <= {BAR_SECONDS}s and <= {BAR_RSS_GB} GB peak RSS",
        "meets_bar": ours["seconds"] <= BAR_SECONDS and ours["peak_rss_gb"] <= BAR_RSS_GB,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
