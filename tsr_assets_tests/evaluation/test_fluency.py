"""The offline fluency score: real text against gibberish, the smoothing, storage."""

from __future__ import annotations

import math
import random
import statistics
import unicodedata
from pathlib import Path

import pytest

from tsr_assets.core.languages import get_language
from tsr_assets.evaluation.fluency import (
    END,
    CharNgramModel,
    FluencyReference,
    build_reference,
    fit_char_model,
    known_word_rate,
    load_reference,
)
from tsr_assets.evaluation.openers import load_openers
from tsr_assets.prompts.wordlists import load_wordlists
from tsr_assets.stories.lexicon import Lexicon, text_words
from tsr_assets.stories.offline_writer import load_sentence_banks, write_offline_story

INDIC = ("hindi", "marathi", "bengali")
STORIES = 300


def offline_stories(language_key: str, count: int = STORIES) -> list[str]:
    """`count` stories of the real offline writer, with words drawn from the word lists."""
    language = get_language(language_key)
    banks = load_sentence_banks(language.package_data_dir)
    lists = load_wordlists(language.package_data_dir, language)
    rng = random.Random(f"fluency-{language_key}")
    return [
        write_offline_story(f"prompt-{i:05d}", rng.choice(lists.nouns), rng.choice(lists.verbs),
                            rng.choice(lists.adjectives), i % len(lists.features), banks,
                            feature_count=len(lists.features))
        for i in range(count)
    ]


def clusters(word: str) -> list[str]:
    """Grapheme-ish clusters: a base character and the combining marks that follow it."""
    out: list[str] = []
    for char in word:
        if out and unicodedata.category(char)[0] == "M":
            out[-1] += char
        else:
            out.append(char)
    return out


def shuffle_letters(text: str, rng: random.Random) -> str:
    """The text with each word's clusters shuffled (punctuation at word ends kept in place)."""
    out = []
    for token in text.split():
        start, end = 0, len(token)
        while start < end and unicodedata.category(token[start])[0] in "PS":
            start += 1
        while end > start and unicodedata.category(token[end - 1])[0] in "PS":
            end -= 1
        parts = clusters(token[start:end])
        shuffled = parts[:]
        for _ in range(10):  # a different order where the word has one
            rng.shuffle(shuffled)
            if shuffled != parts or len(set(parts)) < 2:
                break
        out.append(token[:start] + "".join(shuffled) + token[end:])
    return " ".join(out)


def random_syllables(like: str, letters: list[str], marks: list[str],
                     rng: random.Random) -> str:
    """As many words as `like` has, each 1-4 random syllables (a letter, often a mark)."""
    words = [
        "".join(rng.choice(letters) + (rng.choice(marks) if rng.random() < 0.6 else "")
                for _ in range(rng.randint(1, 4)))
        for _ in like.split()
    ]
    return " ".join(words) + like[-1]


@pytest.fixture(scope="module", params=INDIC)
def measured(request: pytest.FixtureRequest) -> tuple[str, FluencyReference, list[str]]:
    key = request.param
    reference = build_reference(offline_stories(key))
    return key, reference, [o.text for o in load_openers(get_language(key))]


def _means(reference: FluencyReference, texts: list[str]) -> tuple[float, float]:
    found = [reference.scores(t) for t in texts]
    return (statistics.mean(s["known_word_rate"] for s in found),
            statistics.mean(s["reference_bits_per_char"] for s in found))


def test_real_openers_score_clearly_above_gibberish(
        measured: tuple[str, FluencyReference, list[str]]) -> None:
    key, reference, real = measured
    rng = random.Random(f"gibberish-{key}")
    shuffled = [shuffle_letters(t, rng) for t in real]
    assert sum(s != t for s, t in zip(shuffled, real, strict=True)) == len(real)
    letters = sorted({c for t in real for c in t if unicodedata.category(c) == "Lo"})
    marks = sorted({c for t in real for c in t if unicodedata.category(c)[0] == "M"})
    syllables = [random_syllables(t, letters, marks, rng) for t in real]

    real_words, real_bits = _means(reference, real)
    print(f"\n{key}: reference of {reference.stories} stories, {reference.chars:,} chars, "
          f"{len(reference.vocabulary):,} words, {reference.char_model!r}")
    print(f"{key}: {'texts':<18} known_word_rate  reference_bits_per_char")
    print(f"{key}: {'real openers':<18} {real_words:15.3f}  {real_bits:23.3f}")
    for name, gibberish in (("shuffled letters", shuffled), ("random syllables", syllables)):
        words, bits = _means(reference, gibberish)
        print(f"{key}: {name:<18} {words:15.3f}  {bits:23.3f}")
        assert real_words - words >= 0.3, (name, real_words, words)
        assert bits - real_bits >= 1.0, (name, real_bits, bits)
    # Not only on average: nearly every opener reads better than its own shuffle.
    better = sum(reference.char_model.bits_per_char(t) < reference.char_model.bits_per_char(s)
                 for t, s in zip(real, shuffled, strict=True))
    print(f"{key}: {better}/{len(real)} openers have fewer bits/char than their shuffle")
    assert better >= 0.95 * len(real)


