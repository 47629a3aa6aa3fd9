"""Benchmark: near-duplicate detection (MinHash + LSH) over a large story corpus, against a
straightforward `datasketch` loop, and peak memory against corpus size.

Corpus (built here, fixed seed; story i is the same for a given `--stories` and seed):

* vocabulary: the packaged Hindi nouns, verbs and adjectives (tsr_assets/data/hindi/*.txt,
  split into single words) plus generated Devanagari syllable words (2-3 consonant + vowel-sign
  syllables), `VOCABULARY` words in all, drawn with Zipf-like weights (1/rank), so common words
  and common 3-word shingles recur across unrelated stories as in real text;
* every story has 100-150 words, with a full stop after some words (which `story_words` strips);
* planted near-duplicates: `NEAR_SHARE` (5%) of stories are a copy of an earlier story with 1-3
  words replaced (exact Jaccard over 3-word shingles about 0.86-0.95), and `EXACT_SHARE` (1%)
  are exact copies of an earlier story. A third of the sources are themselves planted copies,
  so some clusters have three or more members (families). Each (source, copy) is a planted pair.

Measurements:

* `platform`: `find_near_duplicates(texts)` (threshold 0.8, 128 permutations; its own choice
  of LSH bands and its own verification of candidates) on all stories: seconds, pairs,
  clusters, recall of the planted pairs (pair found; and both in one cluster),
  recall of every truly near-duplicate pair within the planted families (exact Jaccard >= 0.8),
  and how many found pairs have an exact Jaccard below 0.8;
* `baseline`: a straightforward datasketch loop on the first `--baseline-stories` stories: for
  every story one `datasketch.MinHash(num_perm=128)` fed its 3-word shingles (words from
  `story_words`, joined by a space, UTF-8) with `update_batch` (datasketch's own fast way to
  add many values; `update` per shingle is slower still); `MinHashLSH(threshold=0.8,
  num_perm=128)` with `insert` for every story, then `query` for every story to collect
  candidate pairs; keep the pairs with `MinHash.jaccard >= 0.8`. The platform is timed on
  exactly the same subset (median of `--repeats` runs; the baseline runs once), so the speed
  ratio is same size against same size. The baseline's time at the full size is a linear
  extrapolation, for information only. Both pair sets are compared (hash functions, bands and
  verification may differ, so pairs near the threshold can differ);
* memory: the platform's peak RSS (VmHWM) in a fresh process for each of `--memory-counts`.
  The child builds its corpus, then resets the high-water mark (`/proc/self/clear_refs`) and
  records RSS with the texts in memory; the figure that counts is the increment of the peak
  over that RSS (what `find_near_duplicates` itself adds); the total peak is reported too;
* a projection of the platform's time for 2,000,000 stories, linear from the full-size
  measurement (a projection, not a measurement).

The JSON names the sha256 of near_duplicates.py at the start and warns if the file changed
before the end (the memory children import it afresh).

    python benchmarks/dedup_bench.py [--stories 200000] [--baseline-stories 20000]
        [--memory-counts 50000 200000] [--quick]

Last line: one JSON object with the figures and `meets_bar` (platform >= 3x faster than the
datasketch loop on the same subset, and the peak-RSS increment grows at most linearly: the
larger size's / the smaller's <= the ratio of the story counts).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from itertools import combinations
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from peak_memory import peak_rss_mb  # noqa: E402

from tsr_assets.data_quality.near_duplicates import (  # noqa: E402
    SHINGLE_WORDS,
    find_near_duplicates,
    story_words,
)

MODULE = REPO / "tsr_assets" / "data_quality" / "near_duplicates.py"

BAR_RATIO = 3.0
THRESHOLD = 0.8
NUM_PERM = 128
VOCABULARY = 4000
MIN_WORDS, MAX_WORDS = 100, 150
NEAR_SHARE = 0.05
EXACT_SHARE = 0.01
CHAINED_SOURCE_SHARE = 1 / 3
PROJECT_TO = 2_000_000
SEED = 20_240_601

CONSONANTS = list("कखगघचछजझटठडढतथदधनपफबभमयरलवशसह")
VOWEL_SIGNS = ["", "ा", "ि", "ी", "ु", "ू", "े", "ै", "ो", "ौ"]


def vocabulary(size: int, rng: np.random.Generator) -> list[str]:
    """The packaged Hindi words, then generated syllable words up to `size` distinct words."""
    folder = REPO / "tsr_assets" / "data" / "hindi"
    words: list[str] = []
    seen: set[str] = set()
    for name in ("nouns", "verbs", "adjectives"):
        for line in (folder / f"{name}.txt").read_text(encoding="utf-8").splitlines():
            if line.strip().startswith("#"):
                continue
            for word in line.split():
                if word not in seen:
                    seen.add(word)
                    words.append(word)
    while len(words) < size:
        syllables = int(rng.integers(2, 4))
        word = "".join(CONSONANTS[int(rng.integers(len(CONSONANTS)))]
                       + VOWEL_SIGNS[int(rng.integers(len(VOWEL_SIGNS)))]
                       for _ in range(syllables))
        if word not in seen:
            seen.add(word)
            words.append(word)
    order = rng.permutation(len(words))  # which words are common: a fixed random choice
    return [words[i] for i in order[:size]]


def build_corpus(count: int, seed: int = SEED) -> tuple[list[str], list[tuple[int, int]]]:
    """(`count` stories, planted (source, copy) pairs with source < copy)."""
    rng = np.random.default_rng(seed)
    vocab = vocabulary(VOCABULARY, rng)
    with_stop = [word + "." for word in vocab]
    weights = 1.0 / np.arange(1, len(vocab) + 1)
    weights /= weights.sum()
    lengths = rng.integers(MIN_WORDS, MAX_WORDS + 1, size=count)
    ids = np.empty((count, MAX_WORDS), dtype=np.int16)
    for start in range(0, count, 50_000):
        stop = min(start + 50_000, count)
        ids[start:stop] = rng.choice(len(vocab), size=(stop - start, MAX_WORDS), p=weights)
    kind = rng.random(count)
    chained = rng.random(count) < CHAINED_SOURCE_SHARE
    planted: list[tuple[int, int]] = []
    copies: list[int] = []
    exact_of: dict[int, int] = {}
    for i in range(1, count):
        if kind[i] >= NEAR_SHARE + EXACT_SHARE:
            continue
        if chained[i] and copies:
            source = copies[int(rng.integers(len(copies)))]
        else:
            source = int(rng.integers(i))
        planted.append((source, i))
        copies.append(i)
        lengths[i] = lengths[source]
        ids[i] = ids[source]
        if kind[i] < NEAR_SHARE:
            length = int(lengths[i])
            changed = rng.choice(length, size=int(rng.integers(1, 4)), replace=False)
            for position in changed.tolist():
                new = int(rng.choice(len(vocab), p=weights))
                while new == ids[i, position]:
                    new = int(rng.choice(len(vocab), p=weights))
                ids[i, position] = new
        else:
            exact_of[i] = source
    stops = rng.random(len(vocab)) < 0.1  # these words end a sentence
    texts: list[str] = []
    for i in range(count):
        if i in exact_of:
            texts.append(texts[exact_of[i]])
            continue
        row = ids[i, :lengths[i]].tolist()
        texts.append(" ".join([with_stop[k] if stops[k] else vocab[k] for k in row[:-1]]
                              + [with_stop[row[-1]]]))
    return texts, planted


def shingle_strings(text: str) -> list[str]:
    """The story's 3-word shingles as strings (a shorter story is one shingle)."""
    words = story_words(text) or [""]
    if len(words) < SHINGLE_WORDS:
        return [" ".join(words)]
    return [" ".join(words[i:i + SHINGLE_WORDS])
            for i in range(len(words) - SHINGLE_WORDS + 1)]


