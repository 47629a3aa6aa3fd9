"""MorphScore, the original's definition (piece names joined) against a reference computed here
on real `transformers` tokenizers, and the decoded variant: hand-computed scores, real
SentencePiece, Hugging Face and byte tokenizers, gold files shaped like the original's."""

from __future__ import annotations

import math
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import sentencepiece as spm
from tokenizers import Tokenizer as FastTokenizer
from tokenizers import decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from tsr_assets.tokenizers.base import Tokenizer
from tsr_assets.tokenizers.byte_tokenizer import ByteTokenizer
from tsr_assets.tokenizers.hf_tokenizer import HFTokenizer
from tsr_assets.tokenizers.morphscore import (
    GoldWord,
    MorphScore,
    load_morph_gold,
    morph_score,
    morph_score_decoded,
    packaged_morph_gold,
)
from tsr_assets.tokenizers.spm_tokenizer import SentencePieceTokenizer, train_spm
from tsr_assets_tests.tokenizers.corpus import stories
from tsr_assets_tests.tokenizers.morph_reference import original_shaped_gold, reference_morphscore

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
        self.vocab = list(pieces)
        self._ids = {piece: i + 2 for i, piece in enumerate(self.vocab)}
        self.marker = marker
        self.wordpiece = wordpiece
        self.marker_text = marker_text
        self.drop_leading_space = drop_leading_space

    @property
    def name(self) -> str:
        return "toy-pieces"

    @property
    def version(self) -> str:
        return "toy-pieces-" + "|".join(self.vocab)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab) + 2

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
            piece = next(p for p in sorted(self.vocab, key=len, reverse=True)
                         if p.startswith(prefix) and text.startswith(p[len(prefix):]))
            out.append(piece)
            text = text[len(piece) - len(prefix):]
        return out

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return [[self._ids[p] for p in self.segment(text)] for text in texts]

    def decode(self, ids: Sequence[int]) -> str:
        pieces = self.pieces([i for i in ids if i >= 2])
        if self.wordpiece:
            return "".join(p[2:] if i and p.startswith("##") else p for i, p in enumerate(pieces))
        text = "".join(pieces)
        if self.marker:
            text = text.replace(self.marker, self.marker_text)
            if self.drop_leading_space and text.startswith(" "):
                text = text[1:]
        return text

    def pieces(self, ids: Sequence[int]) -> list[str]:
        return [self.vocab[i - 2] for i in ids]

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
    assert morph_score_decoded(tok, words) == MorphScore(score=2 / 3, words_scored=3,
                                                         words_single_token=1, words_total=4)


def test_split_must_give_both_parts_exactly() -> None:
    tok = PieceTokenizer(["un", "tie", "d", "ti", "ed", "s", "t", "i", "e"])
    # untied = un|tie|d has two split points: un + tied and untie + d.
    assert tok.segment("untied") == ["un", "tie", "d"]
    assert morph_score_decoded(tok, gold("untie+d")).score == 1.0
    assert morph_score_decoded(tok, gold("un+tied")).score == 1.0
    assert morph_score_decoded(tok, gold("unti+ed")).score == 0.0
    # Three pieces, boundary inside the middle one: no split point gives it.
    assert morph_score_decoded(tok, gold("unt+ied")).score == 0.0


