"""The language registry: everything the platform needs to know about a language.

Adding a language is one `register_language(Language(...))` call (or one entry in
`BUILTIN_LANGUAGES`) plus one data folder holding its wordlists, sentence banks and eval openers.
Nothing here imports Dagster, so notebooks can use it too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

PACKAGE_DATA_DIR = Path(__file__).resolve().parents[1] / "data"

# Characters that may sit inside words of any Indic script: zero-width (non-)joiners.
JOINERS = "\u200c\u200d"


@dataclass(frozen=True)
class Language:
    """One language the platform can build stories and models for.

    Attributes:
        key: partition key and folder name (lowercase ASCII letters, digits and `_`).
        display_name: English name used in prompts and reports ("Hindi").
        native_name: the language's name in its own script ("हिन्दी").
        script: name of the writing system, used in prompt wording ("Devanagari").
        script_ranges: inclusive Unicode code point ranges of the script's letters and signs.
        sentence_terminators: characters that end a sentence in this language.
        digits: the script's own ten digits, zero first.
        extra_chars: non-ASCII characters that are not in `script_ranges` yet belong to the
            language's text (for example the Devanagari danda that Bengali uses).
        iso_code: ISO 639-1 code ("hi"), used to find a word list for the lexicon.
        translation_code: the FLORES-200 code translation models use ("hin_Deva"); NLLB
            and IndicTrans2 take it as is, M2M100 takes `iso_code`. Empty: not a target.
        length_ratio_band: characters of a translation from English over characters of its
            source that count as plausible (outside: a dropped or runaway passage).
        data_dir: folder with the packaged data; default `tsr_assets/data/<key>`.
    """

    key: str
    display_name: str
    native_name: str
    script: str
    script_ranges: tuple[tuple[int, int], ...]
    sentence_terminators: tuple[str, ...]
    digits: str
    extra_chars: str = ""
    data_dir: Path | None = field(default=None)
    iso_code: str = ""
    translation_code: str = ""
    length_ratio_band: tuple[float, float] = (0.6, 1.8)

    def __post_init__(self) -> None:
        if not self.key or not all(c.isascii() and (c.isalnum() or c == "_") for c in self.key):
            raise ValueError(
                f"language key {self.key!r} must be ASCII letters, digits or '_' "
                "(it is used as a Dagster partition key and a folder name)"
            )
        if self.key != self.key.lower():
            raise ValueError(f"language key {self.key!r} must be lowercase")
        if len(self.digits) != 10:
            raise ValueError(f"language {self.key!r}: digits must hold exactly 10 characters")
        for lo, hi in self.script_ranges:
            if lo > hi:
                raise ValueError(f"language {self.key!r}: bad script range {lo:#x}-{hi:#x}")

    @property
    def package_data_dir(self) -> Path:
        """Folder holding this language's packaged data files."""
        return self.data_dir if self.data_dir is not None else PACKAGE_DATA_DIR / self.key

    @cached_property
    def script_chars(self) -> frozenset[str]:
        """Every character of the script's ranges, plus the zero-width joiners."""
        return frozenset(
            chr(cp) for lo, hi in self.script_ranges for cp in range(lo, hi + 1)
        ) | frozenset(JOINERS)

    @cached_property
    def text_chars(self) -> frozenset[str]:
        """Every character `is_text_char` accepts (built once; lookups are on hot paths)."""
        ascii_non_letters = (chr(cp) for cp in range(128) if not chr(cp).isalpha())
        return (
            self.script_chars
            | frozenset(self.extra_chars)
            | frozenset(self.digits)
            | frozenset("".join(self.sentence_terminators))
            | frozenset(ascii_non_letters)
            | frozenset(GENERAL_PUNCTUATION)
            | _UNICODE_SPACES
        )

    def in_script(self, char: str) -> bool:
        """True when `char` is a letter or sign of this language's own script."""
        return char in self.script_chars

    def is_text_char(self, char: str) -> bool:
        """True for characters that may appear in this language's cleaned story text.

        That is the script itself, its extra characters, its terminators and digits, ASCII
        digits, punctuation and whitespace. Latin letters and other scripts are not.
        """
        return char in self.text_chars