def exact_jaccard(texts: list[str], pairs: list[tuple[int, int]], cache: dict) -> list[float]:
    """Exact Jaccard similarity over shingle sets of each pair."""
    def shingles(i: int) -> set[str]:
        if i not in cache:
            cache[i] = set(shingle_strings(texts[i]))
        return cache[i]

    out = []
    for i, j in pairs:
        a, b = shingles(i), shingles(j)
        out.append(len(a & b) / len(a | b))
    return out


def family_true_pairs(texts: list[str], planted: list[tuple[int, int]], cache: dict
                      ) -> set[tuple[int, int]]:
    """Every pair within a planted family whose exact Jaccard is >= THRESHOLD."""
    family: dict[int, int] = {}
    for source, copy in planted:  # sources come first, so a source's family is known
        family[copy] = family.setdefault(source, source)
    members: dict[int, list[int]] = {}
    for story, root in family.items():
        members.setdefault(root, []).append(story)
    pairs = [pair for group in members.values() for pair in combinations(sorted(group), 2)]
    return {pair for pair, sim in zip(pairs, exact_jaccard(texts, pairs, cache), strict=True)
            if sim >= THRESHOLD}


def run_platform(texts: list[str]) -> tuple[float, object]:
    """Seconds and result of the platform's `find_near_duplicates`."""
    started = time.perf_counter()
    result = find_near_duplicates(texts, threshold=THRESHOLD, num_perm=NUM_PERM)
    return time.perf_counter() - started, result


