"""Extracting, cleaning and validating stories from LLM answers."""

from __future__ import annotations

import json
import time
import unicodedata

import pytest

from tsr_assets.core.languages import BUILTIN_LANGUAGES, Language, get_language
from tsr_assets.stories.parsing import (
    MAX_INPUT_CHARS,
    REJECT_EMPTY,
    REJECT_NO_JSON,
    REJECT_TOO_LONG,
    REJECT_TOO_SHORT,
    REJECT_WRONG_SCRIPT,
    StoryLimits,
    clean_story,
    extract_story,
    script_share,
    snippet,
    validate_story,
)

HINDI = get_language("hindi")
MARATHI = get_language("marathi")
BENGALI = get_language("bengali")

ENGLISH_STORY = (
    "Once upon a time, a little girl named Meera found an old map hidden inside her "
    "grandfather's umbrella. She followed it across the village, past the pond and the big "
    "banyan tree, until she found a small wooden box full of colourful marbles. She shared "
    "them with all her friends, and they played together until the sun went down."
)


def _openers(language: Language, count: int = 5) -> list[str]:
    """The first `count` packaged evaluation openers of `language` (real sentences)."""
    text = (language.package_data_dir / "eval_openers.txt").read_text(encoding="utf-8")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    return lines[:count]


def _story(language: Language, count: int = 5) -> str:
    """A real multi-paragraph text in `language`, well over the default minimum length."""
    openers = _openers(language, count)
    return "\n\n".join(" ".join(openers[i : i + 2]) for i in range(0, len(openers), 2))


# ---------------------------------------------------------------------------------------------
# extract_story


def test_plain_json_with_escapes_decoded() -> None:
    story = 'राम ने कहा, "चलो!"\nऔर वह \\ चल पड़ा।'
    assert extract_story(json.dumps({"story": story})) == story  # ASCII escapes (\u0930 ...)
    assert extract_story(json.dumps({"story": story}, ensure_ascii=False)) == story


def test_code_fence() -> None:
    raw = '```json\n{\n  "story": "एक छोटी सी कहानी।\\n\\nदूसरा अनुच्छेद।"\n}\n```'
    assert extract_story(raw) == "एक छोटी सी कहानी।\n\nदूसरा अनुच्छेद।"


def test_text_around_json() -> None:
    raw = (
        'Sure! Here is your story:\n\n{"story": "मीरा को एक नक्शा मिला।"}\n\n'
        "I hope the children enjoy it. Let me know if you want changes {like this}."
    )
    assert extract_story(raw) == "मीरा को एक नक्शा मिला।"


def test_nested_object_and_other_fields() -> None:
    raw = '{"title": "नक्शा {पुराना}", "result": {"story": "मीरा को नक्शा मिला।", "n": 1}}'
    assert extract_story(raw) == "मीरा को नक्शा मिला।"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param('{"story": "मीरा घर गई।",}', "मीरा घर गई।", id="trailing-comma"),
        pytest.param("{'story': 'मीरा घर गई।'}", "मीरा घर गई।", id="single-quotes"),
        pytest.param("{'story': \"मीरा घर गई।\"}", "मीरा घर गई।", id="single-quoted-key"),
        pytest.param(
            '{"story": "पहली पंक्ति।\nदूसरी पंक्ति।"}', "पहली पंक्ति।\nदूसरी पंक्ति।", id="raw-newline"
        ),
        pytest.param(
            "{'story': 'पहली पंक्ति।\n\nदूसरी\\'s।',}", "पहली पंक्ति।\n\nदूसरी's।", id="single+newline"
        ),
        pytest.param('{"story": "मीरा घर गई।"', "मीरा घर गई।", id="missing-brace"),
        pytest.param('{"story": "मीरा घर गई।', "मीरा घर गई।", id="missing-quote-and-brace"),
        pytest.param('{"story": "मीरा घर गई।\n  ', "मीरा घर गई।", id="cut-off-with-space"),
        pytest.param('```json\n{"story": "मीरा घर गई।\n```', "मीरा घर गई।", id="cut-off-in-fence"),
        pytest.param(
            '```json\n{"story": "मीरा घर गई।"\n```', "मीरा घर गई।", id="brace-lost-in-fence"
        ),
        pytest.param('{\u201cstory\u201d: "मीरा घर गई।"}', "मीरा घर गई।", id="smart-quoted-key"),
        pytest.param(
            "{\u201cstory\u201d: \u201cमीरा ने कहा \u201cचलो\u201d और गई।\u201d}",
            "मीरा ने कहा \u201cचलो\u201d और गई।",
            id="smart-quotes-everywhere",
        ),
        pytest.param(
            '{"story": "मीरा ने कहा "चलो", फिर वह गई।"}',
            'मीरा ने कहा "चलो", फिर वह गई।',
            id="unescaped-inner-quotes",
        ),
        pytest.param(
            '{"story": "मीरा ने कहा "चलो" और गई।", "moral": "x"}',
            'मीरा ने कहा "चलो" और गई।',
            id="unescaped-quotes-then-key",
        ),
        pytest.param('{story: "मीरा घर गई।"}', "मीरा घर गई।", id="bare-key"),
        pytest.param('{"Story" : "मीरा घर गई।"}', "मीरा घर गई।", id="capitalized-key"),
        pytest.param('{"story": ["पहला।", "दूसरा।"]}', "पहला।\n\nदूसरा।", id="list-of-paragraphs"),
    ],
)
def test_broken_json_variants(raw: str, expected: str) -> None:
    assert extract_story(raw) == expected


