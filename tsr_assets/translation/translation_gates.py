"""Quality gates of a translated story, on top of the story gates (`stories/parsing.py`):

- `untranslated`: more than `max_latin_share` of the letters are Latin, i.e. English left in
  the output (checked before the script share, which would call it `wrong_script`);
- `length_ratio`: translated characters / source characters outside the target language's
  band (`Language.length_ratio_band`), a sign of a dropped or a runaway passage;
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

    def ratio_band(self, language: Language) -> tuple[float, float]:
        """The accepted translated/source character ratio for `language`."""
        return self.length_ratio or language.length_ratio_band


def latin_share(text: str) -> float:
    """Share of the letters in `text` that are Latin (0.0 for no letters)."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return 0.0
    return sum(1 for c in letters if c in LATIN_LETTERS) / len(letters)


def validate_translation(text: str, source: str, language: Language,
                         limits: TranslationLimits) -> tuple[str | None, str | None]:
    """(clean translation, None) when it passes every gate, else (None, reason).

    `text` is the plain translation (a seq2seq model's output); an LLM's JSON answer goes
    through `validate_translation_answer`.
    """
    if latin_share(text) > limits.max_latin_share:
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
