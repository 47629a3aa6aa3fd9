"""How well a tokenizer fits a language, measured on the val split.

- fertility: tokens per whitespace-separated word (lower is better for a language)
- chars_per_token, bytes_per_token: how much text one token carries
- single_token_word_share: share of word occurrences that are one token in running text
- vocab_used / vocab_used_share: distinct ids that occur, and their share of the vocabulary
- fallback_rate: share of tokens that are raw bytes or unknown (see `Tokenizer.fallback_mask`)
- renyi_entropy: Rényi entropy of order alpha (default 2.5) of the unigram token distribution,
  in bits (log base 2); renyi_efficiency: that entropy over log2 of the vocabulary size
  (Zouhar et al. 2023 found efficiency at alpha 2.5 to track downstream quality)
- renyi_nats_<alpha> for alpha in 0.5, 1 (Shannon), 2, 2.5: the same entropy in nats (natural
  log) over the train and val bins together, as the original study publishes it (its Table 6:
  alpha 2.5, natural log, bos/eos removed, train+val bins)

bos/eos are excluded everywhere: they frame stories, they are not text.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

from tsr_assets.tokenizers.base import Tokenizer

RENYI_ALPHA = 2.5
#: The orders the original study reports, and the DuckDB column of each (in nats).
PUBLISHED_ALPHAS: dict[float, str] = {0.5: "renyi_nats_0_5", 1.0: "renyi_nats_1",
                                      2.0: "renyi_nats_2", 2.5: "renyi_nats_2_5"}
#: Ids counted at a time (a memmap is read in slices of this many ids).
COUNT_CHUNK = 1 << 24
# Words are looked up in context after this sentinel, so each is counted with its leading space
# exactly as it appears in running text.
_SENTINEL = "\n"


def renyi_entropy(counts: np.ndarray, alpha: float = RENYI_ALPHA) -> float:
    """Rényi entropy in bits of the distribution given by `counts` (alpha != 1)."""
    total = counts.sum()
    if total == 0:
        return 0.0
    p = counts[counts > 0] / total
    return float(np.log2(np.sum(p**alpha)) / (1.0 - alpha))


def renyi_entropy_nats(counts: np.ndarray, alpha: float) -> float:
    """Rényi entropy in nats of the distribution given by `counts`; alpha 1 is Shannon's."""
    total = counts.sum()
    if total == 0:
        return 0.0
    p = counts[counts > 0] / total
    if alpha == 1.0:
        return float(-np.sum(p * np.log(p)))
    return float(np.log(np.sum(p**alpha)) / (1.0 - alpha))


def text_token_counts(framed: Iterable[np.ndarray], stories: int, vocab: int, bos: int,
                      eos: int) -> np.ndarray:
    """Occurrences of each id in the framed token arrays (whole bins, or chunks of them from
    `token_bins.iter_bin_chunks`), less one bos and eos per story."""
    counts = np.zeros(vocab, dtype=np.int64)
    for ids in framed:
        # In chunks: a memmap of the train bin is read a slice at a time, never widened whole.
        for start in range(0, len(ids), COUNT_CHUNK):
            chunk = np.asarray(ids[start:start + COUNT_CHUNK])
            counts += np.bincount(chunk, minlength=vocab)[:vocab]
    counts[bos] -= stories
    counts[eos] -= stories
    if counts.min() < 0:
        raise ValueError("the ids do not hold one bos and one eos per story")
    return counts


def published_renyi(counts: np.ndarray) -> dict[str, float]:
    """The Rényi entropies the original study publishes, in nats, by column name."""
    return {column: renyi_entropy_nats(counts, alpha)
            for alpha, column in PUBLISHED_ALPHAS.items()}


def word_token_counts(tokenizer: Tokenizer, words: Sequence[str]) -> list[int]:
    """Tokens each word takes in running text (after a space), via a sentinel prefix."""
    base = len(tokenizer.encode(_SENTINEL))
    encoded = tokenizer.encode_batch([f"{_SENTINEL} {w}" for w in words])
    return [len(ids) - base for ids in encoded]


def compute_tokenizer_stats(
    tokenizer: Tokenizer,
    texts: Sequence[str],
    framed_ids: np.ndarray | Iterable[np.ndarray],
    alpha: float = RENYI_ALPHA,
    max_distinct_words: int = 50_000,
) -> dict[str, float | int | str]:
    """Statistics of `tokenizer` on `texts`, whose framed ids (from the bins) are `framed_ids`
    (one array, or its chunks).

    The single-token share is computed over the `max_distinct_words` most frequent words,
    which cover nearly all occurrences in practice; the share of occurrences covered is
    reported as `words_covered_share`.

    Raises:
        ValueError: when there is no text, or the ids do not hold one bos and eos per text.
    """
    if not texts:
        raise ValueError("no val stories: lower val_share or add stories")
    vocab = tokenizer.vocab_size
    chunks = [framed_ids] if isinstance(framed_ids, np.ndarray) else framed_ids
    counts = text_token_counts(chunks, len(texts), vocab, tokenizer.bos_id, tokenizer.eos_id)
    text_tokens = int(counts.sum())
    word_counts = Counter(w for text in texts for w in text.split())
    words = sum(word_counts.values())
    chars = sum(len(t) for t in texts)
    nbytes = sum(len(t.encode("utf-8")) for t in texts)
    frequent = word_counts.most_common(max_distinct_words)
    per_word = word_token_counts(tokenizer, [w for w, _ in frequent])
    covered = sum(c for _, c in frequent)
    single = sum(c for (_, c), n in zip(frequent, per_word, strict=True) if n == 1)
    entropy = renyi_entropy(counts, alpha)
    fallback = int(counts[tokenizer.fallback_mask()[:vocab]].sum())
    used = int(np.count_nonzero(counts))
    return {
        "stories": len(texts),
        "words": words,
        "chars": chars,
        "bytes": nbytes,
        "tokens": text_tokens,
        "fertility": text_tokens / words if words else math.nan,
        "chars_per_token": chars / text_tokens if text_tokens else math.nan,
        "bytes_per_token": nbytes / text_tokens if text_tokens else math.nan,
        "single_token_word_share": single / covered if covered else math.nan,
        "words_covered_share": covered / words if words else math.nan,
        "vocab_size": vocab,
        "vocab_used": used,
        "vocab_used_share": used / vocab,
        "fallback_rate": fallback / text_tokens if text_tokens else math.nan,
        "renyi_alpha": alpha,
        "renyi_entropy_bits": entropy,
        "renyi_efficiency": entropy / math.log2(vocab),
        "log_base": "2",
    }
