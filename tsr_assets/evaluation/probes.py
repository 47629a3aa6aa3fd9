"""Does the judge notice a broken story? Judge probes (no Dagster).

A seeded sample of stories (a model's samples, or corpus stories split into an opener, their
first sentence, and the rest) is judged as it is and in four more versions. Only the
continuation is changed; the opener the model was given stays in front:

- `retest`: the same story asked again, unchanged (test–retest: a fresh request to an LLM
  judge; the automatic judge is deterministic and always agrees with itself).
- `shuffled`: the continuation's sentences in another order (seeded; never the original
  order). Stories with fewer than two sentences are left out of this probe.
- `cut_in_half`: the continuation stops after half of its words (mid-sentence, as a story the
  model never finished; the automatic judge is told it did not end at eos).
- `words_replaced`: one word in five (`word_share`) of the continuation, at seeded positions,
  replaced by a random word of the language's word lists (nouns, verbs, adjectives),
  punctuation around it kept.

`probe_statistics` gives, per metric and probe, over the stories judged in both versions:
the mean change (probed − original) with a 95% interval from a bootstrap over stories
(percentiles, `resamples` resamples seeded with (seed, n)), the shares of stories scored lower
and higher, and the share scored *worse* (lower, or higher for a metric where lower is better,
see `METRIC_DIRECTION`). A broken probe is `noticed` when the whole interval lies on the worse
side of 0; else the row is `flagged`: the judge does not score that kind of broken story
worse. The `retest` row has `retest_alpha`, Krippendorff's alpha (interval) between the two
judgments of the unchanged stories, instead.
"""

from __future__ import annotations

import math
import random
import re
import unicodedata
from collections.abc import Iterable, Sequence

import numpy as np
import polars as pl

from tsr_assets.evaluation.calibration import interval_alpha

ORIGINAL = "original"
RETEST = "retest"
SHUFFLED = "shuffled"
CUT_IN_HALF = "cut_in_half"
WORDS_REPLACED = "words_replaced"
#: The probes, in report order; all but `retest` break the story.
PROBES = (SHUFFLED, CUT_IN_HALF, WORDS_REPLACED, RETEST)
BROKEN_PROBES = (SHUFFLED, CUT_IN_HALF, WORDS_REPLACED)
#: One word in five is replaced by default.
DEFAULT_WORD_SHARE = 0.2
#: +1: higher is better (the default, every LLM criterion); -1: lower is better; 0: neither
#: (no worse side, never flagged).
METRIC_DIRECTION: dict[str, int] = {"repetition_rate": -1, "reference_bits_per_char": -1,
                                    "length_words": 0}
#: The key of a probed story: `<prompt_id>#<sample_index>@<probe>`.
_SEPARATOR = "@"

PROBE_SCHEMA: dict[str, pl.DataType] = {
    "metric": pl.String(),
    "probe": pl.String(),
    "stories": pl.Int64(),
    "mean_original": pl.Float64(),
    "mean_probed": pl.Float64(),
    "mean_change": pl.Float64(),
    "ci95_low": pl.Float64(),
    "ci95_high": pl.Float64(),
    "share_lower": pl.Float64(),
    "share_higher": pl.Float64(),
    "share_worse": pl.Float64(),
    "direction": pl.Int64(),
    "noticed": pl.Boolean(),
    "flagged": pl.Boolean(),
    "retest_alpha": pl.Float64(),
    "resamples": pl.Int64(),
    "seed": pl.Int64(),
}

_TOKEN = re.compile(r"\S+")


def split_sentences(text: str, terminators: Sequence[str]) -> list[str]:
    """The sentences of `text`: each runs to one of `terminators` (or !, ?, …), closing quotes
    or brackets included; a last piece without a terminator is a sentence too."""
    ends = "".join(re.escape(t) for t in dict.fromkeys((*terminators, "!", "?", "\u2026")))
    pieces = re.findall(f"[^{ends}]*[{ends}]+[\"'\u201d\u2019)\\]]*|[^{ends}]+$", text)
    return [p.strip() for p in pieces if p.strip()]


def shuffle_sentences(continuation: str, terminators: Sequence[str], rng: random.Random
                      ) -> str | None:
    """The continuation with its sentences in another order (None with fewer than two
    different sentences)."""
    sentences = split_sentences(continuation, terminators)
    if len(set(sentences)) < 2:
        return None
    order = list(range(len(sentences)))
    while [sentences[i] for i in order] == sentences:
        rng.shuffle(order)
    lead = continuation[:len(continuation) - len(continuation.lstrip())]
    return lead + " ".join(sentences[i] for i in order)


