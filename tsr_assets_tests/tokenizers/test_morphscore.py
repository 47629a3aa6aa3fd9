"""MorphScore: hand-computed scores, real SentencePiece and byte tokenizers, gold-list loading
and the packaged gold lists."""

from __future__ import annotations

import math
import subprocess
import sys
import time
import unicodedata
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import sentencepiece as spm

from tsr_assets.core.languages import (
    Language,
    get_language,
    register_language,
    unregister_language,
)
from tsr_assets.tokenizers.base import Tokenizer
from tsr_assets.tokenizers.byte_tokenizer import ByteTokenizer
from tsr_assets.tokenizers.morphscore import (
    GoldWord,
    MorphGoldError,
    MorphScore,
    load_morph_gold,
    morph_score,
    packaged_morph_gold,
)
from tsr_assets.tokenizers.spm_tokenizer import SentencePieceTokenizer, train_spm
from tsr_assets_tests.tokenizers.corpus import stories

PACKAGED = ("hindi", "marathi", "bengali", "english")


class PieceTokenizer(Tokenizer):
    """A fixed vocabulary segmented by greedy longest match, so every test knows the pieces.

    With `marker`, a word is encoded as `marker + word` (like SentencePiece's `▁`);
    decoding writes the marker as `marker_text` and, with `drop_leading_space`, drops one
    leading space (as SentencePiece does; GPT-2 keeps it). With `wordpiece`,
    pieces after the first are written `##piece` and decoding renders a `##` piece without
    its prefix only after another piece (as WordPiece decoders do).
    """

    kind = "toy_pieces"

    def __init__(self, pieces: Sequence[str], marker: str = "", wordpiece: bool = False,
                 marker_text: str = " ", drop_leading_space: bool = True):
        self.pieces = list(pieces)
        self._ids = {piece: i + 2 for i, piece in enumerate(self.pieces)}
        self.marker = marker
        self.wordpiece = wordpiece
        self.marker_text = marker_text
        self.drop_leading_space = drop_leading_space

    @property
    def name(self) -> str:
        return "toy-pieces"

    @property
    def version(self) -> str:
        return "toy-pieces-" + "|".join(self.pieces)

    @property
    def vocab_size(self) -> int:
        return len(self.pieces) + 2

    @property
    def bos_id(self) -> int:
        return 0

    @property
    def eos_id(self) -> int:
        return 1

    def segment(self, text: str) -> list[str]:
        """The pieces of `text` (greedy longest match; raises on text the vocabulary lacks)."""
        text = self.marker + text
        out: list[str] = []
        while text:
            prefix = "##" if self.wordpiece and out else ""
            piece = next(p for p in sorted(self.pieces, key=len, reverse=True)
                         if p.startswith(prefix) and text.startswith(p[len(prefix):]))
            out.append(piece)
            text = text[len(piece) - len(prefix):]
        return out

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return [[self._ids[p] for p in self.segment(text)] for text in texts]

    def decode(self, ids: Sequence[int]) -> str:
        pieces = [self.pieces[i - 2] for i in ids if i >= 2]
        if self.wordpiece:
            return "".join(p[2:] if i and p.startswith("##") else p for i, p in enumerate(pieces))
        text = "".join(pieces)
        if self.marker:
            text = text.replace(self.marker, self.marker_text)
            if self.drop_leading_space and text.startswith(" "):
                text = text[1:]
        return text

    def fallback_mask(self) -> np.ndarray:
        return np.zeros(self.vocab_size, dtype=bool)


def gold(*rows: str) -> list[GoldWord]:
    """GoldWords from `stem+rest` strings."""
    return [GoldWord(row.replace("+", ""), *row.split("+")) for row in rows]


# --- hand-computed scores -------------------------------------------------------------------


def test_hand_computed_score_leaves_single_tokens_out() -> None:
    tok = PieceTokenizer(["cats", "walk", "ed", "jump", "ing", "play", "playe", "d"])
    words = gold("cat+s", "walk+ed", "jump+ing", "play+ed")
    # cats: one token, left out; walk|ed and jump|ing: 1; playe|d: 0. Score 2 of 3.
    assert [tok.segment(w.full_word) for w in words] == [
        ["cats"], ["walk", "ed"], ["jump", "ing"], ["playe", "d"]]
    assert morph_score(tok, words) == MorphScore(score=2 / 3, words_scored=3,
                                                 words_single_token=1, words_total=4)


