"""Sentence splitting of English sources and rejoining of their translations."""

from tsr_assets.translation.sentence_split import (
    fit_to_limit,
    join_pieces,
    split_sentences,
    split_story,
)


def words(text: str) -> int:
    return len(text.split())


def test_sentences_split_at_terminators_but_not_at_abbreviations() -> None:
    text = ('Once upon a time, Mr. Brown had a dog. "Hello!" said Tom. Was it fun? '
            'It was... Then Dr. Rao came.')
    assert split_sentences(text) == [
        "Once upon a time, Mr. Brown had a dog.", '"Hello!" said Tom.', "Was it fun?",
        "It was...", "Then Dr. Rao came."]


def test_a_quote_that_ends_a_sentence_stays_with_it() -> None:
    assert split_sentences('Mom said, "Go to bed." Lily went.') == [
        'Mom said, "Go to bed."', "Lily went."]


def test_long_sentences_are_split_at_clauses_then_between_words() -> None:
    sentence = "one two three, four five six seven; eight nine ten eleven twelve thirteen"
    pieces = fit_to_limit(sentence, 4, words)
    assert all(words(p) <= 4 for p in pieces)
    assert " ".join(pieces) == sentence  # nothing lost, nothing added
    assert pieces[:2] == ["one two three,", "four five six seven;"]


def test_story_pieces_keep_paragraphs_and_rejoin_in_order() -> None:
    story = "Tom ran. He fell down, got up, and ran again.\n\nThe end. Bye."
    pieces = split_story(7, story, limit=4, count_tokens=words)
    assert {p.story for p in pieces} == {7}
    assert all(words(p.text) <= 4 for p in pieces)
    assert [p.paragraph for p in pieces] == [0, 0, 0, 0, 1, 1]
    rejoined = join_pieces(pieces, [p.text for p in pieces])
    assert rejoined == "Tom ran. He fell down, got up, and ran again.\nThe end. Bye."
    assert join_pieces(pieces, [p.text.upper() for p in pieces]).split("\n")[1] == "THE END. BYE."
