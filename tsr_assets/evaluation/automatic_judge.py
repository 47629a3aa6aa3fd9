"""The automatic judge: offline metrics of a sampled story, computed from the text alone.

It is not an LLM and its numbers are not ratings on the 1-10 scale; everything that shows
them names the judge `automatic`. Definitions (words are whitespace-separated, with
punctuation stripped from their ends):

- continuity: share of the opener's content words that the continuation uses again (0-1).
  Without stopword lists, a content word is one with at least two base letters (vowel signs
  and other combining marks not counted), which drops most particles and postpositions
- completeness: 1 if the model ended the story itself (eos) or the text ends with one of the
  language's sentence terminators, else 0
- script_purity: share of the continuation's letters that are in the language's script (0-1)
- distinct_2: distinct word bigrams / all word bigrams of the continuation (0-1; 1 = no
  repeated pair)
- repetition_rate: share of word trigrams that already occurred earlier in the continuation
  (0-1; 0 = none repeated)
- length_words: words in the continuation
- known_word_rate, reference_bits_per_char (with a fluency reference of the training corpus,
  see `fluency.py`): share of the continuation's words known to the training corpus or the
  language lexicon, and its bits per character under a character 5-gram model of the
  training stories (lower = more like the language; shuffled letters score about twice real
  text)
"""

from __future__ import annotations

import unicodedata

from tsr_assets.core.languages import Language
from tsr_assets.core.words import words
from tsr_assets.evaluation.fluency import FluencyReference
from tsr_assets.stories.lexicon import Lexicon
from tsr_assets.stories.parsing import script_share

AUTOMATIC_METRICS = ("continuity", "completeness", "script_purity", "distinct_2",
                     "repetition_rate", "length_words")
#: Added when the judge has a fluency reference of the training corpus.
FLUENCY_METRICS = ("known_word_rate", "reference_bits_per_char")


def _base_letters(word: str) -> int:
    return sum(1 for c in word if unicodedata.category(c)[0] == "L")


def _ngrams(items: list[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(items[i:i + n]) for i in range(len(items) - n + 1)]


def automatic_scores(opener: str, continuation: str, ended_at_eos: bool,
                     language: Language, reference: FluencyReference | None = None,
                     lexicon: Lexicon | None = None) -> dict[str, float]:
    """The automatic metrics of one sample (see the module docstring); the fluency metrics
    too when a `reference` of the training corpus is given."""
    cont_words = words(continuation)
    content = {w for w in words(opener) if _base_letters(w) >= 2}
    used = set(cont_words)
    continuity = len(content & used) / len(content) if content else 0.0
    stripped = continuation.rstrip()
    ends_sentence = bool(stripped) and stripped.endswith(tuple(language.sentence_terminators))
    bigrams = _ngrams(cont_words, 2)
    trigrams = _ngrams(cont_words, 3)
    seen: set[tuple[str, ...]] = set()
    repeated = 0
    for gram in trigrams:
        repeated += gram in seen
        seen.add(gram)
    return {
        "continuity": continuity,
        "completeness": 1.0 if ended_at_eos or ends_sentence else 0.0,
        "script_purity": script_share(continuation, language),
        "distinct_2": len(set(bigrams)) / len(bigrams) if bigrams else 0.0,
        "repetition_rate": repeated / len(trigrams) if trigrams else 0.0,
        "length_words": float(len(cont_words)),
        **(reference.scores(continuation, lexicon) if reference is not None else {}),
    }