def run_baseline(texts: list[str]) -> tuple[float, set[tuple[int, int]], dict]:
    """Seconds, pairs and phase timings of the straightforward datasketch loop."""
    from datasketch import MinHash, MinHashLSH

    started = time.perf_counter()
    sketches = []
    for text in texts:
        sketch = MinHash(num_perm=NUM_PERM)
        sketch.update_batch([s.encode("utf-8") for s in shingle_strings(text)])
        sketches.append(sketch)
    hashed = time.perf_counter()
    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
    for index, sketch in enumerate(sketches):
        lsh.insert(index, sketch)
    candidates: set[tuple[int, int]] = set()
    for index, sketch in enumerate(sketches):
        for other in lsh.query(sketch):
            if other != index:
                candidates.add((min(index, other), max(index, other)))
    queried = time.perf_counter()
    pairs = {(i, j) for i, j in candidates if sketches[i].jaccard(sketches[j]) >= THRESHOLD}
    seconds = time.perf_counter() - started
    phases = {"minhash_s": round(hashed - started, 2), "lsh_s": round(queried - hashed, 2),
              "verify_s": round(time.perf_counter() - queried, 2),
              "candidates": len(candidates), "bands_rows": [lsh.b, lsh.r]}
    return seconds, pairs, phases


def pair_set(result) -> set[tuple[int, int]]:
    """The platform result's pairs as a set of (i, j)."""
    return {(int(i), int(j)) for i, j in result.pairs.tolist()}


def recall(found: set[tuple[int, int]], wanted: list[tuple[int, int]] | set) -> float:
    """Share of `wanted` pairs in `found`."""
    wanted = set(wanted)
    return len(found & wanted) / len(wanted) if wanted else 1.0


def cluster_recall(result, planted: list[tuple[int, int]]) -> float:
    """Share of planted pairs whose two stories are in one cluster."""
    label = {i: first for first, members in result.clusters.items() for i in members}
    hit = sum(1 for i, j in planted if i in label and label.get(i) == label.get(j))
    return hit / len(planted) if planted else 1.0


def module_digest() -> str:
    """Short sha256 of the module under test."""
    return hashlib.sha256(MODULE.read_bytes()).hexdigest()[:12]


