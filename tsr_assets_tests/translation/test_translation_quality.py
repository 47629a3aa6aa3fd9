"""chrF++ on known strings, the gates of a translation between two Indian languages, and
sentence splitting of a source without capital letters."""

from __future__ import annotations

import pytest

from tsr_assets.core.languages import get_language
from tsr_assets.translation.sentence_split import split_sentences
from tsr_assets.translation.translation_gates import (
    LATIN_LETTERS,
    TranslationLimits,
    ratio_band_for,
    residue_letters,
)
from tsr_assets.translation.translation_quality import chrf_pp, score_translations

HINDI, BENGALI, MARATHI = (get_language(k) for k in ("hindi", "bengali", "marathi"))
ENGLISH = get_language("english")


def test_chrf_pp_on_known_strings() -> None:
    assert chrf_pp(["the cat sat on the mat"], ["the cat sat on the mat"]) == 100.0
    assert chrf_pp(["xyz"], ["abc"]) == 0.0
    close = chrf_pp(["the cat sat on a mat"], ["the cat sat on the mat"])
    far = chrf_pp(["a dog ran"], ["the cat sat on the mat"])
    assert 50 < close < 100 and far < close
    # Word bigrams count (chrF++, not chrF): the same characters in another word order score
    # lower than the right order.
    assert chrf_pp(["mat the on sat cat the"], ["the cat sat on the mat"]) < 100.0
    assert chrf_pp(["मीरा घर गई।"], ["मीरा घर गई।"]) == 100.0
    with pytest.raises(ValueError, match="2 translations for 1 references"):
        chrf_pp(["a", "b"], ["a"])


def test_gates_between_two_indian_languages() -> None:
    # Devanagari left in a Bengali translation of Hindi is source text left over.
    assert "क" in residue_letters(BENGALI, HINDI) and "a" not in residue_letters(BENGALI, HINDI)
    assert residue_letters(MARATHI, HINDI) == frozenset()  # one script: the gate is off
    assert residue_letters(HINDI, ENGLISH) == LATIN_LETTERS
    assert ratio_band_for(HINDI, ENGLISH) == HINDI.length_ratio_band
    low, high = ratio_band_for(BENGALI, HINDI)
    assert low < 1.0 < high
    hindi = "मीरा को अपने दादाजी के छाते के अंदर छिपा हुआ एक पुराना नक्शा मिला।"
    bengali = "মীরা তার দাদুর ছাতার ভেতরে লুকিয়ে রাখা একটা পুরোনো মানচিত্র খুঁজে পেল।"
    limits = TranslationLimits(length_ratio=(low, high),
                               source_letters=residue_letters(BENGALI, HINDI))
    report = score_translations([hindi, hindi, hindi], [bengali, hindi, None],
                                [bengali, bengali, bengali], BENGALI, limits)
    assert report.openers == 3 and report.translated == 2
    assert report.gate_pass_share == pytest.approx(1 / 3)
    assert report.rejections == {"untranslated": 1, "no_answer": 1}
    assert report.chrf_pp == pytest.approx(chrf_pp([bengali, hindi, ""], [bengali] * 3))


def test_sentences_of_a_source_without_capitals() -> None:
    text = "मीरा घर गई। उसने माँ को देखा! फिर दोनों हँसे? हाँ।"
    assert split_sentences(text, HINDI.sentence_terminators) == [
        "मीरा घर गई।", "उसने माँ को देखा!", "फिर दोनों हँसे?", "हाँ।"]
    assert split_sentences(text) == [text]  # English rules want a capital letter next
    assert split_sentences("Mr. Rao came. He sat.") == ["Mr. Rao came.", "He sat."]