def test_split_must_give_both_parts_exactly() -> None:
    tok = PieceTokenizer(["un", "tie", "d", "ti", "ed", "s", "t", "i", "e"])
    # untied = un|tie|d has two split points: un + tied and untie + d.
    assert tok.segment("untied") == ["un", "tie", "d"]
    assert morph_score(tok, gold("untie+d")).score == 1.0
    assert morph_score(tok, gold("un+tied")).score == 1.0
    assert morph_score(tok, gold("unti+ed")).score == 0.0
    # Three pieces, boundary inside the middle one: no split point gives it.
    assert morph_score(tok, gold("unt+ied")).score == 0.0


def test_a_leading_marker_is_stripped_and_a_bare_one_dropped() -> None:
    tok = PieceTokenizer(["▁", "▁walk", "ed", "▁dog", "dog", "s", "▁cat"], marker="▁")
    assert tok.segment("walked") == ["▁walk", "ed"]
    assert tok.segment("dogs") == ["▁dog", "s"]
    result = morph_score(tok, gold("walk+ed", "dog+s", "ca+t"))
    # ca+t: "▁cat" is one token, left out.
    assert result == MorphScore(score=1.0, words_scored=2, words_single_token=1, words_total=3)

    bare = PieceTokenizer(["▁", "dog", "s", "do", "g"], marker="▁")
    assert bare.segment("dogs") == ["▁", "dog", "s"]
    assert bare.segment("dog") == ["▁", "dog"]
    # "▁" + "dog" is one token of text: left out; "▁" "dog" "s" is scored on dog|s.
    assert morph_score(bare, gold("dog+s", "do+g")) == MorphScore(
        score=1.0, words_scored=1, words_single_token=1, words_total=2)


@pytest.mark.parametrize(("marker", "marker_text"), [("▁", "▁"), ("Ġ", "Ġ"), ("Ġ", " ")])
def test_a_marker_left_in_the_decoded_text_is_stripped(marker: str, marker_text: str) -> None:
    # Decoders that keep the marker (GPT-2's leading space; a tokenizer without a decoder,
    # which gives back "▁walk" or "Ġwalk"): one marker is stripped from the text before the
    # split.
    pieces = [f"{marker}walk", "ed", marker, f"{marker}jump", "s"]
    tok = PieceTokenizer(pieces, marker=marker, marker_text=marker_text,
                         drop_leading_space=False)
    assert tok.decode(tok.encode("walked")[:1]) == f"{marker_text}walk"
    words = gold("walk+ed", "jump+s")
    assert morph_score(tok, words) == MorphScore(1.0, 2, 0, 2)


def test_wordpiece_style_suffixes_are_read_in_context() -> None:
    tok = PieceTokenizer(["walk", "##ed", "wal", "##ked", "jump", "##s"], wordpiece=True)
    assert tok.segment("walked") == ["walk", "##ed"]
    # Decoded alone the suffix is "##ed"; inside the word it is "ed", which is what counts.
    assert tok.decode(tok.encode("walked")[1:]) == "##ed"
    assert morph_score(tok, gold("walk+ed", "jump+s", "wal+ked")).score == pytest.approx(2 / 3)


def test_no_scored_word_gives_nan() -> None:
    tok = PieceTokenizer(["cats", "dogs"])
    result = morph_score(tok, gold("cat+s", "dog+s"))
    assert math.isnan(result.score)
    assert (result.words_scored, result.words_single_token, result.words_total) == (0, 2, 2)
    empty = morph_score(tok, [])
    assert math.isnan(empty.score) and empty.words_total == 0


# --- real tokenizers ------------------------------------------------------------------------


def _reference_score(proto: bytes, words: Sequence[GoldWord]) -> tuple[float, int, int]:
    """MorphScore from SentencePiece's own pieces, the way the original study computes it:
    strip `▁` from the first piece (drop it when nothing is left), join pieces."""
    sp = spm.SentencePieceProcessor(model_proto=proto)
    scored = matched = single = 0
    for word in words:
        pieces = sp.encode(word.full_word, out_type=str)
        assert not any(sp.is_byte(sp.piece_to_id(p)) for p in pieces), pieces
        pieces[0] = pieces[0].removeprefix("▁")
        pieces = pieces[1:] if not pieces[0] and len(pieces) > 1 else pieces
        if len(pieces) == 1:
            single += 1
            continue
        scored += 1
        matched += any("".join(pieces[:k]) == word.pt1 and "".join(pieces[k:]) == word.rest
                       for k in range(1, len(pieces)))
    return matched / scored, scored, single