def test_a_leading_marker_is_stripped_and_a_bare_one_dropped() -> None:
    tok = PieceTokenizer(["▁", "▁walk", "ed", "▁dog", "dog", "s", "▁cat"], marker="▁")
    assert tok.segment("walked") == ["▁walk", "ed"]
    assert tok.segment("dogs") == ["▁dog", "s"]
    result = morph_score_decoded(tok, gold("walk+ed", "dog+s", "ca+t"))
    # ca+t: "▁cat" is one token, left out.
    assert result == MorphScore(score=1.0, words_scored=2, words_single_token=1, words_total=3)

    bare = PieceTokenizer(["▁", "dog", "s", "do", "g"], marker="▁")
    assert bare.segment("dogs") == ["▁", "dog", "s"]
    assert bare.segment("dog") == ["▁", "dog"]
    # "▁" + "dog" is one token of text: left out; "▁" "dog" "s" is scored on dog|s.
    assert morph_score_decoded(bare, gold("dog+s", "do+g")) == MorphScore(
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
    assert morph_score_decoded(tok, words) == MorphScore(1.0, 2, 0, 2)


def test_wordpiece_style_suffixes_are_read_in_context() -> None:
    tok = PieceTokenizer(["walk", "##ed", "wal", "##ked", "jump", "##s"], wordpiece=True)
    assert tok.segment("walked") == ["walk", "##ed"]
    # Decoded alone the suffix is "##ed"; inside the word it is "ed", which is what counts.
    assert tok.decode(tok.encode("walked")[1:]) == "##ed"
    words = gold("walk+ed", "jump+s", "wal+ked")
    assert morph_score_decoded(tok, words).score == pytest.approx(2 / 3)


def test_no_scored_word_gives_nan() -> None:
    tok = PieceTokenizer(["cats", "dogs"])
    result = morph_score_decoded(tok, gold("cat+s", "dog+s"))
    assert math.isnan(result.score)
    assert (result.words_scored, result.words_single_token, result.words_total) == (0, 2, 2)
    empty = morph_score_decoded(tok, [])
    assert math.isnan(empty.score) and empty.words_total == 0


# --- the original's definition: piece names joined --------------------------------------------


def test_published_score_joins_piece_names() -> None:
    tok = PieceTokenizer(["cats", "walk", "ed", "jump", "ing", "play", "playe", "d"])
    words = gold("cat+s", "walk+ed", "jump+ing", "play+ed")
    assert morph_score(tok, words) == MorphScore(score=2 / 3, words_scored=3,
                                                 words_single_token=1, words_total=4)
    split = PieceTokenizer(["un", "tie", "d"])
    assert [morph_score(split, gold(w)).score for w in ("untie+d", "un+tied", "unt+ied")] == [
        1.0, 1.0, 0.0]


def test_published_score_keeps_a_bare_marker_as_an_empty_piece() -> None:
    bare = PieceTokenizer(["▁", "dog", "s", "do", "g"], marker="▁")
    # "▁" "dog" is two pieces, "" and "dog": scored, and no split gives do|g. "▁" "dog" "s"
    # scores on ""+"dog" | "s". The decoded variant drops the bare marker instead.
    assert morph_score(bare, gold("dog+s", "do+g")) == MorphScore(
        score=0.5, words_scored=2, words_single_token=0, words_total=2)
    assert morph_score_decoded(bare, gold("dog+s", "do+g")).words_scored == 1
    glued = PieceTokenizer(["▁walk", "ed", "▁cat", "Ġjump", "s"], marker="▁")
    assert morph_score(glued, gold("walk+ed", "ca+t")) == MorphScore(1.0, 1, 1, 2)
    gpt2_like = PieceTokenizer(["Ġjump", "s"], marker="Ġ")
    assert morph_score(gpt2_like, gold("jump+s")).score == 1.0
    # One marker only: a second one stays and spoils the match.
    double = PieceTokenizer(["▁▁walk", "ed"], marker="▁▁")
    assert morph_score(double, gold("walk+ed")).score == 0.0


def test_published_score_compares_names_not_decoded_text() -> None:
    # WordPiece names its suffixes "##ed": the original joins names, so no split matches,
    # while the decoded text does.
    tok = PieceTokenizer(["walk", "##ed", "jump", "##s"], wordpiece=True)
    words = gold("walk+ed", "jump+s")
    assert morph_score(tok, words).score == 0.0
    assert morph_score_decoded(tok, words).score == 1.0


def test_unmatchable_rows_score_zero_and_are_counted() -> None:
    # ASCII bytes are named as themselves, so the byte tokenizer splits an English word
    # anywhere: every row that spells its word scores 1, the others 0.
    words = [GoldWord("walked", "walk", "ed"), GoldWord("jumped", "jump", "d"),
             GoldWord("played", "play ", "ed"), GoldWord("looks", "", "looks"),
             GoldWord("cats", "cat", "s")]
    result = morph_score(ByteTokenizer(), words)
    assert result == MorphScore(score=2 / 5, words_scored=5, words_single_token=0,
                                words_total=5, words_unmatchable=3)
    decoded = morph_score_decoded(ByteTokenizer(), words)
    assert decoded == MorphScore(score=1.0, words_scored=2, words_single_token=0,
                                 words_total=5, words_unmatchable=3)


def test_byte_pieces_never_spell_text() -> None:
    # Devanagari bytes are named by stand-in characters (à, ¤, ...), never the letters: the
    # byte tokenizer scores 0 on Hindi in the original's definition and 1 on English.
    byte = ByteTokenizer()
    for language in PACKAGED:
        words = load_morph_gold(packaged_morph_gold(language))
        expected = 1.0 if language == "english" else 0.0
        assert morph_score(byte, words) == MorphScore(expected, len(words), 0, len(words))


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
    assert morph_score_decoded(tok, glued).score == 1.0

    score, scored, single = _reference_score(proto, words)
    result = morph_score_decoded(tok, words)
    assert (result.words_scored, result.words_single_token) == (scored, single)
    assert result.score == pytest.approx(score)
    assert 0.0 < result.score < 1.0


def test_sentencepiece_byte_fallback_splits_at_code_points() -> None:
    # Trained on Bengali, this model spells Devanagari in byte pieces: a split between byte
    # pieces at a code point boundary counts, one inside a character cannot.
    tok = SentencePieceTokenizer(train_spm(stories("bengali"), vocab_size=2000))
    words = gold("लड़क+ों", "खेल+ता")
    assert all(len(tok.encode(w.full_word)) > 6 for w in words)
    assert morph_score_decoded(tok, words).score == 1.0


def test_byte_tokenizer_always_splits_at_the_boundary() -> None:
    tok = ByteTokenizer()
    for language in PACKAGED:
        words = load_morph_gold(packaged_morph_gold(language))
        result = morph_score_decoded(tok, words)
        # Every gold word has at least two bytes, and pt1 ends on a code point boundary,
        # which is a byte boundary that decodes exactly.
        assert result == MorphScore(1.0, len(words), 0, len(words)), language
    # A one-byte word is one token (an empty rest leaves the row out of the decoded score).
    assert morph_score(tok, gold("a+")).words_single_token == 1
    assert morph_score_decoded(tok, gold("a+")).words_unmatchable == 1


def test_byte_tokenizer_scores_ten_thousand_words_fast() -> None:
    words = (load_morph_gold(packaged_morph_gold("hindi")) * 40)[:10_000]
    started = time.perf_counter()
    result = morph_score_decoded(ByteTokenizer(), words)
    assert time.perf_counter() - started < 1.0
    assert result.words_scored == 10_000


# --- the original's definition on real transformers tokenizers -------------------------------

def _byte_fallback_bpe(texts: Sequence[str]) -> PreTrainedTokenizerFast:
    """A Llama-style BPE (Metaspace, byte fallback) trained here in memory, no hub."""
    tok = FastTokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    tok.decoder = decoders.Sequence([decoders.Metaspace(replacement="▁", prepend_scheme="first"),
                                     decoders.ByteFallback(), decoders.Fuse()])
    bytes_ = [f"<0x{b:02X}>" for b in range(256)]
    tok.train_from_iterator(list(texts), trainers.BpeTrainer(
        vocab_size=900, special_tokens=["<unk>", "<s>", "</s>", *bytes_]))
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>",
                                   unk_token="<unk>")


