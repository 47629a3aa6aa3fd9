"""An offline fluency score for sampled stories, measured against the training corpus.

Both measures are computed from the text alone, without a GPU or a network, and are meant to
separate real text in the language from gibberish (shuffled letters, random syllables); they
say nothing about plot or grammar beyond the word and character level.

- known_word_rate: share of the text's words that are known (0-1; 0.0 for a text without
  words). Words are whitespace-separated, with punctuation and symbols stripped from their
  ends, NFC-normalized and case-folded (`tsr_assets.stories.lexicon.text_words`). A word is
  known when it occurs in the reference vocabulary (every word of the training corpus,
  normalized the same way) or, when a `Lexicon` is given, when the lexicon knows it (its
  word list, or a known stem of `min_stem`+ characters starting the word). Repeated words
  count every time they occur.
- reference_bits_per_char: the cross-entropy of the text under a character n-gram language
  model (order n = 5 by default) fit on the training corpus, in bits per character (lower =
  more like the corpus; real text of the language sits well below shuffled letters). The
  text is NFC-normalized and padded with n-1 begin markers before and one end marker after;
  the score is the mean of -log2 p(c | the n-1 characters before c) over every character c
  of the text **and the end marker** (so `len(text) + 1` predictions; an empty text scores
  the end marker alone).

The character model is interpolated Witten-Bell: with k the n-gram order, h the k-1
characters of context, C(h c) the count of the k-gram, C(h) = sum over c of C(h c) and
T(h) the number of distinct characters seen after h,

    P_k(c | h) = (C(h c) + T(h) * P_{k-1}(c | h')) / (C(h) + T(h))

where h' is h without its first character, and P_k = P_{k-1} for a context h never seen at
order k, down to
P_0(c) = 1 / (|A| + 1): uniform over the alphabet A of characters seen in training (the end
marker included) plus one slot for all unknown characters. No probability is ever 0, and
for every context the probabilities of A plus the unknown slot sum to 1 (an unknown
character gets the unknown slot's probability).

Size: k-grams of the highest order seen fewer than `min_top_count` times (default 2:
singletons) are dropped after the lower orders are counted, which keeps the lower orders
exact and makes the stored model about a third smaller (2 M characters of Hindi-like text:
3.8 MB of JSON instead of 5.8 MB); a dropped n-gram backs off to order n-1. The model in
memory is the pruned one, so a saved and loaded model scores exactly like the fitted one.
"""

from __future__ import annotations

import json
import math
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tsr_assets.core.atomic_files import write_json_atomic
from tsr_assets.stories.lexicon import Lexicon, text_words

#: Marker padded before a text (never predicted) and after it (predicted like a character).
BEGIN = "\x02"
END = "\x03"
DEFAULT_ORDER = 5
#: Highest-order n-grams seen fewer times than this are dropped (see the module docstring).
DEFAULT_MIN_TOP_COUNT = 2
MODEL_FORMAT = "tsr-char-ngram-witten-bell/1"
REFERENCE_FORMAT = "tsr-fluency-reference/1"
#: Texts are counted in chunks of about this many characters (bounds memory for generators).
_CHUNK_CHARS = 1_000_000


def normalize_text(text: str) -> str:
    """A text as the character model sees it: NFC, with the begin and end markers removed."""
    text = unicodedata.normalize("NFC", text)
    if BEGIN in text or END in text:
        text = text.replace(BEGIN, "").replace(END, "")
    return text


