"""Round-trips, framing and loading of every tokenizer backend, in all three languages."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from tsr_assets.tokenizers.base import TokenizerUnavailable, bins_dtype, frame_ids
from tsr_assets.tokenizers.byte_tokenizer import ByteTokenizer
from tsr_assets.tokenizers.gpt2_tokenizer import GPT2_RANKS_ENV, GPT2Tokenizer
from tsr_assets.tokenizers.hf_tokenizer import HFTokenizer, hub_source, load_auto_tokenizer
from tsr_assets.tokenizers.registry import load_tokenizer, save_tokenizer
from tsr_assets.tokenizers.spm_tokenizer import SentencePieceTokenizer, train_spm
from tsr_assets.tokenizers.token_bins import framer_for, split_stories
from tsr_assets_tests.tokenizers.corpus import LANGUAGES, stories
from tsr_assets_tests.tokenizers.hf_fixture import train_hf_tokenizer


@pytest.fixture(scope="module")
def spm_tokenizers() -> dict[str, SentencePieceTokenizer]:
    return {lang: SentencePieceTokenizer(train_spm(stories(lang), vocab_size=2000))
            for lang in LANGUAGES}


@pytest.fixture(scope="module")
def gpt2() -> GPT2Tokenizer:
    return GPT2Tokenizer()


@pytest.fixture(scope="module")
def hf_tokenizer(tmp_path_factory: pytest.TempPathFactory) -> HFTokenizer:
    folder = tmp_path_factory.mktemp("hf") / "tok"
    train_hf_tokenizer([s for lang in LANGUAGES for s in stories(lang)[:20]], folder)
    return HFTokenizer.load(str(folder))


def _all_backends(spm_tokenizers, gpt2, hf_tokenizer, language):
    return [spm_tokenizers[language], ByteTokenizer(), gpt2, hf_tokenizer]


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_backend_round_trips_every_language(
    language: str, spm_tokenizers, gpt2, hf_tokenizer
) -> None:
    for tok in _all_backends(spm_tokenizers, gpt2, hf_tokenizer, language):
        # Metaspace decoders (Llama-style HF tokenizers) drop one leading space; stories are
        # stripped, so only the edge case differs.
        edge = "दो  spaces\n\n and a tab\t! 😀 "
        texts = [*stories(language)[:10], edge if tok.kind == "hf" else "  " + edge]
        encoded = tok.encode_batch(texts)
        assert [tok.decode(ids) for ids in encoded] == texts, tok.name
        assert all(tok.bos_id not in ids and tok.eos_id not in ids for ids in encoded), tok.name
        assert max(max(ids) for ids in encoded) < tok.vocab_size


@pytest.mark.parametrize("language", LANGUAGES)
def test_framing_is_one_bos_and_one_eos_per_story(
    language: str, spm_tokenizers, gpt2, hf_tokenizer
) -> None:
    texts = list(stories(language)[:7])
    for tok in _all_backends(spm_tokenizers, gpt2, hf_tokenizer, language):
        framed = framer_for(tok)(texts)
        if tok.bos_id == tok.eos_id:
            assert int(np.count_nonzero(framed == tok.bos_id)) == 2 * len(texts)
        else:
            assert int(np.count_nonzero(framed == tok.bos_id)) == len(texts), tok.name
            assert int(np.count_nonzero(framed == tok.eos_id)) == len(texts), tok.name
        assert framed[0] == tok.bos_id and framed[-1] == tok.eos_id
        pieces = split_stories(framed, tok.bos_id, tok.eos_id)
        assert [tok.decode(p.tolist()) for p in pieces] == texts


@pytest.mark.parametrize("language", LANGUAGES)
def test_spans_give_each_storys_framed_length(
    language: str, spm_tokenizers, gpt2, hf_tokenizer
) -> None:
    texts = [*stories(language)[:5], "  double  and trailing ", "", *stories(language)[5:9],
             "line\n next"]
    for tok in _all_backends(spm_tokenizers, gpt2, hf_tokenizer, language):
        framed, spans = tok.span_framer()(texts)
        assert spans.tolist() == [len(ids) + 2 for ids in tok.encode_batch(texts)], tok.name
        np.testing.assert_array_equal(framed, framer_for(tok)(texts))


def test_hf_tokenizer_that_adds_its_own_specials_is_framed_once(hf_tokenizer) -> None:
    raw = hf_tokenizer._tok(["नमस्ते दुनिया"])["input_ids"][0]  # noqa: SLF001
    assert raw[0] == hf_tokenizer.bos_id and raw[-1] == hf_tokenizer.eos_id  # adds its own
    framed = framer_for(hf_tokenizer)(["नमस्ते दुनिया"]).tolist()
    assert framed.count(hf_tokenizer.bos_id) == 1 and framed.count(hf_tokenizer.eos_id) == 1
    assert framed[1] != hf_tokenizer.bos_id


def test_gpt2_gives_gpt2_ids_offline(gpt2: GPT2Tokenizer) -> None:
    assert gpt2.encode("Hello World! Nirvan here") == [15496, 2159, 0, 31487, 10438, 994]
    assert gpt2.vocab_size == 50257 and gpt2.bos_id == gpt2.eos_id == 50256
    assert bins_dtype(gpt2.vocab_size) == np.uint16


def test_gpt2_missing_ranks_file_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(GPT2_RANKS_ENV, "/nonexistent/gpt2.tiktoken")
    with pytest.raises(TokenizerUnavailable, match=GPT2_RANKS_ENV):
        GPT2Tokenizer()


def test_spm_caps_vocabulary_on_a_small_corpus_and_has_explicit_specials(spm_tokenizers) -> None:
    tok = spm_tokenizers["hindi"]
    assert 320 <= tok.vocab_size < 2000
    assert (tok.bos_id, tok.eos_id) == (1, 2)
    assert tok.fallback_mask().sum() == 257  # 256 byte pieces + <unk>
    assert tok.encode("😀") and tok.decode(tok.encode("😀")) == "😀"  # byte fallback


def test_spm_bpe_model_type_trains() -> None:
    tok = SentencePieceTokenizer(train_spm(stories("marathi"), 1000, "bpe"), model_type="bpe")
    assert tok.name.startswith("sentencepiece-bpe-")
    assert tok.decode(tok.encode(stories("marathi")[3])) == stories("marathi")[3]


def test_spm_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="model_type"):
        train_spm(["x"], 1000, "wordpiece")
    with pytest.raises(ValueError, match="empty"):
        train_spm(["", "\n"], 1000)


def test_dtype_choice() -> None:
    assert bins_dtype(258) == np.uint16 and bins_dtype(65536) == np.uint16
    assert bins_dtype(65537) == np.uint32


def test_frame_ids_matches_hand_framing() -> None:
    assert frame_ids([[5, 6], [], [7]], 1, 2).tolist() == [1, 5, 6, 2, 1, 2, 1, 7, 2]


def test_saved_tokenizers_load_back_identically(
    tmp_path: Path, spm_tokenizers, gpt2, hf_tokenizer
) -> None:
    text = stories("bengali")[1]
    for tok in _all_backends(spm_tokenizers, gpt2, hf_tokenizer, "bengali"):
        folder = tmp_path / tok.kind
        save_tokenizer(tok, folder, source="test")
        loaded = load_tokenizer(folder)
        assert loaded.version == tok.version and loaded.encode(text) == tok.encode(text)


def test_hub_tokenizer_without_network_fails_fast_with_the_fix(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))  # an empty hub cache
    monkeypatch.delenv("TSR_SARVAM_TOKENIZER", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    started = time.monotonic()
    with pytest.raises(TokenizerUnavailable) as offline:
        load_auto_tokenizer(hub_source("sarvam"), "sarvam")
    assert "sarvamai/sarvam-1" in str(offline.value)
    assert "TSR_SARVAM_TOKENIZER" in str(offline.value) and "local_path" in str(offline.value)
    # Not offline by flag, but the hub endpoint refuses connections (a closed local port).
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    with pytest.raises(TokenizerUnavailable, match="cannot be reached"):
        load_auto_tokenizer(hub_source("sutra"), "sutra")
    assert time.monotonic() - started < 10


def test_hub_source_prefers_config_then_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TSR_SUTRA_TOKENIZER", "/models/sutra")
    assert hub_source("sutra") == "/models/sutra"
    assert hub_source("sutra", "/mine") == "/mine"
    monkeypatch.delenv("TSR_SUTRA_TOKENIZER")
    assert hub_source("sutra") == "TWO/sutra-mlt256-v2"
    with pytest.raises(TokenizerUnavailable, match="does not exist"):
        load_auto_tokenizer("/nonexistent/tokenizer", "sutra")


@pytest.mark.parametrize("language", LANGUAGES)
def test_pieces_are_named_as_transformers_names_them(
    language: str, spm_tokenizers, gpt2, hf_tokenizer
) -> None:
    # The names `transformers` gives the same ids: each backend's own export (SentencePiece,
    # bytes, GPT-2 in the `tokenizers` library) and the HF tokenizer itself.
    words = ["लड़कों", "खेलता", "বোনকে", " walked", "x"]
    texts = [*stories(language)[:3], *words]
    for tok in _all_backends(spm_tokenizers, gpt2, hf_tokenizer, language):
        fast = tok.to_transformers()
        for text in texts:
            ids = tok.encode(text)
            assert tok.pieces(ids) == fast.convert_ids_to_tokens(ids), (tok.name, text)
        assert tok.pieces([tok.bos_id, tok.eos_id]) == fast.convert_ids_to_tokens(
            [tok.bos_id, tok.eos_id]), tok.name


def test_piece_names_keep_markers_and_byte_pieces(spm_tokenizers, gpt2) -> None:
    # SentencePiece trained on Bengali spells Devanagari with byte pieces, named <0xE0>.
    bengali = spm_tokenizers["bengali"]
    pieces = bengali.pieces(bengali.encode("लड़कों"))
    assert pieces[0].startswith("▁") and "<0xE0>" in pieces
    assert "".join(pieces) != "▁लड़कों"
    # GPT-2 writes a space as Ġ and the UTF-8 bytes of ल (E0 A4 B2) as à, ¤, ²; bytes are
    # named in printable ASCII where they are ASCII.
    assert gpt2.pieces(gpt2.encode(" walked")) == ["Ġwalked"]
    assert "".join(gpt2.pieces(gpt2.encode("ल"))) == "à¤²"
    assert ByteTokenizer().pieces(list(b"a b")) == ["a", "Ġ", "b"]
    assert ByteTokenizer().pieces(list("ल".encode())) == ["à", "¤", "²"]