def test_echoed_placeholder_is_skipped() -> None:
    raw = 'You asked for {"story": "<the whole story here>"}. Here it is:\n{"story": "मीरा घर गई।"}'
    assert extract_story(raw) == "मीरा घर गई।"


def test_empty_and_null_story_are_found_but_empty() -> None:
    assert extract_story('{"story": ""}') == ""
    assert extract_story('{"story": null}') == ""


def test_lone_surrogate_escape_becomes_replacement_character() -> None:
    story = extract_story('{"story": "मीरा \\ud800 \\ud83d\\ude00"}')
    assert story == "मीरा \ufffd \U0001f600"
    story.encode("utf-8")  # would raise on a lone surrogate


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "मीरा घर गई।",
        "I cannot write that story, sorry.",
        "Here is the story: मीरा घर गई।",
        '{"title": "मीरा", "text": "मीरा घर गई।"}',
        '{"backstory": "मीरा घर गई।"}',
        '{"story": 42}',
        '{"story": {"text": 42}}',
        "```json\n```",
    ],
)
def test_no_story_field_gives_none(raw: str) -> None:
    assert extract_story(raw) is None


PATHOLOGICAL = {
    "many-open-braces": "{" * 300_000,
    "many-brackets-then-key": "[" * 300_000 + '"story":',
    "many-keys": '"story":' * 50_000,
    "many-keys-with-values": '{"story": "' * 40_000,
    "many-inner-quotes": '{"story": "' + '"a' * 150_000,
    "many-backslashes": '{"story": "' + "\\" * 300_000,
    "whitespace-run": '{"story": "' + " " * 300_000 + "x",
    "comma-quote-runs": '{"story": "x' + '", ' * 100_000,
    "quote-space-runs": ('"' + " " * 50) * 8_000,
    "over-the-cap": '{"story": "' + "क" * (MAX_INPUT_CHARS * 2) + '"}',
}


@pytest.mark.parametrize("raw", PATHOLOGICAL.values(), ids=PATHOLOGICAL.keys())
def test_pathological_input_returns_quickly(raw: str) -> None:
    start = time.perf_counter()
    extract_story(raw)
    validate_story(raw, HINDI)
    # Catastrophic backtracking would take minutes; linear work takes well under a second.
    assert time.perf_counter() - start < 5.0


def test_input_beyond_the_cap_is_ignored() -> None:
    raw = '{"story": "' + "क" * (MAX_INPUT_CHARS * 2) + '"}'
    story = extract_story(raw)
    assert story is not None and len(story) < MAX_INPUT_CHARS


# ---------------------------------------------------------------------------------------------
# clean_story and script_share


@pytest.mark.parametrize("language", BUILTIN_LANGUAGES, ids=lambda lang: lang.key)
def test_cleaning_keeps_real_text_of_each_language(language: Language) -> None:
    story = _story(language)
    assert clean_story(story, language) == story


@pytest.mark.parametrize("language", [lang for lang in BUILTIN_LANGUAGES if lang.key != "english"],
                         ids=lambda lang: lang.key)
def test_cleaning_removes_latin_and_emoji(language: Language) -> None:
    first, second = _openers(language, 2)
    dirty = f"{first} (Meera) \U0001f600\U0001f468\u200d\U0001f469\ufe0f Hello!\n\n{second}"
    cleaned = clean_story(dirty, language)
    assert cleaned == f"{first} () !\n\n{second}"
    assert not any(c.isascii() and c.isalpha() for c in cleaned)
    assert "\u200d" not in cleaned


def test_english_cleaning_keeps_latin_and_drops_other_scripts() -> None:
    english = get_language("english")
    first, second = _openers(english, 2)
    dirty = f"{first} (मीरा) \U0001f600\U0001f468\u200d\U0001f469\ufe0f Hello!\n\n{second}"
    assert clean_story(dirty, english) == f"{first} () Hello!\n\n{second}"


def test_bengali_survives_but_not_as_hindi() -> None:
    story = _story(BENGALI)
    assert clean_story(story, BENGALI) == story
    assert "।" in clean_story(story, BENGALI)  # the danda Bengali borrows from Devanagari
    # For Hindi the Bengali letters are another script and go.
    assert not any(BENGALI.in_script(c) for c in clean_story(story, HINDI))