def cut_in_half(continuation: str) -> str | None:
    """The continuation up to the end of its middle word (half the words, rounded down; None
    with fewer than two words)."""
    tokens = list(_TOKEN.finditer(continuation))
    if len(tokens) < 2:
        return None
    return continuation[:tokens[len(tokens) // 2 - 1].end()]


def _core(token: str) -> tuple[int, int]:
    """Where the word in a whitespace token starts and ends (punctuation and symbols around
    it are kept, as `core.words` strips them)."""
    start, end = 0, len(token)
    while start < end and unicodedata.category(token[start])[0] in "PS":
        start += 1
    while end > start and unicodedata.category(token[end - 1])[0] in "PS":
        end -= 1
    return start, end


def replace_words(continuation: str, vocabulary: Sequence[str], rng: random.Random,
                  share: float = DEFAULT_WORD_SHARE) -> str | None:
    """The continuation with `share` of its words (rounded, at least one) replaced by random
    words of `vocabulary` (each different from the word it replaces); None without words or
    vocabulary."""
    tokens = [m for m in _TOKEN.finditer(continuation) if _core(m.group())[1] > _core(
        m.group())[0]]
    choices = [w for w in dict.fromkeys(vocabulary) if w]
    if not tokens or len(choices) < 2:
        return None
    count = min(len(tokens), max(1, round(len(tokens) * share)))
    chosen = sorted(rng.sample(range(len(tokens)), count), key=lambda i: tokens[i].start())
    parts, last = [], 0
    for index in chosen:
        match = tokens[index]
        start, end = _core(match.group())
        old = match.group()[start:end]
        new = rng.choice(choices)
        while new == old:
            new = rng.choice(choices)
        parts += [continuation[last:match.start() + start], new]
        last = match.start() + end
    return "".join(parts) + continuation[last:]


def stories_from_texts(texts: Iterable[str], terminators: Sequence[str]) -> pl.DataFrame:
    """Corpus stories as samples: the first sentence is the opener, the rest the
    continuation (`prompt_id` `corpus-<i>`, sample 0, ended at eos); stories of one sentence
    are left out."""
    rows = []
    for index, text in enumerate(texts):
        sentences = split_sentences(text, terminators)
        if len(sentences) < 2:
            continue
        opener = sentences[0]
        at = text.find(opener) + len(opener)
        rows.append({"prompt_id": f"corpus-{index}", "sample_index": 0, "opener": opener,
                     "continuation": text[at:], "story": text,
                     "ended_at_eos": True})
    return pl.DataFrame(rows, schema={"prompt_id": pl.String, "sample_index": pl.Int64,
                                      "opener": pl.String, "continuation": pl.String,
                                      "story": pl.String, "ended_at_eos": pl.Boolean})


def choose_stories(samples: pl.DataFrame, count: int, seed: int) -> pl.DataFrame:
    """A seeded sample of `count` stories (all of them when there are fewer), in a stable
    order (by prompt_id, sample_index) whatever the input order."""
    ordered = samples.sort("prompt_id", "sample_index")
    if ordered.height <= count:
        return ordered
    chosen = sorted(random.Random(seed).sample(range(ordered.height), count))
    return ordered[chosen]


def probe_key(prompt_id: str, sample_index: int, probe: str) -> str:
    """The key a probed story is judged under."""
    return f"{prompt_id}#{sample_index}{_SEPARATOR}{probe}"


def probed_stories(stories: pl.DataFrame, terminators: Sequence[str],
                   vocabulary: Sequence[str], seed: int = 0,
                   word_share: float = DEFAULT_WORD_SHARE) -> pl.DataFrame:
    """Every story as it is (`original`) and in each probe's version that applies to it: the
    samples columns (prompt_id is the probe key, sample_index 0, opener, continuation, story,
    ended_at_eos) plus `story_key` (`<prompt_id>#<sample_index>`) and `probe`, so either
    judge rates them like samples. Each story's changes are seeded with (seed, story, probe).
    """
    rows = []
    for row in stories.iter_rows(named=True):
        opener, continuation = row["opener"], row["continuation"] or ""
        story_key = f"{row['prompt_id']}#{row['sample_index']}"

        def rng(probe: str, key: str = story_key) -> random.Random:
            return random.Random(f"{seed}:{key}:{probe}")

        versions = {
            ORIGINAL: (continuation, row["ended_at_eos"]),
            RETEST: (continuation, row["ended_at_eos"]),
            SHUFFLED: (shuffle_sentences(continuation, terminators, rng(SHUFFLED)),
                       row["ended_at_eos"]),
            CUT_IN_HALF: (cut_in_half(continuation), False),
            WORDS_REPLACED: (replace_words(continuation, vocabulary, rng(WORDS_REPLACED),
                                           word_share), row["ended_at_eos"]),
        }
        for probe, (text, ended) in versions.items():
            if text is None:
                continue
            rows.append({"prompt_id": probe_key(row["prompt_id"], row["sample_index"], probe),
                         "sample_index": 0, "story_key": story_key, "probe": probe,
                         "opener": opener, "continuation": text, "story": opener + text,
                         "ended_at_eos": bool(ended)})
    return pl.DataFrame(rows, schema={
        "prompt_id": pl.String, "sample_index": pl.Int64, "story_key": pl.String,
        "probe": pl.String, "opener": pl.String, "continuation": pl.String,
        "story": pl.String, "ended_at_eos": pl.Boolean})


def _interval(changes: np.ndarray, resamples: int, seed: int) -> tuple[float, float]:
    n = changes.size
    rng = np.random.default_rng([seed, n])
    means = changes[rng.integers(0, n, size=(resamples, n))].mean(axis=1)
    low, high = np.quantile(means, [0.025, 0.975])
    return float(low), float(high)


def _probe_row(metric: str, probe: str, original: np.ndarray, probed: np.ndarray,
               resamples: int, seed: int) -> dict:
    """One metric x probe over the stories judged in both versions."""
    changes = probed - original
    direction = METRIC_DIRECTION.get(metric, 1)
    low, high = _interval(changes, resamples, seed)
    broken = probe in BROKEN_PROBES and direction != 0
    noticed = (high < 0 if direction > 0 else low > 0) if broken else None
    worse = (changes * direction < 0).mean() if direction else math.nan
    alpha = interval_alpha(np.vstack([original, probed])) if probe == RETEST else math.nan
    return {"metric": metric, "probe": probe, "stories": int(changes.size),
            "mean_original": float(original.mean()), "mean_probed": float(probed.mean()),
            "mean_change": float(changes.mean()), "ci95_low": low, "ci95_high": high,
            "share_lower": float((changes < 0).mean()),
            "share_higher": float((changes > 0).mean()),
            "share_worse": None if math.isnan(worse) else float(worse),
            "direction": direction, "noticed": noticed,
            "flagged": None if noticed is None else not noticed,
            "retest_alpha": None if math.isnan(alpha) else alpha,
            "resamples": resamples, "seed": seed}


def probe_statistics(probed: pl.DataFrame, scores: pl.DataFrame, resamples: int = 2000,
                     seed: int = 0) -> pl.DataFrame:
    """The probes' effect per metric and probe (`PROBE_SCHEMA`, see the module docstring).

    `probed` is `probed_stories`'s frame, `scores` the judge's long-form scores of it
    (prompt_id = probe key, metric, value). A story whose original was not judged is left out
    of every probe; a probe's failed judgments are left out of that probe. Sorted by metric,
    then the probes' order.
    """
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    joined = scores.filter(pl.col("value").is_not_null() & pl.col("value").is_finite()).join(
        probed.select("prompt_id", "story_key", "probe"), on="prompt_id", how="inner")
    originals = joined.filter(pl.col("probe") == ORIGINAL).select(
        "story_key", "metric", pl.col("value").alias("original"))
    paired = joined.filter(pl.col("probe") != ORIGINAL).join(
        originals, on=["story_key", "metric"], how="inner").sort("story_key")
    rows = []
    for (metric, probe), group in sorted(paired.partition_by(["metric", "probe"],
                                                              as_dict=True).items(),
                                         key=lambda kv: (kv[0][0], PROBES.index(kv[0][1]))):
        rows.append(_probe_row(metric, probe, group["original"].to_numpy(),
                               group["value"].to_numpy(), resamples, seed))
    return pl.DataFrame(rows, schema=PROBE_SCHEMA)
