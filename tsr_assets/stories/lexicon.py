"""The reference lexicon of a language: which words count as words of it.

Built from `wordfreq`'s word list where it has one for the language (Hindi: its "small" list,
26,653 words; Bengali and English: "large", 238,743 and 321,180), plus every word of the
packaged data (word lists, sentence banks, names, evaluation openers), plus an optional word
list of your own (one word per line). A word also counts as known when a known word of at
least `min_stem` characters starts it, so inflected and suffixed forms (Marathi and Bengali
attach case endings) of known stems are not counted as unknown.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from tsr_assets.core.languages import Language, get_language
from tsr_assets.core.words import words

#: Known-word stems shorter than this do not make a longer word known.
MIN_STEM = 4
#: Default least share of known words in a story: with a wordfreq list (natural Hindi and
#: Bengali text scored 0.96-0.99, syllable-shuffled gibberish at most 0.67), and with the
#: packaged data only (natural Marathi text not in it scored 0.58, gibberish at most 0.16).
MIN_KNOWN_SHARE_WITH_LIST = 0.8
MIN_KNOWN_SHARE_PACKAGED_ONLY = 0.35
_ALTERNATION = re.compile(r"\{m:([^{}|]*)\|f:([^{}|]*)\}")
_SLOT = re.compile(r"\{[^{}]*\}")


@lru_cache(maxsize=1 << 20)
def _normal(word: str) -> str:
    return unicodedata.normalize("NFC", word).casefold()


def text_words(text: str) -> list[str]:
    """Words of a text as the lexicon compares them (NFC, case-folded)."""
    return [_normal(w) for w in words(text)]


def packaged_words(folder: Path) -> set[str]:
    """Every word of a language's packaged data files (template slots left out)."""
    found: set[str] = set()
    for path in sorted(folder.glob("*.txt")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.lstrip().startswith("#"):
                continue
            line = _SLOT.sub(" ", _ALTERNATION.sub(r"\1 \2", line))
            found.update(text_words(line))
    return found


def wordfreq_words(code: str) -> tuple[set[str], str]:
    """wordfreq's list for an ISO 639-1 code (the largest it has), and its name; empty when
    wordfreq has none for exactly this language (it would otherwise fall back to a neighbour,
    e.g. Hindi for Marathi)."""
    import wordfreq

    available = wordfreq.available_languages("large")
    size = "large" if code in available else "small"
    if code not in wordfreq.available_languages(size):
        return set(), ""
    listed = {_normal(w) for w in wordfreq.iter_wordlist(code, size)}
    return listed, f"wordfreq {size} ({len(listed):,} words)"


@dataclass(frozen=True)
class Lexicon:
    """A set of known words and where they came from."""

    words: frozenset[str]
    source: str
    min_stem: int = MIN_STEM
    has_reference_list: bool = False

    @property
    def default_min_share(self) -> float:
        """The known-word share a story needs unless configured otherwise."""
        return (MIN_KNOWN_SHARE_WITH_LIST if self.has_reference_list
                else MIN_KNOWN_SHARE_PACKAGED_ONLY)

    def knows(self, word: str) -> bool:
        """True for a known word, or one that a known stem of `min_stem`+ characters starts."""
        if word in self.words:
            return True
        return any(word[:end] in self.words for end in range(len(word) - 1, self.min_stem - 1, -1))

    def known_share(self, text: str) -> float:
        """Share of the text's words that are known (1.0 for a text without words)."""
        return self.known_share_of_words(words(text))

    def known_share_of_words(self, cut: list[str]) -> float:
        """`known_share` of a text already cut into `core.words.words`."""
        found = [_normal(w) for w in cut]
        return sum(map(self.knows, found)) / len(found) if found else 1.0


@lru_cache(maxsize=32)
def lexicon_for(language_key: str, extra_words_file: str | None = None) -> Lexicon:
    """The lexicon of a registered language (built once per process)."""
    language: Language = get_language(language_key)
    known = packaged_words(language.package_data_dir)
    sources = [f"packaged data ({len(known):,} words)"]
    listed, name = wordfreq_words(language.iso_code) if language.iso_code else (set(), "")
    if listed:
        known |= listed
        sources.insert(0, name)
    if extra_words_file:
        path = Path(extra_words_file).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"lexicon word list {path} not found")
        extra = {w for line in path.read_text(encoding="utf-8").splitlines()
                 if not line.startswith("#") for w in text_words(line)}
        known |= extra
        sources.append(f"{path.name} ({len(extra):,} words)")
    return Lexicon(frozenset(known), " + ".join(sources), has_reference_list=bool(listed))
