"""Token bins: split stability, streaming output, dtype, meta and read-back."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from tsr_assets.tokenizers.base import Tokenizer, frame_ids
from tsr_assets.tokenizers.byte_tokenizer import ByteTokenizer
from tsr_assets.tokenizers.gpt2_tokenizer import GPT2Tokenizer
from tsr_assets.tokenizers.hf_tokenizer import HFTokenizer
from tsr_assets.tokenizers.spm_tokenizer import SentencePieceTokenizer, train_spm
from tsr_assets.tokenizers.token_bins import (
    count_ids,
    iter_bin_chunks,
    iter_split_texts,
    iter_story_batches,
    open_bins,
    read_meta,
    sample_mask,
    split_stories,
    val_mask,
    write_token_bins,
)
from tsr_assets_tests.tokenizers.corpus import stories
from tsr_assets_tests.tokenizers.hf_fixture import train_hf_tokenizer


def _shards(folder: Path, texts: list[str], per_shard: int = 25) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n, start in enumerate(range(0, len(texts), per_shard)):
        path = folder / f"part-{n:04d}.parquet"
        chunk = texts[start:start + per_shard]
        pl.DataFrame({"prompt_id": [f"p{start + i:06d}" for i in range(len(chunk))],
                      "story": chunk}).write_parquet(path)
        paths.append(path)
    return paths


def test_split_is_stable_when_stories_are_added() -> None:
    ids = [f"{i:016x}" for i in range(20_000)]
    before = val_mask(ids[:5_000], 0.025)
    after = val_mask(ids, 0.025)
    np.testing.assert_array_equal(after[:5_000], before)
    assert 0.02 < after.mean() < 0.03
    assert not val_mask(ids, 0.0).any()
    with pytest.raises(ValueError, match="val_share"):
        val_mask(ids, 1.0)


def test_a_tokenizer_sample_is_seeded_stable_and_in_corpus_order(tmp_path: Path) -> None:
    """The stories a tokenizer trains on: about the asked share of the train split, the same
    for the same seed, another for another seed, kept in order, and all of them at share 1."""
    texts = [f"कहानी {i} " * 3 for i in range(2_000)]
    shards = _shards(tmp_path / "s", texts, per_shard=300)
    train = list(iter_split_texts(shards, "train", 0.1))
    half = list(iter_split_texts(shards, "train", 0.1, sample_share=0.25, sample_seed=7))
    assert half == list(iter_split_texts(shards, "train", 0.1, sample_share=0.25,
                                         sample_seed=7))
    other = list(iter_split_texts(shards, "train", 0.1, sample_share=0.25, sample_seed=8))
    assert 0.2 * len(train) < len(half) < 0.3 * len(train) and half != other
    position = {text: i for i, text in enumerate(train)}
    assert [position[t] for t in half] == sorted(position[t] for t in half)
    assert list(iter_split_texts(shards, "train", 0.1, sample_share=1.0)) == train
    ids = [f"p{i:06d}" for i in range(2_000)]
    assert np.array_equal(sample_mask(ids[:500], 0.25, 7), sample_mask(ids, 0.25, 7)[:500])


def test_split_is_the_documented_hash_rule() -> None:
    """blake2b-64 of the prompt_id, little-endian, below share x 2**64: existing bins keep it."""
    ids = [f"story-{i}" for i in range(2_000)]
    rule = [int.from_bytes(hashlib.blake2b(p.encode(), digest_size=8).digest(), "little")
            < int(0.1 * 2**64) for p in ids]
    assert val_mask(ids, 0.1).tolist() == rule
    assert 150 < sum(rule) < 250


def _tokenizer(kind: str, folder: Path, texts: list[str]) -> Tokenizer:
    if kind == "gpt2":
        return GPT2Tokenizer()
    if kind == "spm":
        return SentencePieceTokenizer(train_spm(texts, vocab_size=1500))
    if kind == "hf":
        train_hf_tokenizer(texts, folder / "hf")
        return HFTokenizer.load(str(folder / "hf"))
    return ByteTokenizer()


@pytest.mark.parametrize("kind", ["gpt2", "spm", "hf", "byte"])
@pytest.mark.parametrize("workers", [1, 3])
def test_threaded_encoding_writes_the_ids_of_plain_encoding(
    tmp_path: Path, workers: int, kind: str
) -> None:
    texts = [s for lang in ("hindi", "bengali") for s in stories(lang)]
    texts[3] = "  leading, double  and trailing spaces "
    tok = _tokenizer(kind, tmp_path, texts)
    shards = _shards(tmp_path / "stories", texts, per_shard=9)
    reference = frame_ids(tok.encode_batch(texts), tok.bos_id, tok.eos_id)
    in_val = val_mask([f"p{start + i:06d}" for start in range(0, len(texts), 9)
                       for i in range(len(texts[start:start + 9]))], 0.2)
    meta = write_token_bins(tok, iter_story_batches(shards, batch_rows=4), tmp_path / "b", 0.2,
                            workers=workers)
    stories_back = {split: split_stories(open_bins(tmp_path / "b", split, meta), tok.bos_id,
                                         tok.eos_id) for split in ("train", "val")}
    plain = split_stories(reference, tok.bos_id, tok.eos_id)
    for split, wanted in (("train", ~in_val), ("val", in_val)):
        expected = [ids for ids, keep in zip(plain, wanted, strict=True) if keep]
        assert [s.tolist() for s in stories_back[split]] == [e.tolist() for e in expected]
        assert meta["splits"][split]["bytes"] == sum(
            len(t.encode()) for t, keep in zip(texts, wanted, strict=True) if keep)


def test_bins_hold_every_story_once_with_counts_in_meta(tmp_path: Path) -> None:
    texts = list(stories("hindi"))
    shards = _shards(tmp_path / "stories", texts)
    tok = ByteTokenizer()
    meta = write_token_bins(tok, iter_story_batches(shards, batch_rows=16), tmp_path / "bins",
                            val_share=0.2)
    assert meta == read_meta(tmp_path / "bins")
    assert meta["dtype"] == "uint16" and meta["tokenizer"]["version"] == tok.version
    splits = meta["splits"]
    assert splits["train"]["stories"] + splits["val"]["stories"] == len(texts)
    assert splits["val"]["stories"] > 0
    for split in ("train", "val"):
        expected = list(iter_split_texts(shards, split, 0.2))
        ids = open_bins(tmp_path / "bins", split)
        assert ids.size == splits[split]["tokens"]
        assert splits[split]["bytes"] == sum(len(t.encode()) for t in expected)
        decoded = [tok.decode(s.tolist()) for s in split_stories(ids, tok.bos_id, tok.eos_id)]
        assert decoded == expected
        chunks = list(iter_bin_chunks(tmp_path / "bins", split, chunk=1000))
        assert np.array_equal(np.concatenate(chunks), ids) and len(chunks) > 1
        assert max(c.size for c in chunks) == 1000
        assert count_ids(chunks, [tok.bos_id, tok.eos_id]) == {
            tok.bos_id: len(expected), tok.eos_id: len(expected)}
    assert not list((tmp_path / "bins").glob(".*tmp*"))


def test_gpt2_bins_frame_with_endoftext_on_both_sides(tmp_path: Path) -> None:
    texts = list(stories("bengali")[:12])
    tok = GPT2Tokenizer()
    write_token_bins(tok, iter_story_batches(_shards(tmp_path / "s", texts)), tmp_path / "b", 0.0)
    ids = open_bins(tmp_path / "b", "train")
    assert count_ids([ids], [50256, 50256]) == {50256: 24}
    assert [tok.decode(s.tolist()) for s in split_stories(ids, 50256, 50256)] == texts


class WideVocabulary(Tokenizer):
    """A tokenizer with 70,000 ids (like many HF tokenizers): bytes shifted up by 65,000."""

    kind = "test"

    name = "wide"  # type: ignore[assignment]
    version = "wide-1"  # type: ignore[assignment]
    vocab_size = 70_000  # type: ignore[assignment]
    bos_id = 69_998  # type: ignore[assignment]
    eos_id = 69_999  # type: ignore[assignment]

    def encode_batch(self, texts):
        return [[65_000 + b for b in t.encode()] for t in texts]

    def decode(self, ids):
        return bytes(i - 65_000 for i in ids if i < 69_998).decode()

    def fallback_mask(self):
        return np.zeros(self.vocab_size, dtype=bool)


def test_vocabulary_past_uint16_gets_uint32_bins(tmp_path: Path) -> None:
    texts = list(stories("marathi")[:5])
    meta = write_token_bins(WideVocabulary(), iter_story_batches(_shards(tmp_path / "s", texts)),
                            tmp_path / "b", 0.0)
    assert meta["dtype"] == "uint32"
    ids = open_bins(tmp_path / "b", "train")
    assert ids.dtype == np.uint32 and int(ids.max()) == 69_999
    assert (tmp_path / "b" / "train.bin").stat().st_size == 4 * meta["splits"]["train"]["tokens"]


def test_truncated_bins_are_reported_not_read(tmp_path: Path) -> None:
    write_token_bins(ByteTokenizer(), iter_story_batches(_shards(tmp_path / "s", ["कहानी"] * 3)),
                     tmp_path / "b", 0.0)
    path = tmp_path / "b" / "train.bin"
    path.write_bytes(path.read_bytes()[:-2])
    with pytest.raises(ValueError, match="re-materialize `token_bins`"):
        open_bins(tmp_path / "b", "train")
    with pytest.raises(FileNotFoundError, match="token_bins"):
        read_meta(tmp_path / "missing")


def test_failed_encoding_leaves_previous_bins_whole(tmp_path: Path) -> None:
    shards = _shards(tmp_path / "s", list(stories("hindi")[:10]))
    write_token_bins(ByteTokenizer(), iter_story_batches(shards), tmp_path / "b", 0.0)
    before = (tmp_path / "b" / "train.bin").read_bytes()

    def broken_batches():
        yield from iter_story_batches(shards, batch_rows=4)
        raise OSError("disk went away")

    with pytest.raises(OSError, match="disk went away"):
        write_token_bins(ByteTokenizer(), broken_batches(), tmp_path / "b", 0.0)
    assert (tmp_path / "b" / "train.bin").read_bytes() == before
    meta = json.loads((tmp_path / "b" / "meta.json").read_text())
    assert meta["splits"]["train"]["stories"] == 10
    assert not list((tmp_path / "b").glob(".*tmp*"))
