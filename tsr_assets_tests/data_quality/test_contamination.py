"""Contamination: planted openers are found, clean ones are not flagged."""

from tsr_assets.core.languages import get_language
from tsr_assets.data_quality.contamination import measure_contamination, opener_ngrams
from tsr_assets.evaluation.openers import load_openers
from tsr_assets.stories.offline_writer import load_sentence_banks, write_offline_story


def test_planted_openers_are_found_and_clean_ones_are_not() -> None:
    hindi = get_language("hindi")
    openers = [o.text for o in load_openers(hindi)][:20]
    banks = load_sentence_banks(hindi.package_data_dir)
    stories = [write_offline_story(f"p{i}", "शेर", "खेलना", "लाल", i % 15, banks,
                                   feature_count=15) for i in range(200)]
    stories[10] = stories[10] + " " + openers[3]  # in full
    half = openers[7].split()
    stories[20] = "एक दिन " + " ".join(half[: len(half) // 2 + 5]) + " और फिर"  # in part
    stories[30] = stories[31] = openers[11]  # in full, twice
    overlaps = measure_contamination(openers, stories)
    flagged = {o.index for o in overlaps if o.in_part}
    assert flagged == {3, 7, 11}
    assert {o.index for o in overlaps if o.in_full} == {3, 11}
    assert overlaps[11].stories_matched == 2 and overlaps[3].stories_matched == 1
    assert 0 < overlaps[7].share < 1
    assert all(o.share == 0 for o in overlaps if o.index not in flagged)


def test_short_openers_are_one_ngram_and_punctuation_is_ignored() -> None:
    assert opener_ngrams("Tom, ran!", 8) == [("tom", "ran")]
    [overlap] = measure_contamination(["Tom ran."], ["Then TOM RAN away."])
    assert overlap.in_full
    [overlap] = measure_contamination(["Tom ran."], ["Tom walked, then ran."])
    assert not overlap.in_part
