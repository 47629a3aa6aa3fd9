"""Judge probes: the broken versions of a story, and what a judge makes of them, against a
scripted LLM judge on 127.0.0.1 (it notices some probes and not others) and the automatic
judge."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from tsr_assets.core.languages import get_language
from tsr_assets.evaluation.calibration import interval_alpha
from tsr_assets.evaluation.fluency import build_reference
from tsr_assets.evaluation.judging import automatic_judgments, llm_judgments
from tsr_assets.evaluation.probes import (
    CUT_IN_HALF,
    RETEST,
    SHUFFLED,
    WORDS_REPLACED,
    choose_stories,
    cut_in_half,
    probe_statistics,
    probed_stories,
    replace_words,
    shuffle_sentences,
    split_sentences,
)
from tsr_assets.llm.request_runner import RunnerSettings
from tsr_assets.llm.sources import OpenAICompatibleSource
from tsr_assets.prompts.wordlists import load_wordlists
from tsr_assets.reports.judge_quality import flagged_lines, probes_section
from tsr_assets.stories.lexicon import lexicon_for
from tsr_assets.stories.offline_writer import load_sentence_banks, write_offline_story
from tsr_assets_tests.chat_server import Reply, running_chat_server

HINDI = get_language("hindi")
WORDS = load_wordlists(HINDI.package_data_dir, HINDI)
VOCABULARY = [*WORDS.nouns, *WORDS.verbs, *WORDS.adjectives]
STORIES = 40


def _stories(count: int = STORIES) -> pl.DataFrame:
    """Offline-writer stories as samples: the first sentence is the opener (a different one
    for every story, so a judge can tell them apart by it)."""
    banks = load_sentence_banks(HINDI.package_data_dir)
    rows, openers = [], set()
    for i in range(count * 10):
        if len(rows) == count:
            break
        text = write_offline_story(f"p{i}", WORDS.nouns[i % len(WORDS.nouns)],
                                   WORDS.verbs[i % len(WORDS.verbs)],
                                   WORDS.adjectives[i % len(WORDS.adjectives)], i % 3, banks,
                                   feature_count=len(WORDS.features))
        first = split_sentences(text, HINDI.sentence_terminators)[0]
        at = text.index(first) + len(first)
        if text[:at] in openers:
            continue
        openers.add(text[:at])
        rows.append({"prompt_id": f"opener-{i:03d}", "sample_index": 0, "opener": text[:at],
                     "continuation": text[at:], "story": text, "ended_at_eos": True})
    return pl.DataFrame(rows)


def test_the_broken_versions() -> None:
    text = " राम आया। सीता गई! मोहन हँसा। और फिर"
    sentences = split_sentences(text, HINDI.sentence_terminators)
    assert sentences == ["राम आया।", "सीता गई!", "मोहन हँसा।", "और फिर"]
    shuffled = shuffle_sentences(text, HINDI.sentence_terminators, random.Random(0))
    assert shuffled.startswith(" ") and shuffled != text
    assert sorted(split_sentences(shuffled, HINDI.sentence_terminators)) == sorted(sentences)
    assert shuffle_sentences(" एक ही वाक्य।", HINDI.sentence_terminators,
                             random.Random(0)) is None
    assert cut_in_half(text) == " राम आया। सीता गई!"  # 8 words: the first 4
    assert cut_in_half("अकेला") is None
    replaced = replace_words(" राम आया। सीता गई! मोहन हँसा। और फिर", ["घर", "पानी"],
                             random.Random(1))
    before, after = text.split(), replaced.split()
    changed = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
    assert len(changed) == 2  # one word in five of eight, rounded
    for i in changed:  # a word of the list, the punctuation after it kept
        assert after[i].rstrip("।!") in ("घर", "पानी") and after[i].rstrip("।!") != before[i]
        assert after[i][len(after[i].rstrip("।!")):] == before[i][len(before[i].rstrip("।!")):]


def test_probed_stories_are_seeded_and_keep_the_opener() -> None:
    stories = _stories(10)
    first = probed_stories(stories, HINDI.sentence_terminators, VOCABULARY, seed=3)
    assert first.equals(probed_stories(stories, HINDI.sentence_terminators, VOCABULARY,
                                       seed=3))
    assert not first.equals(probed_stories(stories, HINDI.sentence_terminators, VOCABULARY,
                                           seed=4))
    assert (first["story"] == first["opener"] + first["continuation"]).all()
    assert first.group_by("probe").len().sort("probe")["len"].to_list() == [10] * 5
    cut = first.filter(pl.col("probe") == CUT_IN_HALF)
    assert not cut["ended_at_eos"].any()
    assert choose_stories(stories, 4, seed=1).equals(choose_stories(stories.reverse(), 4, 1))
    assert choose_stories(stories, 4, seed=1).height == 4


def _story_of(prompt: str) -> tuple[str, str]:
    opener = re.search(r"Opening sentence:\n(.*?)\n\nStory", prompt, re.S).group(1)
    story = re.search(r"continuation\):\n(.*?)\n\nGive each quality", prompt, re.S).group(1)
    return opener, story


def _scripted_judge(stories: pl.DataFrame):
    """A judge that scores each story 4-9, sees a cut story (-3) and replaced words (-2),
    misses shuffled sentences, gives another score (+-1) when asked the same story again,
    and always says creativity 5."""
    originals = {r["opener"]: r["story"] for r in stories.iter_rows(named=True)}
    base = {opener: 4 + i % 6 for i, opener in enumerate(sorted(originals))}

    def policy(prompt: str, call: int) -> Reply:
        opener, story = _story_of(prompt)
        original, score = originals[opener], base[opener]
        if story == original:
            score += 0 if call == 1 else (1 if score % 2 else -1)
        elif original.startswith(story):
            score -= 3
        elif sorted(split_sentences(story, HINDI.sentence_terminators)) != sorted(
                split_sentences(original, HINDI.sentence_terminators)):
            score -= 2
        return Reply(json.dumps({"context_awareness": score, "completeness": score,
                                 "grammar": score, "fluency": score, "creativity": 5,
                                 "overall": score}))

    return policy, base


def _by(stats: pl.DataFrame, metric: str, probe: str) -> dict:
    return stats.filter((pl.col("metric") == metric) & (pl.col("probe") == probe)).row(
        0, named=True)


def test_a_scripted_llm_judge_is_flagged_for_what_it_misses(tmp_path: Path) -> None:
    stories = _stories()
    probed = probed_stories(stories, HINDI.sentence_terminators, VOCABULARY, seed=0)
    policy, base = _scripted_judge(stories)
    with running_chat_server(policy) as server:
        source = OpenAICompatibleSource(server.base_url, "probe-judge")
        judgments = llm_judgments(probed, HINDI, source, RunnerSettings(
            concurrency=1, backoff_base_s=0.01, progress_every_s=60), tmp_path / "j.jsonl",
            log=lambda _: None)
    assert sum(server.calls.values()) == STORIES * 5 and not judgments.failures
    stats = probe_statistics(probed, judgments.scores, resamples=500, seed=0)

    cut, replaced = _by(stats, "overall", CUT_IN_HALF), _by(stats, "overall", WORDS_REPLACED)
    assert (cut["stories"], cut["mean_change"], cut["ci95_high"]) == (STORIES, -3.0, -3.0)
    assert cut["share_lower"] == cut["share_worse"] == 1.0 and cut["noticed"] is True
    assert replaced["mean_change"] == -2.0 and replaced["noticed"] is True
    assert replaced["flagged"] is False
    shuffled = _by(stats, "overall", SHUFFLED)
    assert shuffled["mean_change"] == 0.0 and shuffled["share_lower"] == 0.0
    assert shuffled["noticed"] is False and shuffled["flagged"] is True
    # Creativity never moves: flagged for every broken probe.
    assert all(_by(stats, "creativity", p)["flagged"] for p in (SHUFFLED, CUT_IN_HALF,
                                                                   WORDS_REPLACED))
    # Test-retest: each story got its score, then (one request at a time, the original
    # first) its score +-1.
    retest = _by(stats, "overall", RETEST)
    assert retest["noticed"] is None and retest["flagged"] is None
    first = np.array([base[o] for o in sorted(base)], dtype=float)
    second = first + np.where(first % 2 == 1, 1.0, -1.0)
    assert retest["retest_alpha"] == pytest.approx(interval_alpha(np.vstack([first, second])))
    assert 0.5 < retest["retest_alpha"] < 1.0
    assert retest["mean_change"] == pytest.approx((second - first).mean())

    # The report flags the judge for the probe it missed (judged by `overall`).
    rows = stats.with_columns(language=pl.lit("hindi"), tokenizer=pl.lit("spm"),
                              preset=pl.lit("tiny"), corpus=pl.lit("generated"),
                              judge=pl.lit("llm:probe-judge"), story_source=pl.lit("samples"))
    assert flagged_lines(rows) == ["- **llm:probe-judge** on hindi|spm|tiny (generated): "
                                   "`shuffled` (sentences shuffled) not scored worse on "
                                   "`overall`"]
    section = probes_section(rows)
    assert "-3.000 [-3.000, -3.000], 100% worse noticed" in section
    assert "0.000 [0.000, 0.000], 0% worse **FLAGGED**" in section


def test_the_automatic_judge_notices_a_cut_story_not_a_shuffled_one() -> None:
    stories = _stories()
    reference = build_reference(_stories(120)["story"].to_list()[STORIES:])
    probed = probed_stories(stories, HINDI.sentence_terminators, VOCABULARY, seed=0)
    judgments = automatic_judgments(probed, HINDI, reference, lexicon_for("hindi"))
    stats = probe_statistics(probed, judgments.scores, resamples=500, seed=0)
    # Deterministic: asked again, nothing changes.
    retest = stats.filter(pl.col("probe") == RETEST)
    assert (retest["mean_change"] == 0).all() and (retest["share_lower"] == 0).all()
    assert _by(stats, "reference_bits_per_char", RETEST)["retest_alpha"] == pytest.approx(1.0)
    # Shuffled sentences keep every word: continuity cannot see it.
    assert _by(stats, "continuity", SHUFFLED)["mean_change"] == 0.0
    assert _by(stats, "continuity", SHUFFLED)["flagged"] is True
    # A cut story no longer ends: completeness sees it; length has no worse side.
    assert _by(stats, "completeness", CUT_IN_HALF)["noticed"] is True
    length = _by(stats, "length_words", CUT_IN_HALF)
    assert length["mean_change"] < 0 and length["noticed"] is None
    # Random words of the language are less like the training stories (lower is better).
    bits = _by(stats, "reference_bits_per_char", WORDS_REPLACED)
    assert bits["direction"] == -1 and bits["mean_change"] > 0 and bits["noticed"] is True