def test_published_score_matches_a_transformersreference_morphscore(tmp_path: Path) -> None:
    path = original_shaped_gold(tmp_path / "gold.csv")
    words = load_morph_gold(path)
    fast = _byte_fallback_bpe(stories("hindi"))
    tok = HFTokenizer(fast, "in-memory")
    names = [fast.convert_ids_to_tokens(fast(w.full_word, add_special_tokens=False)["input_ids"])
             for w in words]
    # The list exercises byte pieces (the Bengali words), bare and glued "▁" first pieces.
    assert any("<0xE0>" in n for n in names)
    assert any(n[0] == "▁" and len(n) > 1 for n in names)
    assert any(n[0].startswith("▁") and len(n[0]) > 1 and len(n) > 1 for n in names)

    score, scored, single = reference_morphscore(fast, path)
    result = morph_score(tok, words)
    assert (result.words_scored, result.words_single_token) == (scored, single)
    assert result.score == pytest.approx(score)
    assert 0.0 < result.score < 1.0
    assert (result.words_total, result.words_unmatchable) == (len(words), 5)


def test_sentencepiece_published_score_matches_its_transformers_export(tmp_path: Path) -> None:
    path = original_shaped_gold(tmp_path / "gold.csv")
    words = load_morph_gold(path)
    # Trained on Bengali: Devanagari falls back to byte pieces named <0xE0>, which never
    # spell a Hindi pt1, while the decoded variant still matches splits between characters.
    tok = SentencePieceTokenizer(train_spm(stories("bengali"), vocab_size=2000))
    score, scored, single = reference_morphscore(tok.to_transformers(), path)
    result = morph_score(tok, words)
    assert (result.words_scored, result.words_single_token, result.score) == (
        scored, single, pytest.approx(score))
    hindi = gold("लड़क+ों", "खेल+ता")
    assert morph_score(tok, hindi).score == 0.0
    assert morph_score_decoded(tok, hindi).score == 1.0


def test_unmatchable_rows_of_an_original_shaped_file_score_zero(tmp_path: Path) -> None:
    path = tmp_path / "gold.csv"
    path.write_text(",full_word,pt1,rest\n0,walked,walk,ed\n1,jumped,jump ,ed\n"
                    "2,played,play,d\n3,cats ,cat,s\n", encoding="utf-8")
    words = load_morph_gold(path)  # no error: the file is used as it is
    result = morph_score(ByteTokenizer(), words)
    assert result == MorphScore(score=1 / 4, words_scored=4, words_single_token=0,
                                words_total=4, words_unmatchable=3)


def test_morphscore_does_not_import_dagster() -> None:
    code = ("import sys, tsr_assets.tokenizers.morphscore; "
            "sys.exit('dagster' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