class CharNgramModel:
    """A character n-gram language model with interpolated Witten-Bell smoothing.

    `counts[k - 1]` maps each k-gram (a string of k characters, the last one predicted) to
    how often it was seen, for k = 1..order. Fit it with `fit` (or `fit_char_model`).
    """

    def __init__(self, order: int, counts: Sequence[Mapping[str, int]],
                 min_top_count: int = 1) -> None:
        if order < 1:
            raise ValueError(f"the order must be at least 1, not {order}")
        if len(counts) != order:
            raise ValueError(f"an order-{order} model needs {order} count tables, "
                             f"not {len(counts)}")
        self.order = order
        self.min_top_count = min_top_count
        self.counts: list[dict[str, int]] = [dict(table) for table in counts]
        self._totals: list[dict[str, int]] = []
        self._types: list[dict[str, int]] = []
        for table in self.counts:
            totals: dict[str, int] = {}
            for gram, count in table.items():
                context = gram[:-1]
                totals[context] = totals.get(context, 0) + count
            self._totals.append(totals)
            self._types.append(Counter(gram[:-1] for gram in table))
        self.alphabet: frozenset[str] = frozenset(self.counts[0])
        self._base = 1.0 / (len(self.alphabet) + 1)

    @classmethod
    def fit(cls, texts: Iterable[str], order: int = DEFAULT_ORDER,
            min_top_count: int = DEFAULT_MIN_TOP_COUNT) -> CharNgramModel:
        """Fit a model on `texts` (any iterable, consumed once).

        Args:
            order: the n-gram order (the context is `order - 1` characters).
            min_top_count: drop highest-order n-grams seen fewer times than this (1 keeps all;
                ignored for order 1).

        Raises:
            ValueError: for no texts or an order below 1.
        """
        if order < 1:
            raise ValueError(f"the order must be at least 1, not {order}")
        pad = BEGIN * (order - 1)
        top: Counter[str] = Counter()
        chunk: list[str] = []
        chunk_chars = 0
        seen = 0

        def flush() -> None:
            # Every text starts with order-1 begin markers, so an n-gram that crosses from
            # one text into the next ends in a begin marker and is removed below.
            joined = "".join(chunk)
            top.update(joined[i:i + order] for i in range(len(joined) - order + 1))
            chunk.clear()

        for text in texts:
            padded = pad + normalize_text(text) + END
            chunk.append(padded)
            chunk_chars += len(padded)
            seen += 1
            if chunk_chars >= _CHUNK_CHARS:
                flush()
                chunk_chars = 0
        if not seen:
            raise ValueError("cannot fit a character model on no texts")
        flush()
        for gram in [g for g in top if g[-1] == BEGIN]:
            del top[gram]
        # Every k-gram occurrence is the suffix of exactly one top-order occurrence (the
        # padding guarantees order-1 characters before each predicted one).
        tables: list[dict[str, int]] = [dict(top)]
        for _ in range(order - 1):
            lower: dict[str, int] = {}
            for gram, count in tables[-1].items():
                suffix = gram[1:]
                lower[suffix] = lower.get(suffix, 0) + count
            tables.append(lower)
        tables.reverse()
        if order > 1 and min_top_count > 1:
            tables[-1] = {g: c for g, c in tables[-1].items() if c >= min_top_count}
        return cls(order, tables, min_top_count=min_top_count)

    def prob(self, context: str, char: str) -> float:
        """P(char | context): `context` is the text before `char` (taken as given, not
        normalized; "" is the start of a text) and `char` one character or `END`. Any
        character outside the alphabet gets the unknown slot's probability."""
        if len(char) != 1 or char == BEGIN:
            raise ValueError(f"char must be one character other than the begin marker, "
                             f"not {char!r}")
        history = BEGIN * (self.order - 1) + context
        return self._prob(history[len(history) - self.order + 1:] + char)

    def _prob(self, gram: str) -> float:
        """P(last character | the ones before it), `gram` being `order` characters long."""
        p = self._base
        length = len(gram)
        for k in range(1, self.order + 1):
            start = length - k
            context = gram[start:-1]
            total = self._totals[k - 1].get(context)
            if total is None:
                break  # a longer context holds this one as a suffix: it is unseen too
            types = self._types[k - 1][context]
            p = (self.counts[k - 1].get(gram[start:], 0) + types * p) / (total + types)
        return p

    def bits(self, text: str) -> list[float]:
        """-log2 p of each character of the normalized text and then of the end marker."""
        n = self.order
        padded = BEGIN * (n - 1) + normalize_text(text) + END
        return [-math.log2(self._prob(padded[j - n + 1:j + 1])) for j in range(n - 1, len(padded))]

    def bits_per_char(self, text: str) -> float:
        """Mean -log2 p per character of the NFC text, the end marker included (see the
        module docstring)."""
        found = self.bits(text)
        return sum(found) / len(found)

    def to_dict(self) -> dict[str, Any]:
        """A compact JSON-ready form: per order, the sorted k-grams concatenated into one
        string (each exactly k characters) and their counts as one space-separated string."""
        tables = []
        for table in self.counts:
            grams = sorted(table)
            tables.append({"grams": "".join(grams),
                           "counts": " ".join(str(table[g]) for g in grams)})
        return {"format": MODEL_FORMAT, "order": self.order, "begin": BEGIN, "end": END,
                "min_top_count": self.min_top_count, "tables": tables}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CharNgramModel:
        """The model `to_dict` wrote.

        Raises:
            ValueError: for another format or a malformed table.
        """
        if data.get("format") != MODEL_FORMAT:
            raise ValueError(f"not a {MODEL_FORMAT} model: format {data.get('format')!r}")
        if data.get("begin") != BEGIN or data.get("end") != END:
            raise ValueError("the model was saved with other begin/end markers")
        order = int(data["order"])
        counts = []
        for k, table in enumerate(data["tables"], start=1):
            text, numbers = table["grams"], table["counts"].split()
            if len(text) != k * len(numbers):
                raise ValueError(f"order-{k} table: {len(text)} characters of grams for "
                                 f"{len(numbers)} counts")
            counts.append({text[i * k:(i + 1) * k]: int(n) for i, n in enumerate(numbers)})
        return cls(order, counts, min_top_count=int(data.get("min_top_count", 1)))

    def __repr__(self) -> str:
        sizes = ", ".join(str(len(t)) for t in self.counts)
        return f"CharNgramModel(order={self.order}, alphabet={len(self.alphabet)}, grams=[{sizes}])"


