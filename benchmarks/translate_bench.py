"""Benchmark: batched sentence translation against one story at a time, and memory against
the number of stories.

The model is the tests' tiny NLLB-shaped seq2seq model (M2M100 architecture, random weights,
word-level tokenizer trained on English and Hindi words, saved and loaded with
`from_pretrained`), on CPU. The source is N English stories of 8 sentences each, written from
the tokenizer's English words.

* `batched`: the platform's path, `translate_with_model`: stories split into sentences, the
  sentences of 128 stories sorted by length and translated in batches of up to 64, rejoined,
  gated and journaled into the translated-story store.
* `per_story`: the original framework's approach: each whole story is one input to
  `generate()`, one story per call (cut at the model's maximum input length, which is the
  failure the platform's sentence splitting avoids; it also makes the baseline's work smaller).

Throughput is English sentences per second, the faster of `--repeats` runs. Then the batched
path's peak RSS (VmHWM) in a fresh process for two corpus sizes: stories stream through in
chunks, so the peak must not grow with the number of stories.

    python benchmarks/translate_bench.py [--stories 256] [--memory-counts 200 1600]

Last line: one JSON object with the figures and `meets_bar` (batched >= 5x per-story
sentences/s, and peak RSS at the larger corpus <= 1.15x the smaller's).
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

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tsr_assets.core.languages import get_language  # noqa: E402
from tsr_assets.translation.sentence_split import split_story  # noqa: E402
from tsr_assets.translation.seq2seq import Seq2SeqSettings, Seq2SeqTranslator  # noqa: E402
from tsr_assets.translation.source_stories import SourceStory, source_id_of  # noqa: E402
from tsr_assets.translation.translating import translate_with_model  # noqa: E402
from tsr_assets.translation.translation_gates import TranslationLimits  # noqa: E402
from tsr_assets_tests.translation.tiny_seq2seq import (  # noqa: E402
    build_tiny_seq2seq,
    english_story,
)

HINDI = get_language("hindi")
SENTENCES_PER_STORY = 8


def corpus(count: int, seed: int = 0) -> list[SourceStory]:
    """`count` English stories the tiny tokenizer knows."""
    rng = random.Random(seed)
    texts = [english_story(rng, SENTENCES_PER_STORY) for _ in range(count)]
    return [SourceStory(source_id_of(t), t) for t in texts]


def sentence_count(stories: list[SourceStory]) -> int:
    """English sentences in `stories`."""
    return sum(len(split_story(0, s.text)) for s in stories)


def time_batched(model: Path, stories: list[SourceStory]) -> float:
    """Seconds for the platform's path over `stories` into a fresh store."""
    translator = Seq2SeqTranslator(Seq2SeqSettings(str(model)), HINDI)
    with tempfile.TemporaryDirectory() as store:
        started = time.perf_counter()
        translate_with_model(HINDI, Path(store), stories, translator, TranslationLimits(),
                             log=lambda _: None)
        return time.perf_counter() - started


def time_per_story(model: Path, stories: list[SourceStory]) -> float:
    """Seconds to translate each whole story with its own `generate()` call."""
    translator = Seq2SeqTranslator(Seq2SeqSettings(str(model)), HINDI)
    started = time.perf_counter()
    for story in stories:
        translator.translate([story.text])
    return time.perf_counter() - started


MEMORY_CHILD = """
import json, sys
sys.path[:0] = [{repo!r}, {repo!r} + "/benchmarks"]
from peak_memory import peak_rss_mb
from translate_bench import corpus, time_batched
from pathlib import Path
stories = corpus({count}, seed=1)
seconds = time_batched(Path({model!r}), iter(stories))
print(json.dumps({{"stories": {count}, "seconds": seconds, "peak_rss_mb": peak_rss_mb()}}))
"""


def peak_memory(model: Path, count: int) -> dict:
    """The batched path's peak RSS for `count` stories, in a fresh process."""
    code = MEMORY_CHILD.format(repo=str(REPO), count=count, model=str(model))
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True, cwd=REPO).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stories", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--memory-counts", type=int, nargs=2, default=[200, 1600])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        model = build_tiny_seq2seq(Path(folder) / "tiny")
        stories = corpus(args.stories)
        sentences = sentence_count(stories)
        baseline_stories = stories[: max(16, args.stories // 8)]  # it is slow; fewer suffice
        baseline_sentences = sentence_count(baseline_stories)
        batched = min(time_batched(model, stories) for _ in range(args.repeats))
        per_story = min(time_per_story(model, baseline_stories) for _ in range(args.repeats))
        rates = {"batched": sentences / batched, "per_story": baseline_sentences / per_story}
        print(f"batched:   {sentences:,} sentences in {batched:.2f} s = "
              f"{rates['batched']:,.1f} sentences/s")
        print(f"per story: {baseline_sentences:,} sentences in {per_story:.2f} s = "
              f"{rates['per_story']:,.1f} sentences/s")
        small, large = (peak_memory(model, n) for n in args.memory_counts)
    ratio = rates["batched"] / rates["per_story"]
    memory_ratio = large["peak_rss_mb"] / small["peak_rss_mb"]
    print(f"speed-up {ratio:.2f}x; peak RSS {small['peak_rss_mb']:.0f} MB at "
          f"{small['stories']:,} stories, {large['peak_rss_mb']:.0f} MB at "
          f"{large['stories']:,} ({memory_ratio:.3f}x)")
    print(json.dumps({
        "sentences_per_s": {k: round(v, 1) for k, v in rates.items()},
        "speedup": round(ratio, 2), "peak_rss_mb": {small["stories"]: small["peak_rss_mb"],
                                                    large["stories"]: large["peak_rss_mb"]},
        "memory_ratio": round(memory_ratio, 3),
        "meets_bar": ratio >= 5.0 and memory_ratio <= 1.15,
    }))


if __name__ == "__main__":
    main()
