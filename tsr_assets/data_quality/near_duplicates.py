"""Near-duplicate stories: MinHash signatures over word shingles and locality-sensitive hashing
(LSH), vectorised with numpy.

Why not `datasketch`: its `MinHash` hashes every shingle with SHA-1 in Python and keeps one
object per story, and `MinHashLSH` inserts and queries one story at a time. Here all shingles
of a block of stories are hashed as one numpy array, the permutations are applied to the whole
block at once (`np.minimum.reduceat` gives every story's minimum per permutation), and LSH
buckets are found by sorting each band's keys. `benchmarks/dedup_bench.py` measures the two
on the same corpus; the definitions (shingles, permutations, bands) are the standard ones, so
the estimates have the same statistics.

Definitions:

- words: the text (NFC, as stored) case-folded, punctuation replaced by spaces, split at
  whitespace;
- shingles: the word `SHINGLE_WORDS`-grams of a story (a shorter story is one shingle);
- Jaccard similarity of two stories: |shared shingles| / |shingles of either|;
- signature: for each of `num_perm` random hash functions h_i(x) = (a_i x + b_i) mod 2^64
  (top 32 bits), the minimum over the story's shingle hashes; the share of equal signature
  entries of two stories estimates their Jaccard similarity (standard error about
  sqrt(J(1-J)/num_perm), 0.035 at J = 0.8 with 128);
- LSH: the signature is cut into `bands` bands of `rows` entries; two stories that agree on a
  whole band become a candidate pair. Bands and rows are chosen, as `datasketch` does, to
  minimise false positive and false negative probability mass around the threshold, but with
  misses weighted 19 to 1 (`FALSE_POSITIVE_WEIGHT`), since every candidate is verified;
- candidates whose similarity estimated from the low 8 bits of their MinHash values (b-bit
  MinHash) is below the threshold by more than `PREFILTER_MARGIN` (0.1) are dropped: unrelated
  stories that share common sentences collide in some band at a rate that grows with the
  square of the corpus, and the estimate removes them before the exact check;
- a candidate pair is a near-duplicate pair when its exact Jaccard similarity (over 64-bit
  shingle hashes) is at least the threshold (default 0.8); clusters are the connected
  components of those pairs. The member that comes first in the input (the oldest story)
  represents its cluster.

Memory (`find_near_duplicates_in_batches`, used on the story shards): the corpus is read
twice in batches. What is kept for every story is its LSH band keys, `8 * bands` bytes, and
the low byte of each MinHash value, `num_perm` bytes (256 bytes with 128 permutations at 0.8:
512 MB for 2,000,000 stories); texts, shingles and signatures are kept for one block of
`BLOCK_STORIES` at a time, and after the first pass only for the stories in a candidate pair
that the estimate kept.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pyarrow as pa

SHINGLE_WORDS = 3
DEFAULT_NUM_PERM = 128
DEFAULT_THRESHOLD = 0.8
#: Stories hashed per block (bounds the memory of the shingle arrays).
BLOCK_STORIES = 20_000
#: A bucket larger than this links its members to its first one only (a pile of exact copies
#: would otherwise make a quadratic number of pairs).
MAX_BUCKET_PAIRS = 64
_SEED = 1_234_567
# Punctuation: not a word character, not space, not an Indic letter or sign (their vowel signs
# are not \w); the dandas are punctuation although they sit in the Devanagari block.
_PUNCT = re.compile(r"[^\w\s\u0900-\u0963\u0966-\u0DFF\u200c\u200d]")
_SEPARATOR = "\x1f"


def story_words(text: str) -> list[str]:
    """Words of a story for shingling: case-folded, punctuation turned into spaces.

    Texts are compared as given: stored stories and openers are NFC already (the story gates
    and the openers loader normalize them), and normalizing again costs a third of a scan.
    """
    return _PUNCT.sub(" ", text.casefold()).split()


def block_words(texts: Sequence[str]) -> list[list[str]]:
    """`story_words` of every text, with one regex pass over the whole block."""
    texts = list(texts)
    if not texts or any(_SEPARATOR in t for t in texts):
        return [story_words(t) for t in texts]
    joined = _PUNCT.sub(" ", _SEPARATOR.join(texts).casefold())
    return [part.split() for part in joined.split(_SEPARATOR)]


def _blake(word: str) -> int:
    # A stable 64-bit hash (Python's own `hash` changes between processes).
    return int.from_bytes(hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest(),
                          "little")


def shingle_hashes(texts: Sequence[str], cache: dict[str, int] | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(hashes of every story's shingles, concatenated; start offset of each story).

    Every story has at least one shingle: a story of fewer than `SHINGLE_WORDS` words is one
    shingle of all its words (an empty story, of the empty word).
    """
    cache = {} if cache is None else cache
    story_lists = [words or [""] for words in block_words(texts)]
    lengths = np.fromiter((len(w) for w in story_lists), dtype=np.int64, count=len(texts))
    new = {w for words in story_lists for w in words} - cache.keys()
    cache.update((w, _blake(w)) for w in new)
    words = np.fromiter(map(cache.__getitem__, itertools.chain.from_iterable(story_lists)),
                        dtype=np.uint64, count=int(lengths.sum()))
    starts = np.zeros(len(texts), dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    k = SHINGLE_WORDS
    # Position-dependent mix of k consecutive word hashes (multiply-xor), at every position;
    # positions whose k-gram runs past the end of their story are dropped below.
    grams = words.copy()
    with np.errstate(over="ignore"):
        for j in range(1, k):
            shifted = np.zeros_like(words)
            shifted[: len(words) - j] = words[j:]
            grams = (grams * np.uint64(0x100000001B3)) ^ shifted
    story_of = np.repeat(np.arange(len(texts)), lengths)
    position = np.arange(len(words)) - starts[story_of]
    counts = np.maximum(lengths - k + 1, 1)
    short = lengths < k
    valid = position <= (lengths[story_of] - k)
    valid |= short[story_of] & (position == 0)
    hashes = grams[valid]
    if short.any():
        # A short story's one shingle mixes all of its words.
        firsts = np.flatnonzero(short)
        offsets_valid = np.zeros(len(texts), dtype=np.int64)
        np.cumsum(counts[:-1], out=offsets_valid[1:])
        with np.errstate(over="ignore"):
            for s in firsts.tolist():
                mixed = np.bitwise_xor.reduce(
                    words[starts[s]:starts[s] + lengths[s]] * np.uint64(0x9E3779B97F4A7C15))
                hashes[offsets_valid[s]] = mixed
    offsets = np.zeros(len(texts), dtype=np.int64)
    np.cumsum(counts[:-1], out=offsets[1:])
    return hashes, offsets


@lru_cache(maxsize=8)
def permutations(num_perm: int) -> tuple[np.ndarray, np.ndarray]:
    """The (a, b) of the `num_perm` hash functions (a odd), fixed by a seed."""
    rng = np.random.default_rng(_SEED)
    a = rng.integers(1, 2**63, size=num_perm, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    b = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64)
    return a, b


def signatures(texts: Sequence[str], num_perm: int = DEFAULT_NUM_PERM,
               cache: dict[str, int] | None = None) -> np.ndarray:
    """MinHash signatures, shape (len(texts), num_perm), uint32."""
    return minhash(*shingle_hashes(texts, cache), num_perm)


def minhash(hashes: np.ndarray, offsets: np.ndarray, num_perm: int = DEFAULT_NUM_PERM
            ) -> np.ndarray:
    """MinHash signatures of the stories whose shingle hashes are `hashes[offsets[k]:...]`
    (every story at least one shingle), shape (len(offsets), num_perm), uint32."""
    a, b = permutations(num_perm)
    out = np.empty((len(offsets), num_perm), dtype=np.uint32)
    if not len(offsets):
        return out
    mixed = np.empty_like(hashes)
    with np.errstate(over="ignore"):
        for i in range(num_perm):
            np.multiply(hashes, a[i], out=mixed)
            np.add(mixed, b[i], out=mixed)
            np.right_shift(mixed, np.uint64(32), out=mixed)
            out[:, i] = np.minimum.reduceat(mixed, offsets)
    return out


def _lsh_errors(threshold: float, bands: int, rows: int, steps: int = 200
                ) -> tuple[float, float]:
    """(false positive, false negative) probability mass of a banding around `threshold`:
    the integral of P(candidate | s) below it and of 1 - P(candidate | s) above it."""
    below, above = np.linspace(0.0, threshold, steps + 1), np.linspace(threshold, 1.0, steps + 1)
    fp = np.trapezoid(1 - (1 - below ** rows) ** bands, below)
    fn = np.trapezoid((1 - above ** rows) ** bands, above)
    return float(fp), float(fn)


#: Weight of a needless candidate against a missed pair when choosing bands: candidates are
#: verified exactly, so a false positive costs a little time and a false negative a miss.
FALSE_POSITIVE_WEIGHT = 0.05


@lru_cache(maxsize=32)
def lsh_bands(threshold: float, num_perm: int,
              false_positive_weight: float = FALSE_POSITIVE_WEIGHT) -> tuple[int, int]:
    """(bands, rows) minimising the weighted false positive + false negative probability mass
    around `threshold` (with 128 permutations at 0.8: 16 bands of 8 rows, which makes a
    candidate of a pair at Jaccard 0.8 with probability 0.95 and at 0.85 with 0.99)."""
    def cost(bands_rows: tuple[int, int]) -> float:
        fp, fn = _lsh_errors(threshold, *bands_rows)
        return false_positive_weight * fp + (1 - false_positive_weight) * fn

    return min(((b, r) for b in range(1, num_perm + 1) for r in range(1, num_perm // b + 1)),
               key=cost)


def band_keys(sigs: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """One 64-bit key per band of every signature, shape (len(sigs), bands): equal keys mean
    (up to a 2^-64 chance) an equal band. All LSH needs of a story, in `8 * bands` bytes."""
    keys = np.empty((sigs.shape[0], bands), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for band in range(bands):
            key = np.full(sigs.shape[0], np.uint64(band), dtype=np.uint64)
            for col in range(band * rows, (band + 1) * rows):
                key = (key * np.uint64(0x100000001B3)) ^ sigs[:, col].astype(np.uint64)
            keys[:, band] = key
    return keys


def candidate_pairs_from_keys(keys: np.ndarray) -> np.ndarray:
    """Pairs (i < j) whose band keys agree in at least one band, shape (P, 2), unique."""
    n = keys.shape[0]
    found: list[np.ndarray] = []
    for band in range(keys.shape[1]):
        key = keys[:, band]
        order = np.argsort(key, kind="stable")
        sorted_keys = key[order]
        starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
        del sorted_keys
        sizes = np.diff(np.r_[starts, n])
        twos = starts[sizes == 2]
        if len(twos):  # almost every bucket: one vectorised step
            first, second = order[twos], order[twos + 1]
            found.append(np.stack([np.minimum(first, second), np.maximum(first, second)],
                                  axis=1))
        for start, size in zip(starts[sizes > 2], sizes[sizes > 2], strict=True):
            members = np.sort(order[start:start + size])
            if size <= MAX_BUCKET_PAIRS:
                i, j = np.triu_indices(size, k=1)
                found.append(np.stack([members[i], members[j]], axis=1))
            else:
                found.append(np.stack([np.full(size - 1, members[0]), members[1:]], axis=1))
    if not found:
        return np.zeros((0, 2), dtype=np.int64)
    # One uint64 per pair (i in the high half) sorts in (i, j) order and dedups cheaply.
    codes = np.unique(np.concatenate([(f[:, 0].astype(np.uint64) << np.uint64(32))
                                      | f[:, 1].astype(np.uint64) for f in found]))
    return np.stack([(codes >> np.uint64(32)).astype(np.int64),
                     (codes & np.uint64(0xFFFFFFFF)).astype(np.int64)], axis=1)


#: Candidates whose MinHash estimate of Jaccard similarity is below the threshold by more
#: than this are dropped before the exact check (about 3 standard errors of the estimate
#: with 128 permutations at 0.8: a pair at the threshold is kept with probability > 0.998).
PREFILTER_MARGIN = 0.1
#: Bits of each MinHash value kept per story for that estimate (b-bit MinHash).
ESTIMATE_BITS = 8
#: Candidate pairs estimated at a time.
ESTIMATE_CHUNK = 200_000


def estimated_similarity(low_bits: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Jaccard similarity of each pair estimated from the low `ESTIMATE_BITS` bits of their
    MinHash values (b-bit MinHash: two values agree by chance 1 time in 2^b, corrected)."""
    chance = 1.0 / 2**ESTIMATE_BITS
    out = np.empty(len(pairs))
    for start in range(0, len(pairs), ESTIMATE_CHUNK):
        part = pairs[start:start + ESTIMATE_CHUNK]
        agree = (low_bits[part[:, 0]] == low_bits[part[:, 1]]).mean(axis=1)
        out[start:start + len(part)] = (agree - chance) / (1.0 - chance)
    return out


def candidate_pairs(sigs: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """Pairs (i < j) that agree on at least one whole band, shape (P, 2), unique."""
    return candidate_pairs_from_keys(band_keys(sigs, bands, rows))


def _shingle_sets(texts: Sequence[str], cache: dict[str, int]) -> list[np.ndarray]:
    """Each text's distinct 64-bit shingle hashes, sorted."""
    hashes, offsets = shingle_hashes(texts, cache)
    ends = np.r_[offsets[1:], len(hashes)]
    return [np.unique(hashes[start:end]) for start, end in zip(offsets, ends, strict=True)]


def _jaccard(sets: dict[int, np.ndarray], pairs: np.ndarray) -> np.ndarray:
    out = np.empty(len(pairs))
    for k, (i, j) in enumerate(pairs.tolist()):
        a, b = sets[i], sets[j]
        shared = len(np.intersect1d(a, b, assume_unique=True))
        out[k] = shared / (len(a) + len(b) - shared)
    return out


def exact_similarity(texts: Sequence[str], pairs: np.ndarray,
                     cache: dict[str, int] | None = None) -> np.ndarray:
    """Jaccard similarity of each pair's shingle sets (64-bit shingle hashes), computed for
    the stories that occur in a pair only."""
    if not len(pairs):
        return np.zeros(0)
    involved = np.unique(pairs).tolist()
    found = _shingle_sets([texts[i] for i in involved], {} if cache is None else cache)
    return _jaccard(dict(zip(involved, found, strict=True)), pairs)


def _components(nodes: np.ndarray, pairs: np.ndarray) -> dict[int, int]:
    """Connected-component label (the smallest index in it) of every node of `pairs`."""
    parent = {int(node): int(node) for node in nodes.tolist()}

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, j in pairs.tolist():
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
    return {node: find(node) for node in parent}


#: Characters of each cluster member's text kept for previews.
SNIPPET_CHARS = 120


@dataclass
class NearDuplicates:
    """The result over one set of stories (indices refer to the input order)."""

    stories: int
    threshold: float
    num_perm: int
    bands: int
    rows: int
    #: Near-duplicate pairs (i < j) and their exact Jaccard similarity.
    pairs: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))
    similarity: np.ndarray = field(default_factory=lambda: np.zeros(0))
    #: Cluster label (its first member's index) of every story in a cluster of two or more.
    clusters: dict[int, list[int]] = field(default_factory=dict)
    candidates: int = 0
    #: Candidates left for the exact check after the MinHash estimate's pre-filter.
    prefiltered: int = 0
    #: MinHash signatures of the stories in a candidate pair (by input index): the rest are
    #: not kept, so memory grows by `8 * bands` bytes per story, not `4 * num_perm`.
    member_signatures: dict[int, np.ndarray] = field(default_factory=dict)
    #: The first `SNIPPET_CHARS` characters of every story in a candidate pair.
    snippets: dict[int, str] = field(default_factory=dict)

    def similarity_to_first(self) -> dict[int, float]:
        """Estimated similarity of every cluster member to its cluster's first member."""
        sigs = self.member_signatures
        return {index: float((sigs[index] == sigs[first]).mean())
                for first, members in self.clusters.items() for index in members}

    @property
    def extra_members(self) -> list[int]:
        """Indices of every cluster member but the first (what deduplication drops)."""
        return sorted(i for members in self.clusters.values() for i in members[1:])

    @property
    def rate(self) -> float:
        """Share of stories that are an extra member of a cluster."""
        return len(self.extra_members) / self.stories if self.stories else 0.0


def _blocks(batches: Iterable[Sequence[str] | pa.Array]) -> Iterator[list[str]]:
    """The texts of `batches` regrouped into lists of at most `BLOCK_STORIES`."""
    block: list[str] = []
    for batch in batches:
        texts = batch.to_pylist() if isinstance(batch, pa.Array | pa.ChunkedArray) else batch
        for text in texts:
            block.append(text)
            if len(block) == BLOCK_STORIES:
                yield block
                block = []
    if block:
        yield block


def find_near_duplicates_in_batches(
    batches: Callable[[], Iterable[Sequence[str] | pa.Array]],
    threshold: float = DEFAULT_THRESHOLD, num_perm: int = DEFAULT_NUM_PERM,
) -> NearDuplicates:
    """Clusters of near-duplicate stories in a corpus read twice, batch by batch.

    `batches()` must give the same texts in the same order each time it is called (lists of
    strings, or Arrow string arrays such as the story shards' batches). Pass 1 hashes each
    block of `BLOCK_STORIES` stories into MinHash signatures and keeps only their LSH band
    keys (`8 * bands` bytes a story: 128 with the default 16 bands, 256 MB for 2,000,000
    stories); candidate pairs come from sorting each band's keys. Pass 2 reads the texts
    again and keeps, for the stories in a candidate pair only (converting only those from
    Arrow), their shingle sets and a snippet; each candidate's exact Jaccard similarity is
    then checked against `threshold`, and the cluster members' signatures are made from their
    shingle sets. No text is held beyond one block.
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold {threshold}: must be in (0, 1]")
    bands, rows = lsh_bands(threshold, num_perm)
    cache: dict[str, int] = {}
    keys, low_bits = _first_pass(batches(), num_perm, bands, rows, cache)
    stories = keys.shape[0]
    candidates = candidate_pairs_from_keys(keys)
    del keys
    result = NearDuplicates(stories, threshold, num_perm, bands, rows,
                            candidates=len(candidates))
    if len(candidates):
        # Stories that share a band by chance (common sentences of template stories) make
        # candidates that grow with the square of the corpus; the estimate drops them so the
        # exact check stays proportional to the likely pairs.
        estimate = estimated_similarity(low_bits, candidates)
        candidates = candidates[estimate >= threshold - PREFILTER_MARGIN]
    del low_bits
    result.prefiltered = len(candidates)
    if not len(candidates):
        return result
    sets, snippets = _second_pass(batches(), np.unique(candidates), stories, cache)
    similarity = _jaccard(sets, candidates)
    keep = similarity >= threshold
    result.pairs, result.similarity = candidates[keep], similarity[keep]
    labels = _components(np.unique(result.pairs), result.pairs) if len(result.pairs) else {}
    for index in sorted(labels):
        result.clusters.setdefault(labels[index], []).append(index)
    members = sorted(labels)
    if members:
        member_sets = [sets[i] for i in members]
        offsets = np.cumsum([0, *map(len, member_sets[:-1])])
        sigs = minhash(np.concatenate(member_sets), offsets, num_perm)
        result.member_signatures = dict(zip(members, sigs, strict=True))
    result.snippets = {i: snippets[i] for i in members}
    return result


def _first_pass(batches: Iterable[Sequence[str] | pa.Array], num_perm: int, bands: int,
                rows: int, cache: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """Every story's band keys (uint64, one column a band) and the low `ESTIMATE_BITS` bits of
    its MinHash values (uint8), block by block."""
    keys, low_bits = [], []
    for block in _blocks(batches):
        sigs = signatures(block, num_perm, _bounded(cache))
        keys.append(band_keys(sigs, bands, rows))
        low_bits.append((sigs & np.uint32(2**ESTIMATE_BITS - 1)).astype(np.uint8))
    if not keys:
        return np.zeros((0, bands), dtype=np.uint64), np.zeros((0, num_perm), dtype=np.uint8)
    return np.concatenate(keys), np.concatenate(low_bits)


def _second_pass(batches: Iterable[Sequence[str] | pa.Array], involved: np.ndarray,
                 stories: int, cache: dict[str, int]
                 ) -> tuple[dict[int, np.ndarray], dict[int, str]]:
    """Shingle sets and snippets of the stories at the (sorted) positions `involved`."""
    sets: dict[int, np.ndarray] = {}
    snippets: dict[int, str] = {}
    start = 0
    for batch in batches:
        end = start + len(batch)
        lo, hi = np.searchsorted(involved, [start, end])
        wanted = involved[lo:hi]
        if wanted.size:
            texts = _take(batch, wanted - start)
            for index, text, shingles in zip(wanted.tolist(), texts,
                                             _shingle_sets(texts, _bounded(cache)), strict=True):
                sets[index] = shingles
                snippets[index] = text[:SNIPPET_CHARS]
        start = end
    if start != stories:
        raise ValueError(f"the corpus changed while it was scanned: {stories} stories in the "
                         f"first pass, {start} in the second")
    return sets, snippets


def _take(batch: Sequence[str] | pa.Array, positions: np.ndarray) -> list[str]:
    """The texts at `positions` of a batch (an Arrow array is converted for those only)."""
    if isinstance(batch, pa.Array | pa.ChunkedArray):
        return batch.take(pa.array(positions)).to_pylist()
    return [batch[i] for i in positions.tolist()]


#: Distinct words whose hashes are cached; past it the cache starts over (bounds memory on
#: corpora with an open vocabulary).
MAX_CACHED_WORDS = 2_000_000


def _bounded(cache: dict[str, int]) -> dict[str, int]:
    if len(cache) > MAX_CACHED_WORDS:
        cache.clear()
    return cache


def find_near_duplicates(texts: Sequence[str], threshold: float = DEFAULT_THRESHOLD,
                         num_perm: int = DEFAULT_NUM_PERM) -> NearDuplicates:
    """Clusters of near-duplicate stories among `texts` (in memory): MinHash signatures, LSH
    candidate pairs, and each candidate's exact Jaccard similarity against `threshold`.
    See `find_near_duplicates_in_batches` for a corpus read from disk."""
    return find_near_duplicates_in_batches(lambda: [texts], threshold, num_perm)