def fit_char_model(texts: Iterable[str], order: int = DEFAULT_ORDER,
                   min_top_count: int = DEFAULT_MIN_TOP_COUNT) -> CharNgramModel:
    """Fit a `CharNgramModel` on `texts` (same as `CharNgramModel.fit`)."""
    return CharNgramModel.fit(texts, order=order, min_top_count=min_top_count)


def known_word_rate(text: str, vocabulary: set[str] | frozenset[str],
                    lexicon: Lexicon | None = None) -> float:
    """Share of the text's words in `vocabulary` (normalized like `text_words`) or known to
    `lexicon`; 0.0 for a text without words."""
    found = text_words(text)
    if not found:
        return 0.0
    known = sum(1 for w in found if w in vocabulary or (lexicon is not None and lexicon.knows(w)))
    return known / len(found)


@dataclass(frozen=True)
class FluencyReference:
    """What fluency is measured against: the training corpus's words and character model."""

    vocabulary: frozenset[str]
    char_model: CharNgramModel
    stories: int
    chars: int

    def scores(self, text: str, lexicon: Lexicon | None = None) -> dict[str, float]:
        """Both measures of the module docstring for one text."""
        return {"known_word_rate": known_word_rate(text, self.vocabulary, lexicon),
                "reference_bits_per_char": self.char_model.bits_per_char(text)}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the vocabulary sorted and space-joined: words hold no spaces)."""
        return {"format": REFERENCE_FORMAT, "stories": self.stories, "chars": self.chars,
                "vocabulary": " ".join(sorted(self.vocabulary)),
                "char_model": self.char_model.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FluencyReference:
        """The reference `to_dict` wrote (ValueError for another format)."""
        if data.get("format") != REFERENCE_FORMAT:
            raise ValueError(f"not a {REFERENCE_FORMAT} file: format {data.get('format')!r}")
        return cls(vocabulary=frozenset(data["vocabulary"].split()),
                   char_model=CharNgramModel.from_dict(data["char_model"]),
                   stories=int(data["stories"]), chars=int(data["chars"]))

    def save(self, path: str | Path) -> Path:
        """Write the reference as JSON atomically; returns the path."""
        return write_json_atomic(path, self.to_dict())


def load_reference(path: str | Path) -> FluencyReference:
    """Read a reference `FluencyReference.save` wrote."""
    return FluencyReference.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def build_reference(texts: Iterable[str], order: int = DEFAULT_ORDER,
                    min_top_count: int = DEFAULT_MIN_TOP_COUNT) -> FluencyReference:
    """The reference of a training corpus, in one pass over `texts` (a generator is fine)."""
    tokens: set[str] = set()
    tally = {"stories": 0, "chars": 0}

    def observed() -> Iterator[str]:
        for text in texts:
            text = normalize_text(text)
            tokens.update(text.split())
            tally["stories"] += 1
            tally["chars"] += len(text)
            yield text

    model = CharNgramModel.fit(observed(), order=order, min_top_count=min_top_count)
    # `text_words` works token by token, so normalizing each distinct whitespace token once
    # gives the same words as normalizing every text (and is several times faster).
    vocabulary = frozenset(w for token in tokens for w in text_words(token))
    return FluencyReference(vocabulary, model, tally["stories"], tally["chars"])
