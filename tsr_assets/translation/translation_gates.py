"""Quality gates of a translated story, on top of the story gates (`stories/parsing.py`):

- `untranslated`: more than `max_latin_share` of the letters are in the source language's
  script (Latin for English), i.e. source text left in the output (checked before the script
  share, which would call it `wrong_script`); off when both languages share a script;
- `length_ratio`: translated characters / source characters outside the band for the pair
  (`ratio_band_for`: the target's band from English, divided by the source's), a sign of a
  dropped or a runaway passage;
- then everything `validate_story` checks: script share, length, repetition, known words.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from tsr_assets.core.languages import LATIN, Language
from tsr_assets.stories.parsing import REJECT_NO_JSON, StoryLimits, extract_story, validate_story

REJECT_UNTRANSLATED = "untranslated"
REJECT_LENGTH_RATIO = "length_ratio"
#: Letters and marks of the Latin script (English residue in a translation).
LATIN_LETTERS = frozenset(chr(cp) for lo, hi in LATIN for cp in range(lo, hi + 1))


@dataclass(frozen=True)
class TranslationLimits:
    """What a translation must satisfy: the story limits plus the translation gates.

    `length_ratio` None means the target language's own band.
    """

    story: StoryLimits = field(default_factory=StoryLimits)
    max_latin_share: float = 0.02
    length_ratio: tuple[float, float] | None = None
    #: Letters of the source's script that must not remain (empty: the gate is off).
    source_letters: frozenset[str] = LATIN_LETTERS

    def ratio_band(self, language: Language) -> tuple[float, float]:
        """The accepted translated/source character ratio for `language`."""
        return self.length_ratio or language.length_ratio_band


def ratio_band_for(target: Language, source: Language) -> tuple[float, float]:
    """Translated/source characters that count as plausible from `source` into `target`: the
    target's band from English over the source's typical ratio (the geometric middle of its
    band; English's own is 1)."""
    if source.key == "english":
        return target.length_ratio_band
    low, high = source.length_ratio_band
    middle = (low * high) ** 0.5
    return (target.length_ratio_band[0] / middle, target.length_ratio_band[1] / middle)


def residue_letters(target: Language, source: Language) -> frozenset[str]:
    """The source-script letters a translation into `target` must not keep (none when both
    write the same script, as Hindi and Marathi do)."""
    source_letters = LATIN_LETTERS if source.key == "english" else frozenset(
        c for c in source.script_chars if c.isalpha())
    return frozenset() if source_letters & target.script_chars else source_letters


def latin_share(text: str, letters: frozenset[str] = LATIN_LETTERS) -> float:
    """Share of the letters in `text` that are in `letters` (Latin by default; 0.0 for no
    letters)."""
    found = [c for c in text if c.isalpha()]
    if not found or not letters:
        return 0.0
    return sum(1 for c in found if c in letters) / len(found)


def validate_translation(text: str, source: str, language: Language,
                         limits: TranslationLimits) -> tuple[str | None, str | None]:
    """(clean translation, None) when it passes every gate, else (None, reason).

    `text` is the plain translation (a seq2seq model's output); an LLM's JSON answer goes
    through `validate_translation_answer`.
    """
    if latin_share(text, limits.source_letters) > limits.max_latin_share:
        return None, REJECT_UNTRANSLATED
    story, reason = validate_story(json.dumps({"story": text}, ensure_ascii=False), language,
                                   limits.story)
    if story is None:
        return None, reason
    low, high = limits.ratio_band(language)
    ratio = len(story) / max(1, len(" ".join(source.split())))
    if not low <= ratio <= high:
        return None, REJECT_LENGTH_RATIO
    return story, None


def validate_translation_answer(raw: str, source: str, language: Language,
                                limits: TranslationLimits) -> tuple[str | None, str | None]:
    """`validate_translation` for an LLM's answer (`{"story": "..."}`, parsed tolerantly)."""
    text = extract_story(raw)
    if text is None:
        return None, REJECT_NO_JSON
    return validate_translation(text, source, language, limits)