# Typographic punctuation common to all languages (curly quotes, dashes, ellipsis).
GENERAL_PUNCTUATION = "\u2018\u2019\u201c\u201d\u2013\u2014\u2026\u00a0"

_UNICODE_SPACES = frozenset(chr(cp) for cp in range(0x3001) if chr(cp).isspace())

DEVANAGARI = ((0x0900, 0x097F), (0xA8E0, 0xA8FF))
# Basic Latin letters and the Latin-1 letters (names such as "Zoë"), without × and ÷.
LATIN = ((0x0041, 0x005A), (0x0061, 0x007A), (0x00C0, 0x00D6), (0x00D8, 0x00F6), (0x00F8, 0x00FF))
BENGALI = ((0x0980, 0x09FF),)

BUILTIN_LANGUAGES: tuple[Language, ...] = (
    Language(
        key="hindi",
        display_name="Hindi",
        native_name="हिन्दी",
        script="Devanagari",
        script_ranges=DEVANAGARI,
        sentence_terminators=("।", "॥", "?", "!", "."),
        digits="०१२३४५६७८९",
        iso_code="hi",
        translation_code="hin_Deva",
    ),
    Language(
        key="marathi",
        display_name="Marathi",
        native_name="मराठी",
        script="Devanagari",
        script_ranges=DEVANAGARI,
        sentence_terminators=(".", "।", "?", "!"),
        digits="०१२३४५६७८९",
        iso_code="mr",
        translation_code="mar_Deva",
    ),
    Language(
        key="bengali",
        display_name="Bengali",
        native_name="বাংলা",
        script="Bengali",
        script_ranges=BENGALI,
        # Bengali writes the dari with the Devanagari danda code points.
        sentence_terminators=("।", "॥", "?", "!"),
        digits="০১২৩৪৫৬৭৮৯",
        extra_chars="।॥",
        iso_code="bn",
        translation_code="ben_Beng",
    ),
    # The baseline of the original TinyStories setting; a source, never a translation target.
    Language(
        key="english",
        display_name="English",
        native_name="English",
        script="Latin",
        script_ranges=LATIN,
        sentence_terminators=(".", "?", "!"),
        digits="0123456789",
        iso_code="en",
        translation_code="eng_Latn",
    ),
)

DEFAULT_LANGUAGE = "hindi"

_REGISTRY: dict[str, Language] = {lang.key: lang for lang in BUILTIN_LANGUAGES}


def register_language(language: Language, *, replace: bool = False) -> Language:
    """Add `language` to the registry; definitions built afterwards get its partition."""
    if language.key in _REGISTRY and not replace:
        raise ValueError(
            f"language {language.key!r} is already registered; pass replace=True to redefine it"
        )
    _REGISTRY[language.key] = language
    return language


def unregister_language(key: str) -> None:
    """Remove a language added with `register_language` (built-in ones stay)."""
    if key in {lang.key for lang in BUILTIN_LANGUAGES}:
        raise ValueError(f"{key!r} is a built-in language and cannot be removed")
    _REGISTRY.pop(key, None)


def get_language(key: str) -> Language:
    """Look a language up by key, with an error that lists the known keys."""
    try:
        return _REGISTRY[key]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise KeyError(
            f"unknown language {key!r}; registered languages: {known}. "
            "Add one with tsr_assets.core.languages.register_language(...)"
        ) from None


def language_keys() -> list[str]:
    """Keys of all registered languages, in registration order."""
    return list(_REGISTRY)


def all_languages() -> Iterable[Language]:
    """All registered languages, in registration order."""
    return list(_REGISTRY.values())