def test_sentencepiece_matches_its_pieces() -> None:
    proto = train_spm(stories("hindi"), vocab_size=2000)
    tok = SentencePieceTokenizer(proto)
    sp = spm.SentencePieceProcessor(model_proto=proto)
    words = load_morph_gold(packaged_morph_gold("hindi"))
    pieces = {w.full_word: sp.encode(w.full_word, out_type=str) for w in words}
    # The list exercises both kinds of first piece: a bare "▁" and "▁" glued to text.
    assert any(p[0] == "▁" and len(p) > 2 for p in pieces.values())
    glued = [w for w in words if pieces[w.full_word][0] == "▁" + w.pt1
             and pieces[w.full_word][1:] == [w.rest]]
    assert glued, "expected a word encoded as ▁stem + suffix"
    # Such a word scores 1: the text before the split is the stem, without the marker.
    assert morph_score(tok, glued).score == 1.0

    score, scored, single = _reference_score(proto, words)
    result = morph_score(tok, words)
    assert (result.words_scored, result.words_single_token) == (scored, single)
    assert result.score == pytest.approx(score)
    assert 0.0 < result.score < 1.0


def test_sentencepiece_byte_fallback_splits_at_code_points() -> None:
    # Trained on Bengali, this model spells Devanagari in byte pieces: a split between byte
    # pieces at a code point boundary counts, one inside a character cannot.
    tok = SentencePieceTokenizer(train_spm(stories("bengali"), vocab_size=2000))
    words = gold("लड़क+ों", "खेल+ता")
    assert all(len(tok.encode(w.full_word)) > 6 for w in words)
    assert morph_score(tok, words).score == 1.0


def test_byte_tokenizer_always_splits_at_the_boundary() -> None:
    tok = ByteTokenizer()
    for language in PACKAGED:
        words = load_morph_gold(packaged_morph_gold(language))
        result = morph_score(tok, words)
        # Every gold word has at least two bytes, and pt1 ends on a code point boundary,
        # which is a byte boundary that decodes exactly.
        assert result == MorphScore(1.0, len(words), 0, len(words)), language
    # A one-byte word is one token.
    assert morph_score(tok, gold("a+")).words_single_token == 1


def test_byte_tokenizer_scores_ten_thousand_words_fast() -> None:
    words = (load_morph_gold(packaged_morph_gold("hindi")) * 40)[:10_000]
    started = time.perf_counter()
    result = morph_score(ByteTokenizer(), words)
    assert time.perf_counter() - started < 1.0
    assert result.words_scored == 10_000


# --- loading gold lists ---------------------------------------------------------------------


def _write(path: Path, text: str, bom: bool = False) -> Path:
    path.write_bytes(("\ufeff" if bom else "").encode() + text.encode("utf-8"))
    return path


def test_extra_columns_and_an_index_column_are_ignored(tmp_path: Path) -> None:
    path = _write(tmp_path / "gold.csv",
                  ",full_word,note,pt1,rest\n0,walked,past,walk,ed\n1,लड़कों,pl,लड़क,ों\n\n")
    assert load_morph_gold(path) == [GoldWord("walked", "walk", "ed"),
                                     GoldWord("लड़कों", "लड़क", "ों")]


def test_a_bom_and_crlf_are_tolerated(tmp_path: Path) -> None:
    path = _write(tmp_path / "gold.csv", "full_word,pt1,rest\r\nwalked,walk,ed\r\n", bom=True)
    assert load_morph_gold(path) == [GoldWord("walked", "walk", "ed")]


def test_cells_are_nfc_normalized(tmp_path: Path) -> None:
    decomposed = unicodedata.normalize("NFD", "বোন")
    assert decomposed != "বোন"
    path = _write(tmp_path / "gold.csv", f"full_word,pt1,rest\n{decomposed}কে,{decomposed},কে\n")
    assert load_morph_gold(path) == [GoldWord("বোনকে", "বোন", "কে")]


