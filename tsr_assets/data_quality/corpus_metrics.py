"""Diversity of a story corpus, one number per metric (the `corpus_quality` view).

Words are cut as for near-duplicates (`near_duplicates.story_words`). Over the first
`MAX_STORIES` stories of a source (all of them when fewer):

- stories: stories in the source (all, not only those measured);
- distinct_1 / distinct_2 / distinct_3: distinct word n-grams / all word n-grams, corpus-wide;
- vocabulary_size: distinct words;
- vocabulary_growth: Heaps' law exponent b in V = k N^b, the least-squares slope of
  log(distinct words) against log(words read) at ten evenly spaced points (lower = the
  vocabulary saturates sooner, i.e. the corpus repeats its words);
- compression_ratio: zlib (level 6) compressed bytes / UTF-8 bytes of the stories joined by
  newlines (lower = more repetitive text);
- mean_words, sd_words: mean and standard deviation of story length in words;
- wordlist_coverage: share of the language's stored word-list words (nouns, verbs,
  adjectives) that occur in the stories, as a word or as the start of a longer word (Indic
  languages attach case endings);
- near_duplicate_rate (added from `near_duplicates`): share of stories that are an extra
  member of a near-duplicate cluster.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

import numpy as np

from tsr_assets.data_quality.near_duplicates import story_words

MAX_STORIES = 20_000


def _distinct(counts: dict[int, tuple[set, int]], words: list[str]) -> None:
    for n, (seen, _) in list(counts.items()):
        grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
        seen.update(grams)
        counts[n] = (seen, counts[n][1] + len(grams))


def _heaps_exponent(points: list[tuple[int, int]]) -> float:
    points = [(n, v) for n, v in points if n > 0 and v > 0]
    if len(points) < 2:
        return 0.0
    x = np.log([n for n, _ in points])
    y = np.log([v for _, v in points])
    return float(np.polyfit(x, y, 1)[0])


def _coverage(wordlist: Iterable[str], vocabulary: set[str]) -> float:
    wanted = {w.casefold() for w in wordlist if w.strip()}
    if not wanted:
        return 0.0
    prefixes = {word[:k] for word in vocabulary for k in range(2, min(len(word), 12) + 1)}
    hit = sum(1 for w in wanted if w in vocabulary or (len(w) <= 12 and w in prefixes))
    return hit / len(wanted)


def corpus_metrics(stories: Iterable[str], total: int, wordlist: Iterable[str] = ()
                   ) -> dict[str, float]:
    """The metrics of one source (see the module docstring); `total` is its story count."""
    counts: dict[int, tuple[set, int]] = {1: (set(), 0), 2: (set(), 0), 3: (set(), 0)}
    lengths: list[int] = []
    texts: list[str] = []
    vocabulary: set[str] = set()
    growth: list[tuple[int, int]] = []
    words_read = 0
    for story in stories:
        if len(lengths) >= MAX_STORIES:
            break
        words = story_words(story)
        lengths.append(len(words))
        texts.append(story)
        _distinct(counts, words)
        vocabulary.update(words)
        words_read += len(words)
        growth.append((words_read, len(vocabulary)))
    if not lengths:
        return {"stories": float(total)}
    step = max(1, len(growth) // 10)
    raw = "\n".join(texts).encode("utf-8")
    return {
        "stories": float(total),
        **{f"distinct_{n}": len(seen) / all_ if all_ else 0.0
           for n, (seen, all_) in counts.items()},
        "vocabulary_size": float(len(vocabulary)),
        "vocabulary_growth": _heaps_exponent(growth[step - 1::step]),
        "compression_ratio": len(zlib.compress(raw, 6)) / len(raw) if raw else 0.0,
        "mean_words": float(np.mean(lengths)),
        "sd_words": float(np.std(lengths)) if len(lengths) > 1 else 0.0,
        "wordlist_coverage": _coverage(wordlist, vocabulary),
    }

