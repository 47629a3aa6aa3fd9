"""Story quality gates: each rejects its bad case and keeps good stories in every language."""

from __future__ import annotations

import json

import pytest

from tsr_assets.core.languages import get_language
from tsr_assets.stories.lexicon import lexicon_for
from tsr_assets.stories.parsing import StoryLimits, strip_markdown, validate_story
from tsr_assets.stories.quality_gates import gate_scores, repeated_share, sentences
from tsr_assets_tests.stories.natural_stories import NATURAL, gibberish

LANGUAGES = ["hindi", "marathi", "bengali"]


def _answer(story: str) -> str:
    return json.dumps({"story": story}, ensure_ascii=False)


@pytest.mark.parametrize("key", LANGUAGES)
def test_natural_stories_pass_every_gate(key: str) -> None:
    story, reason = validate_story(_answer(NATURAL[key]), get_language(key))
    assert reason is None and story == NATURAL[key]


@pytest.mark.parametrize("key", LANGUAGES)
def test_a_loop_of_sentences_is_repetitive(key: str) -> None:
    language = get_language(key)
    first, second = sentences(NATURAL[key], language)[:2]
    end = "." if key == "marathi" else "।"
    looping = " ".join([f"{first}{end} {second}{end}"] * 6)
    assert validate_story(_answer(looping), language) == (None, "repetitive")
    scores = gate_scores(looping, language, lexicon_for(key))
    assert scores.repeated_sentence_share == pytest.approx(10 / 12)
    # A looser threshold lets it through: the gate follows its setting.
    loose = StoryLimits(max_repeated_sentence_share=1.0, max_repeated_ngram_share=1.0)
    assert validate_story(_answer(looping), language, loose)[1] is None


@pytest.mark.parametrize("key", LANGUAGES)
def test_script_correct_gibberish_has_unknown_words(key: str) -> None:
    language = get_language(key)
    for seed in range(3):
        text = gibberish(key, seed)
        assert validate_story(_answer(text), language) == (None, "unknown_words"), text[:80]
        assert lexicon_for(key).known_share(text) < lexicon_for(key).default_min_share


def test_lexicons_say_where_they_come_from() -> None:
    assert lexicon_for("hindi").source.startswith("wordfreq small (26,653 words)")
    assert lexicon_for("bengali").source.startswith("wordfreq large (238,743 words)")
    marathi = lexicon_for("marathi")  # wordfreq has no Marathi list: packaged data only
    assert marathi.source.startswith("packaged data") and not marathi.has_reference_list
    assert marathi.default_min_share == 0.35 and lexicon_for("hindi").default_min_share == 0.8


def test_a_users_word_list_extends_the_lexicon(tmp_path) -> None:
    words = tmp_path / "words.txt"
    words.write_text("# my words\nझुमरीतलैया\n", encoding="utf-8")
    assert not lexicon_for("hindi").knows("झुमरीतलैया")
    assert lexicon_for("hindi", str(words)).knows("झुमरीतलैया")
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        lexicon_for("hindi", str(tmp_path / "nope.txt"))


def test_markdown_is_stripped_before_validation() -> None:
    language = get_language("hindi")
    paragraphs = NATURAL["hindi"].split("\n\n")
    markdown = "## सोनू\n\n" + "\n".join(f"{i}. {p}" for i, p in enumerate(paragraphs, 1))
    story, reason = validate_story(_answer(f"```\n{markdown}\n```"), language)
    assert reason is None
    assert "#" not in story and "1." not in story and "```" not in story
    assert story.splitlines()[0] == "सोनू"
    assert strip_markdown("- एक\n* दो\n**तीन**") == "एक\nदो\nतीन"


def test_a_story_may_not_start_with_a_combining_mark() -> None:
    language = get_language("hindi")
    assert validate_story(_answer("\u093e" + NATURAL["hindi"]), language) == \
        (None, "starts_with_mark")


def test_repeated_share() -> None:
    assert repeated_share([]) == 0.0 and repeated_share(["a"]) == 0.0
    assert repeated_share(["a", "b", "a", "a"]) == 0.5