def test_whitespace_is_normalized_and_paragraphs_kept() -> None:
    raw = "  मीरा \t\t घर   गई।  \r\n\r\n\r\n\r\n  वह\u00a0खुश थी।\n\nसब  खुश थे। \n"
    assert clean_story(raw, HINDI) == "मीरा घर गई।\n\nवह खुश थी।\n\nसब खुश थे।"


def test_cleaning_normalizes_to_nfc_and_keeps_digits() -> None:
    decomposed = "\u09ac\u09c7\u09be\u09a8 ৩টি আর 2টি।"  # বোন with the vowel sign split
    cleaned = clean_story(decomposed, BENGALI)
    assert cleaned == unicodedata.normalize("NFC", decomposed)
    assert unicodedata.is_normalized("NFC", cleaned)


def test_joiner_inside_a_word_is_kept() -> None:
    word = "क्\u200dष"  # a half form written with a zero-width joiner
    assert clean_story(word, HINDI) == word


def test_script_share() -> None:
    hindi = _story(HINDI)
    assert script_share(hindi, HINDI) == 1.0
    assert script_share(hindi, MARATHI) == 1.0  # same script
    assert script_share(hindi, BENGALI) == 0.0
    assert script_share(ENGLISH_STORY, HINDI) == 0.0
    assert script_share("१२३ ... !", HINDI) == 0.0
    assert script_share("ab कख", HINDI) == pytest.approx(0.5)


# ---------------------------------------------------------------------------------------------
# validate_story and snippet


@pytest.mark.parametrize("language", BUILTIN_LANGUAGES, ids=lambda lang: lang.key)
def test_valid_story_is_accepted_and_cleaned(language: Language) -> None:
    story = _story(language)
    raw = "```json\n" + json.dumps({"story": story + " \U0001f600"}, ensure_ascii=False) + "\n```"
    assert validate_story(raw, language) == (story, None)


def test_a_few_latin_words_pass_and_are_removed() -> None:
    story = _story(HINDI)
    cleaned, reason = validate_story(json.dumps({"story": story + " (The End)"}), HINDI)
    assert reason is None
    assert cleaned == story + " ( )"


def test_english_story_for_hindi_is_wrong_script() -> None:
    raw = json.dumps({"story": ENGLISH_STORY})
    assert validate_story(raw, HINDI) == (None, REJECT_WRONG_SCRIPT)


def test_bengali_story_for_hindi_is_wrong_script() -> None:
    raw = json.dumps({"story": _story(BENGALI)}, ensure_ascii=False)
    assert validate_story(raw, HINDI) == (None, REJECT_WRONG_SCRIPT)
    assert validate_story(raw, BENGALI)[1] is None


def test_half_english_story_is_wrong_script() -> None:
    raw = json.dumps({"story": _story(HINDI, 2) + " " + ENGLISH_STORY})
    assert validate_story(raw, HINDI) == (None, REJECT_WRONG_SCRIPT)


def test_no_json_and_empty() -> None:
    assert validate_story("मीरा घर गई।", HINDI) == (None, REJECT_NO_JSON)
    assert validate_story('{"story": ""}', HINDI) == (None, REJECT_EMPTY)
    assert validate_story('{"story": "  \\n "}', HINDI) == (None, REJECT_EMPTY)
    assert validate_story('{"story": "१२३ ।।"}', HINDI) == (None, REJECT_EMPTY)


def test_too_short_and_too_long() -> None:
    short = _openers(HINDI, 1)[0]
    assert len(short) < StoryLimits().min_chars
    assert validate_story(json.dumps({"story": short}), HINDI) == (None, REJECT_TOO_SHORT)

    long = "\n\n".join([_story(HINDI)] * 40)
    assert len(long) > StoryLimits().max_chars
    assert validate_story(json.dumps({"story": long}), HINDI) == (None, REJECT_TOO_LONG)


def test_lengths_are_measured_after_cleaning() -> None:
    story = _story(HINDI)
    limits = StoryLimits(min_chars=len(story), max_chars=len(story))
    padded = story + " \U0001f600" * 50 + "   \n\n\n\n"
    assert validate_story(json.dumps({"story": padded}), HINDI, limits) == (story, None)
    assert validate_story(json.dumps({"story": story[:-1]}), HINDI, limits) == (
        None,
        REJECT_TOO_SHORT,
    )


def test_custom_script_share_limit() -> None:
    raw = json.dumps({"story": _story(HINDI) + " " + "English words " * 5})
    assert validate_story(raw, HINDI)[1] == REJECT_WRONG_SCRIPT
    assert validate_story(raw, HINDI, StoryLimits(min_script_share=0.5))[1] is None


def test_snippet() -> None:
    assert snippet("  a\n\nb\tc  ") == "a b c"
    long = "कहानी " * 100
    cut = snippet(long, limit=50)
    assert len(cut) == 50 and cut.endswith("…") and "\n" not in cut
    assert snippet("x" * 300) == "x" * 300
    assert snippet("x" * 301) == "x" * 299 + "…"
    with pytest.raises(ValueError):
        snippet("x", limit=0)