def test_every_bad_row_is_reported_with_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path / "gold.csv", "full_word,pt1,rest\n"
                  "walked,walk,ed\n"     # line 2: fine
                  "jumped,jump,d\n"      # line 3: pt1 + rest is jumpd
                  "played,,ed\n"         # line 4: empty pt1
                  "looks,look\n")        # line 5: a cell short
    with pytest.raises(MorphGoldError) as caught:
        load_morph_gold(path)
    message = str(caught.value)
    assert str(path) in message and "3 problems" in message
    assert "line 3" in message and "'jumpd'" in message and "spell full_word" in message
    assert "line 4" in message and "empty pt1" in message
    assert "line 5" in message and "no rest" in message
    assert "line 2" not in message


def test_a_missing_column_and_bad_rows_are_reported_together(tmp_path: Path) -> None:
    path = _write(tmp_path / "gold.csv", "full_word,stem,rest\nwalked,walk,ed\n,jump,ed\n"
                  "played,play,\n")
    with pytest.raises(MorphGoldError) as caught:
        load_morph_gold(path)
    message = str(caught.value)
    assert str(path) in message
    assert "line 1" in message and "no column pt1" in message and "'stem'" in message
    assert "line 3: empty full_word" in message
    assert "line 4: empty rest" in message


def test_a_long_problem_list_is_capped(tmp_path: Path) -> None:
    rows = "".join(f"word{i},wor,x\n" for i in range(30))
    with pytest.raises(MorphGoldError) as caught:
        load_morph_gold(_write(tmp_path / "gold.csv", "full_word,pt1,rest\n" + rows))
    message = str(caught.value)
    assert "30 problems" in message and "and 10 more" in message
    assert "line 21" in message and "line 22:" not in message


def test_unreadable_and_empty_files_are_errors(tmp_path: Path) -> None:
    for text, expected in [("", "empty"), ("full_word,pt1,rest\n", "no word follows")]:
        with pytest.raises(MorphGoldError, match=expected):
            load_morph_gold(_write(tmp_path / "gold.csv", text))
    (tmp_path / "latin1.csv").write_bytes(b"full_word,pt1,rest\ncaf\xe9s,caf\xe9,s\n")
    with pytest.raises(MorphGoldError, match=r"line 2: not valid UTF-8"):
        load_morph_gold(tmp_path / "latin1.csv")
    with pytest.raises(MorphGoldError, match="cannot read"):
        load_morph_gold(tmp_path / "missing.csv")


# --- packaged gold lists --------------------------------------------------------------------


@pytest.mark.parametrize("language", PACKAGED)
def test_packaged_gold_list_is_sound(language: str) -> None:
    lang = get_language(language)
    path = packaged_morph_gold(language)
    assert path == lang.package_data_dir / "morph_gold.csv"
    assert path.read_text(encoding="utf-8").startswith("full_word,pt1,rest\n")
    words = load_morph_gold(path)  # checks pt1 + rest == full_word
    assert len(words) >= 160
    assert len({w.full_word for w in words}) == len(words), "duplicate words"
    for w in words:
        assert unicodedata.normalize("NFC", w.full_word) == w.full_word, w
        assert all(lang.in_script(c) for c in w.full_word), w
        assert w.pt1 and w.rest, w


def test_packaged_gold_of_unknown_or_missing_language(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="unknown language"):
        packaged_morph_gold("klingon")
    register_language(Language(key="toy_lang", display_name="Toy", native_name="Toy",
                               script="Latin", script_ranges=((0x61, 0x7A),),
                               sentence_terminators=(".",), digits="0123456789",
                               data_dir=tmp_path))
    try:
        with pytest.raises(FileNotFoundError, match="no MorphScore gold list"):
            packaged_morph_gold("toy_lang")
        _write(tmp_path / "morph_gold.csv", "full_word,pt1,rest\ncats,cat,s\n")
        assert load_morph_gold(packaged_morph_gold("toy_lang")) == gold("cat+s")
    finally:
        unregister_language("toy_lang")


def test_morphscore_does_not_import_dagster() -> None:
    code = ("import sys, tsr_assets.tokenizers.morphscore; "
            "sys.exit('dagster' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
