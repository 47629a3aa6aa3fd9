"""The packaged data files of every built-in language are complete and well-formed."""

from __future__ import annotations

import unicodedata

import pytest

from tsr_assets.core.languages import BUILTIN_LANGUAGES, PACKAGE_DATA_DIR, Language
from tsr_assets.prompts.wordlists import MIN_COUNTS, load_wordlists, wordlist_problems


def _lines(path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    return [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


@pytest.mark.parametrize("language", BUILTIN_LANGUAGES, ids=lambda lang: lang.key)
def test_wordlists_meet_the_minimums(language: Language) -> None:
    lists = load_wordlists(language.package_data_dir, language)
    assert wordlist_problems(lists.as_dict(), language) == []
    for name, minimum in MIN_COUNTS.items():
        assert lists.counts()[name] >= minimum, name
    assert lists.features_en == load_wordlists(
        BUILTIN_LANGUAGES[0].package_data_dir, BUILTIN_LANGUAGES[0]
    ).features_en


@pytest.mark.parametrize("language", BUILTIN_LANGUAGES, ids=lambda lang: lang.key)
def test_eval_openers_are_aligned_and_in_script(language: Language) -> None:
    english = _lines(PACKAGE_DATA_DIR / "english" / "eval_openers.txt")
    openers = _lines(language.package_data_dir / "eval_openers.txt")
    assert len(openers) == len(english) >= 100
    assert len(set(openers)) == len(openers)
    for line in openers:
        assert unicodedata.is_normalized("NFC", line)
        assert all(language.is_text_char(c) for c in line), line
        assert line.rstrip("\"'")[-1] in language.sentence_terminators, line