def current_rss_mb() -> float:
    """Resident memory of this process now (VmRSS), MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(count: int) -> None:
    """Subprocess entry for the memory runs: corpus, reset the peak, platform, figures."""
    texts, _ = build_corpus(count)
    reset = False
    try:
        Path("/proc/self/clear_refs").write_text("5")  # 5: reset the peak RSS (VmHWM)
        reset = True
    except OSError:
        pass
    before = current_rss_mb()
    seconds, result = run_platform(texts)
    peak = peak_rss_mb()
    print(json.dumps({"stories": count, "seconds": seconds, "peak_rss_mb": peak,
                      "rss_before_mb": before, "increment_mb": peak - before,
                      "peak_was_reset": reset, "pairs": len(result.pairs)}))


def measure_memory(count: int) -> dict:
    """Run the platform on `count` stories in a fresh process; return its figures."""
    proc = subprocess.run([sys.executable, __file__, "--child", str(count)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"memory run for {count} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    """Corpus, platform at full size, platform and baseline on the subset, memory runs."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stories", type=int, default=200_000)
    parser.add_argument("--baseline-stories", type=int, default=20_000)
    parser.add_argument("--memory-counts", type=int, nargs=2, default=[50_000, 200_000])
    parser.add_argument("--repeats", type=int, default=3,
                        help="platform runs on the subset; the median counts")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 20,000 stories, 4,000 for the baseline, memory 5k/20k")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    if args.quick:
        args.stories, args.baseline_stories, args.memory_counts = 20_000, 4_000, [5_000, 20_000]
    small, large = sorted(args.memory_counts)
    if small == large or args.baseline_stories > args.stories:
        parser.error("--memory-counts must differ; --baseline-stories <= --stories")
    bench_started = time.perf_counter()
    digest = module_digest()

    started = time.perf_counter()
    texts, planted = build_corpus(args.stories)
    words = sum(len(t.split()) for t in texts)
    exact = sum(1 for i, j in planted if texts[i] == texts[j])
    print(f"cpus: {os.cpu_count()}; threshold {THRESHOLD}, {NUM_PERM} permutations; "
          f"near_duplicates.py sha256 {digest}")
    print(f"corpus: {len(texts):,} stories, {words:,} words, {len(planted):,} planted pairs "
          f"({exact:,} exact copies), built in {time.perf_counter() - started:.1f}s")
    cache: dict = {}
    planted_sim = exact_jaccard(texts, planted, cache)
    near_sim = [s for s in planted_sim if s < 1.0]
    print(f"planted near-copies: exact Jaccard min {min(near_sim):.3f}, "
          f"mean {statistics.fmean(near_sim):.3f}, max {max(near_sim):.3f}")

    # Platform at full size.
    seconds, result = run_platform(texts)
    found = pair_set(result)
    true_pairs = family_true_pairs(texts, planted, cache)
    found_sim = exact_jaccard(texts, sorted(found), cache)
    false_pairs = sum(1 for s in found_sim if s < THRESHOLD)
    full = {
        "stories": len(texts), "seconds": round(seconds, 2),
        "bands_rows": [result.bands, result.rows],
        "stories_per_s": round(len(texts) / seconds),
        "candidates": result.candidates, "pairs": len(found), "clusters": len(result.clusters),
        "extra_members": len(result.extra_members),
        "planted_pairs": len(planted),
        "planted_pair_recall": round(recall(found, planted), 4),
        "planted_cluster_recall": round(cluster_recall(result, planted), 4),
        "family_true_pairs": len(true_pairs),
        "family_true_pair_recall": round(recall(found, true_pairs), 4),
        "found_pairs_below_threshold": false_pairs,
    }
    print(f"platform, {len(texts):,} stories: {seconds:.1f}s ({full['stories_per_s']:,} "
          f"stories/s); {result.candidates:,} candidates, {len(found):,} pairs, "
          f"{len(result.clusters):,} clusters ({full['extra_members']:,} extra members); "
          f"LSH {result.bands} bands x {result.rows} rows")
    print(f"  recall: planted pairs {full['planted_pair_recall']:.4f} (same cluster "
          f"{full['planted_cluster_recall']:.4f}); all pairs with exact Jaccard >= {THRESHOLD} "
          f"in the planted families {full['family_true_pair_recall']:.4f} of "
          f"{len(true_pairs):,}; found pairs with exact Jaccard < {THRESHOLD}: {false_pairs:,}")
    projected = seconds * PROJECT_TO / len(texts)
    print(f"  projection (linear, not measured) for {PROJECT_TO:,} stories: {projected:.0f}s")
    del result

    # Same subset for both.
    n = args.baseline_stories
    subset = texts[:n]
    subset_planted = [(i, j) for i, j in planted if j < n]
    subset_true = {(i, j) for i, j in true_pairs if j < n}
    runs = [run_platform(subset) for _ in range(max(1, args.repeats))]
    platform_s = statistics.median(s for s, _ in runs)
    platform_pairs = pair_set(runs[0][1])
    del runs
    baseline_s, baseline_pairs, phases = run_baseline(subset)
    ratio = baseline_s / platform_s
    union = platform_pairs | baseline_pairs
    agreement = len(platform_pairs & baseline_pairs) / len(union) if union else 1.0
    same = {
        "stories": n, "platform_s": round(platform_s, 3), "baseline_s": round(baseline_s, 2),
        "ratio": round(ratio, 2), "baseline_phases": phases,
        "planted_pairs": len(subset_planted),
        "platform_pairs": len(platform_pairs), "baseline_pairs": len(baseline_pairs),
        "platform_planted_recall": round(recall(platform_pairs, subset_planted), 4),
        "baseline_planted_recall": round(recall(baseline_pairs, subset_planted), 4),
        "platform_true_pair_recall": round(recall(platform_pairs, subset_true), 4),
        "baseline_true_pair_recall": round(recall(baseline_pairs, subset_true), 4),
        "pair_agreement_jaccard": round(agreement, 4),
        "only_platform": len(platform_pairs - baseline_pairs),
        "only_baseline": len(baseline_pairs - platform_pairs),
        "baseline_extrapolated_full_s": round(baseline_s * len(texts) / n, 1),
    }
    print(f"same subset, first {n:,} stories: platform {platform_s:.2f}s (median of "
          f"{args.repeats}), datasketch loop {baseline_s:.1f}s "
          f"(MinHash {phases['minhash_s']}s, LSH insert+query {phases['lsh_s']}s, "
          f"verify {phases['verify_s']}s) -> {ratio:.1f}x")
    print(f"  planted-pair recall: platform {same['platform_planted_recall']:.4f}, "
          f"datasketch {same['baseline_planted_recall']:.4f} (of {len(subset_planted):,}); "
          f"pairs {len(platform_pairs):,} vs {len(baseline_pairs):,}, agreement "
          f"{agreement:.4f} ({same['only_platform']} only platform, "
          f"{same['only_baseline']} only datasketch)")
    print(f"  datasketch loop extrapolated (linear, not measured) to {len(texts):,} stories: "
          f"{same['baseline_extrapolated_full_s']:.0f}s vs platform measured {seconds:.0f}s")
    del texts, cache

    # Memory, each size in a fresh process.
    memory = {count: measure_memory(count) for count in (small, large)}
    story_ratio = large / small
    for count, fig in memory.items():
        print(f"memory, {count:,} stories: peak {fig['peak_rss_mb']:.0f} MB, before the call "
              f"{fig['rss_before_mb']:.0f} MB (texts in memory), increment "
              f"{fig['increment_mb']:.0f} MB = {fig['increment_mb'] / count * 1000:.2f} MB "
              f"per 1k stories ({fig['seconds']:.1f}s)")
    increment_ratio = memory[large]["increment_mb"] / memory[small]["increment_mb"]
    peak_ratio = memory[large]["peak_rss_mb"] / memory[small]["peak_rss_mb"]
    linear = increment_ratio <= story_ratio
    print(f"  increment ratio {large:,}/{small:,}: {increment_ratio:.2f} (stories "
          f"{story_ratio:.1f}x; total peak ratio {peak_ratio:.2f})")

    meets = ratio >= BAR_RATIO and linear
    changed = module_digest() != digest
    if changed:
        print(f"WARNING: near_duplicates.py changed during the run ({digest} -> "
              f"{module_digest()}); the figures mix two versions")
    total_s = time.perf_counter() - bench_started
    print(f"bench wall time {total_s:.0f}s; meets bar: {meets}")
    print(json.dumps({
        "benchmark": "dedup",
        "cpus": os.cpu_count(),
        "threshold": THRESHOLD, "num_perm": NUM_PERM,
        "platform_full": full,
        "projected_s_2m_stories_linear": round(projected),
        "same_subset": same,
        "memory": {str(count): {k: (round(v, 1) if isinstance(v, float) else v)
                                for k, v in fig.items()} for count, fig in memory.items()},
        "memory_increment_ratio": round(increment_ratio, 3),
        "memory_peak_ratio": round(peak_ratio, 3),
        "story_ratio": story_ratio,
        "bar": f"platform >= {BAR_RATIO}x faster than the datasketch loop on the same "
               f"{n:,} stories; peak-RSS increment for {large:,} / {small:,} <= "
               f"{story_ratio:g}",
        "meets_bar": meets,
        "module_sha256": digest,
        "module_changed_during_run": changed,
        "bench_wall_s": round(total_s),
    }))


if __name__ == "__main__":
    main()
