"""The translation gates: Latin residue, length ratio, and the story gates underneath."""

import json

from tsr_assets.core.languages import get_language
from tsr_assets.translation.translation_gates import (
    REJECT_LENGTH_RATIO,
    REJECT_UNTRANSLATED,
    TranslationLimits,
    latin_share,
    validate_translation,
    validate_translation_answer,
)
from tsr_assets_tests.chat_server import ENGLISH_BODY, HINDI_BODY

HINDI = get_language("hindi")
SOURCE = ENGLISH_BODY  # about as long as HINDI_BODY


def test_a_good_translation_passes_and_is_cleaned() -> None:
    story, reason = validate_translation("  " + HINDI_BODY + "  ", SOURCE, HINDI,
                                         TranslationLimits())
    assert reason is None and story == HINDI_BODY


def test_english_left_in_the_output_is_untranslated() -> None:
    mixed = HINDI_BODY + " She loved walking in the garden every morning."
    assert latin_share(mixed) > 0.02
    assert validate_translation(mixed, SOURCE, HINDI, TranslationLimits())[1] == \
        REJECT_UNTRANSLATED


def test_a_dropped_half_or_a_runaway_fails_the_length_ratio() -> None:
    assert validate_translation(HINDI_BODY, SOURCE * 3, HINDI,
                                TranslationLimits())[1] == REJECT_LENGTH_RATIO
    assert validate_translation(HINDI_BODY, SOURCE[:120], HINDI,
                                TranslationLimits())[1] == REJECT_LENGTH_RATIO
    assert validate_translation(HINDI_BODY, SOURCE[:120], HINDI,
                                TranslationLimits(length_ratio=(0.1, 10.0)))[1] is None


def test_llm_answers_are_parsed_as_json() -> None:
    answer = "Here you go:\n```json\n" + json.dumps({"story": HINDI_BODY}, ensure_ascii=False)
    assert validate_translation_answer(answer + "\n```", SOURCE, HINDI,
                                       TranslationLimits())[0] == HINDI_BODY
    assert validate_translation_answer("no json here", SOURCE, HINDI,
                                       TranslationLimits())[1] == "no_json"
