"""Evaluation openers, the automatic judge and the LLM judge's answer parser."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tsr_assets.core.languages import get_language
from tsr_assets.core.words import words
from tsr_assets.evaluation.automatic_judge import AUTOMATIC_METRICS, automatic_scores
from tsr_assets.evaluation.openers import OpenersError, load_openers
from tsr_assets.evaluation.rubric import (
    LLM_METRICS,
    ORIGINAL_STYLE_RUBRIC_FILE,
    JudgeAnswerError,
    RubricError,
    judge_prompt,
    load_rubric,
    parse_scores,
)


def test_packaged_openers_are_aligned_across_languages() -> None:
    counts = {lang: len(load_openers(get_language(lang))) for lang in
              ("hindi", "marathi", "bengali")}
    assert set(counts.values()) == {118}
    first = load_openers(get_language("marathi"))[0]
    assert first.prompt_id == "opener-000" and first.index == 0


def test_user_openers_file_replaces_the_packaged_one(tmp_path: Path) -> None:
    path = tmp_path / "mine.txt"
    path.write_text("\ufeff# my openers\nएक दिन राजा ने सोचा।\r\n\n  चिड़िया उड़ गई।  \n",
                    encoding="utf-8")
    openers = load_openers(get_language("hindi"), path)
    assert [o.text for o in openers] == ["एक दिन राजा ने सोचा।", "चिड़िया उड़ गई।"]
    path.write_text("एक दिन।\nOnce upon a time\n", encoding="utf-8")
    with pytest.raises(OpenersError, match=r"mine\.txt, line 2.*Devanagari"):
        load_openers(get_language("hindi"), path)
    with pytest.raises(OpenersError, match="does not exist"):
        load_openers(get_language("hindi"), tmp_path / "missing.txt")


def test_automatic_scores_by_hand() -> None:
    hindi = get_language("hindi")
    opener = "मीरा को बगीचे में एक नक्शा मिला।"
    continuation = " मीरा ने नक्शा खोला और खोला और खोला और खोला।"
    scores = automatic_scores(opener, continuation, ended_at_eos=False, language=hindi)
    assert set(scores) == set(AUTOMATIC_METRICS)
    # Content words (2+ base letters) of the opener: मीरा, बगीचे, एक, नक्शा, मिला (not को,
    # में: one letter plus vowel signs); the continuation reuses मीरा and नक्शा.
    assert scores["continuity"] == pytest.approx(2 / 5)
    assert scores["completeness"] == 1.0  # ends with the danda
    assert scores["script_purity"] == 1.0
    cont = words(continuation)
    assert cont == ["मीरा", "ने", "नक्शा", "खोला", "और", "खोला", "और", "खोला", "और", "खोला"]
    bigrams = list(zip(cont, cont[1:], strict=False))
    assert scores["distinct_2"] == pytest.approx(len(set(bigrams)) / len(bigrams))
    # Trigrams: 8, of which "खोला और खोला" and "और खोला और" repeat (3 repeats in all).
    assert scores["repetition_rate"] == pytest.approx(3 / 8)
    assert scores["length_words"] == 10
    cut = automatic_scores(opener, " मीरा ने Hello", ended_at_eos=False, language=hindi)
    assert cut["completeness"] == 0.0 and cut["script_purity"] < 1.0
    assert automatic_scores(opener, " मीरा", ended_at_eos=True, language=hindi)[
        "completeness"] == 1.0
    assert automatic_scores(opener, "", ended_at_eos=False, language=hindi)["length_words"] == 0


@pytest.mark.parametrize("raw", [
    '{"context_awareness": 7, "completeness": 6, "grammar": 8, "fluency": 7, '
    '"creativity": 5, "overall": 7}',
    'Here you go:\n```json\n{"Context Awareness": "7", "completeness": 6.0, "grammar": " 8 ", '
    '"fluency": 7, "creativity": 5, "overall": 7}\n```',
])
def test_good_answers_parse(raw: str) -> None:
    scores = parse_scores(raw)
    assert list(scores) == list(LLM_METRICS) and scores["grammar"] == 8.0


@pytest.mark.parametrize(("raw", "reason"), [
    ("I think it is a nice story.", "no_json"),
    ('{"context_awareness": 7, "grammar": 8}', "missing_keys"),
    ('{"context_awareness": 11, "completeness": 6, "grammar": 8, "fluency": 7, '
     '"creativity": 5, "overall": 7}', "out_of_range"),
    ('{"context_awareness": 0, "completeness": 6, "grammar": 8, "fluency": 7, '
     '"creativity": 5, "overall": 7}', "out_of_range"),
    ('{"context_awareness": "seven", "completeness": 6, "grammar": 8, "fluency": 7, '
     '"creativity": 5, "overall": 7}', "not_numeric"),
    ('{"context_awareness": true, "completeness": 6, "grammar": 8, "fluency": 7, '
     '"creativity": 5, "overall": 7}', "not_numeric"),
])
def test_bad_answers_are_rejected_with_a_reason(raw: str, reason: str) -> None:
    with pytest.raises(JudgeAnswerError) as caught:
        parse_scores(raw)
    assert caught.value.reason == reason


def test_rubric_names_the_language_and_every_metric() -> None:
    prompt = judge_prompt("Marathi", "एक दिवस", "एक दिवस राजा आला.")
    assert "Marathi" in prompt and "एक दिवस राजा आला." in prompt
    assert all(metric in prompt for metric in LLM_METRICS)


def test_the_packaged_rubric_renders_as_str_format_did() -> None:
    from tsr_assets.evaluation.rubric import RUBRIC

    assert judge_prompt("Hindi", "एक दिन", "कहानी {x}") == RUBRIC.format(
        language="Hindi", opener="एक दिन", story="कहानी {x}")


def test_the_original_style_rubric_works_as_it_is() -> None:
    """Spaced keys, `{prompt}` for the opener and a JSON example as written."""
    raw = ORIGINAL_STYLE_RUBRIC_FILE.read_text(encoding="utf-8")
    assert '"context awareness":' in raw and "{prompt}" in raw and "{{" not in raw
    rubric = load_rubric(ORIGINAL_STYLE_RUBRIC_FILE)
    assert rubric.keys == LLM_METRICS and rubric.source == "file original_style_judge.txt"
    prompt = rubric.prompt("Bengali", "একদিন একটি পাখি", "একদিন একটি পাখি গান গাইল।")
    assert prompt.startswith("একদিন একটি পাখি গান গাইল।\n\nThe Bengali short story")
    assert 'its beginning, "একদিন একটি পাখি".' in prompt
    example = prompt[prompt.rindex("{"):]
    assert example == raw.strip()[raw.strip().rindex("{"):]
    assert [key.replace(" ", "_") for key in json.loads(example)] == list(LLM_METRICS)
    # The same keys given in the original's spelling are ours.
    assert load_rubric(ORIGINAL_STYLE_RUBRIC_FILE, ["context awareness", "Completeness",
                                                    "grammar", "fluency", "creativity",
                                                    "overall"]).keys == LLM_METRICS


@pytest.mark.parametrize("raw", [
    '{\n"context awareness": "8",\n"completeness": "7",\n"grammar": "9",\n"fluency": "8",\n'
    '"creativity": "6",\n"overall": "8"\n}',
    'Sure.\n```json\n{"Context-Awareness": 8, "COMPLETENESS": 7, "grammar": 9, "fluency": 8, '
    '"creativity": 6, "overall": "8"}\n```',
    '{"context_awareness": 8, "completeness": 7, "grammar": 9, "fluency": 8, "creativity": 6, '
    '"overall": 8}',
])
def test_a_judge_answer_in_either_spelling_parses_to_our_metric_names(raw: str) -> None:
    scores = load_rubric(ORIGINAL_STYLE_RUBRIC_FILE).parse(raw)
    assert scores == {"context_awareness": 8.0, "completeness": 7.0, "grammar": 9.0,
                      "fluency": 8.0, "creativity": 6.0, "overall": 8.0,
                      "mean_of_criteria": pytest.approx(7.6)}
    assert parse_scores(raw, ["context awareness", "overall"]) == {"context_awareness": 8.0,
                                                                   "overall": 8.0}


@pytest.mark.parametrize(("text", "message"), [
    ("Rate {story} for {colour}; begun as {prompt}.", "line 1: unknown placeholder {colour}"),
    ("Rate {story} for {colour}; begun as {prompt}.",
     "the placeholders are {story}, {opener}, {language} (also {prompt} for {opener})"),
    ('Rate the story begun as {prompt}.\n{\n"overall": "score"\n}', "placeholder {story} is "
     "missing"),
    ("Rate {story}.\n{\n\"overall\": 1", "line 2: '{' never closed"),
])
def test_rubric_file_mistakes_are_named(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "rubric.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RubricError) as err:
        load_rubric(path)
    assert str(path) in str(err.value) and message in str(err.value)


@pytest.mark.parametrize("language_key", ["hindi", "marathi", "bengali"])
def test_the_automatic_judge_separates_gibberish_from_text(language_key: str) -> None:
    """With a fluency reference of the training stories, shuffled-letter continuations score
    below real ones on both fluency metrics; the older metrics could not tell them apart."""
    import random

    import polars as pl

    from tsr_assets.evaluation.fluency import build_reference
    from tsr_assets.evaluation.judging import automatic_judgments
    from tsr_assets.stories.lexicon import lexicon_for
    from tsr_assets_tests.evaluation.test_fluency import offline_stories, shuffle_letters

    language = get_language(language_key)
    reference = build_reference(offline_stories(language_key, 200))
    openers = [o.text for o in load_openers(language)]
    rng = random.Random(0)
    rows = [{"prompt_id": f"opener-{i:03d}", "sample_index": kind, "opener": openers[i],
             "continuation": text, "ended_at_eos": True}
            for i in range(1, 40)
            for kind, text in ((0, openers[i - 1]), (1, shuffle_letters(openers[i - 1], rng)))]
    scores = automatic_judgments(pl.DataFrame(rows), language, reference,
                                 lexicon_for(language_key)).scores
    means = dict(scores.group_by("metric", "sample_index").agg(pl.col("value").mean())
                 .select(pl.concat_str("metric", "sample_index", separator="/"), "value")
                 .iter_rows())
    assert means["known_word_rate/0"] > means["known_word_rate/1"] + 0.3
    assert means["reference_bits_per_char/1"] > means["reference_bits_per_char/0"] + 1.5
    assert means["script_purity/1"] == pytest.approx(means["script_purity/0"])