def test_save_and_load_give_identical_scores(tmp_path: Path) -> None:
    reference = build_reference(iter(offline_stories("hindi", 60)))
    texts = [o.text for o in load_openers(get_language("hindi"))][:40] + ["", "ᚠᚢᚦ abc"]
    path = reference.save(tmp_path / "sub" / "reference.json")
    loaded = load_reference(path)
    assert loaded.vocabulary == reference.vocabulary
    assert (loaded.stories, loaded.chars) == (reference.stories, reference.chars) == (
        60, sum(len(t) for t in offline_stories("hindi", 60)))
    assert loaded.char_model.counts == reference.char_model.counts
    assert [loaded.scores(t) for t in texts] == [reference.scores(t) for t in texts]
    assert loaded.char_model.to_dict() == reference.char_model.to_dict()
    assert not list(path.parent.glob(".*tmp*"))


def test_unseen_characters_get_a_finite_cost() -> None:
    model = fit_char_model(offline_stories("marathi", 30))
    unseen = "ᚠᚢᚦ 漢字 ☃"
    assert not set(unseen) - {" "} & model.alphabet
    bits = model.bits_per_char(unseen)
    assert math.isfinite(bits) and bits > model.bits_per_char(offline_stories("marathi", 31)[-1])
    assert 0 < model.prob("ᚠᚢ", "ᚦ") < 1
    assert math.isfinite(model.bits_per_char(""))


def test_witten_bell_by_hand() -> None:
    model = CharNgramModel.fit(["abab", "abba"], order=2, min_top_count=1)
    # Predicted characters: a b a b END, a b b a END -> a 4, b 4, END 2 (10, 3 types); the
    # uniform floor is 1/4 (a, b, END and the unknown slot).
    unigram = {"a": (4 + 3 / 4) / 13, "b": (4 + 3 / 4) / 13, END: (2 + 3 / 4) / 13,
               "z": (3 / 4) / 13}
    # After "a": b 3 times, END once (4, 2 types).
    assert model.prob("xa", "b") == pytest.approx((3 + 2 * unigram["b"]) / 6, abs=1e-12)
    assert model.prob("a", "a") == pytest.approx(2 * unigram["a"] / 6, abs=1e-12)
    assert model.prob("a", "b") > model.prob("a", "a") > model.prob("a", "z") > 0
    # At the start: a twice (2, 1 type).
    assert model.prob("", "a") == pytest.approx((2 + unigram["a"]) / 3, abs=1e-12)
    # A context never seen backs off to the unigram distribution.
    assert model.prob("q", "b") == pytest.approx(unigram["b"], abs=1e-12)
    for context in ("", "a", "b", "ab", "q"):
        total = sum(model.prob(context, c) for c in [*model.alphabet, "z"])
        assert model.alphabet == {"a", "b", END}
        assert total == pytest.approx(1.0, abs=1e-9), context
    # Mean -log2 p over the characters and the end marker.
    expected = -(math.log2(model.prob("", "a")) + math.log2(model.prob("a", "b"))
                 + math.log2(model.prob("ab", END))) / 3
    assert model.bits_per_char("ab") == pytest.approx(expected, abs=1e-12)


def test_pruning_keeps_the_model_normalized() -> None:
    stories = offline_stories("bengali", 40)
    pruned = fit_char_model(stories, order=5, min_top_count=2)
    full = fit_char_model(stories, order=5, min_top_count=1)
    assert pruned.counts[:4] == full.counts[:4]
    assert all(c >= 2 for c in pruned.counts[4].values()) and min(full.counts[4].values()) == 1
    assert len(pruned.counts[4]) < len(full.counts[4])
    context = stories[0][:30]
    for model in (pruned, full):
        total = sum(model.prob(context, c) for c in [*model.alphabet, "☃"])
        assert total == pytest.approx(1.0, abs=1e-9)


def test_known_word_rate_counts_vocabulary_and_lexicon_words() -> None:
    vocabulary = set(text_words("मीरा बाग़"))
    lexicon = Lexicon(frozenset(text_words("दिन गई")), "test")
    text = "एक दिन मीरा बाग़ में गई।"
    assert known_word_rate(text, vocabulary) == pytest.approx(2 / 6)
    assert known_word_rate(text, vocabulary, lexicon) == pytest.approx(4 / 6)
    assert known_word_rate("Apple, APPLE!", {"apple"}) == 1.0
    assert known_word_rate(" ... — ", vocabulary) == 0.0
    # NFC: a decomposed nukta letter is the same word.
    assert known_word_rate(unicodedata.normalize("NFD", "बाग़"), vocabulary) == 1.0


def test_fitting_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="no texts"):
        fit_char_model([])
