"""The `tokenizer` and `token_bins` assets (language x tokenizer) and the bins round-trip check."""

import time
from typing import Literal

import dagster as dg
from pydantic import Field

from tsr_assets.assets.metadata_formatting import markdown_table
from tsr_assets.partitions import Partitions
from tsr_assets.resources.data_lake import DataLakeResource
from tsr_assets.story_store import shard_files
from tsr_assets.tokenizers.base import Tokenizer, TokenizerUnavailable
from tsr_assets.tokenizers.byte_tokenizer import ByteTokenizer
from tsr_assets.tokenizers.gpt2_tokenizer import GPT2Tokenizer
from tsr_assets.tokenizers.hf_tokenizer import HUB_TOKENIZERS, HFTokenizer, hub_source
from tsr_assets.tokenizers.spm_tokenizer import SentencePieceTokenizer, train_spm
from tsr_assets.tokenizers.stored_tokenizers import load_tokenizer, save_tokenizer
from tsr_assets.tokenizers.token_bins import (
    DEFAULT_BATCH_ROWS,
    DEFAULT_VAL_SHARE,
    count_ids,
    iter_split_texts,
    iter_story_batches,
    open_bins,
    read_meta,
    split_stories,
    write_token_bins,
)

VAL_SHARE_HELP = (
    "Share of stories (by a hash of prompt_id) held out for validation. Keep it equal in "
    "`tokenizer` and `token_bins`, so SentencePiece never trains on val stories."
)


class TokenizerConfig(dg.Config):
    """How the `spm` tokenizer is trained, and where hub tokenizers are loaded from."""

    vocab_size: int = Field(
        default=8192,
        description="SentencePiece vocabulary size (an upper bound: small corpora get fewer).",
    )
    model_type: Literal["unigram", "bpe"] = Field(default="unigram",
                                                  description="SentencePiece model type.")
    val_share: float = Field(default=DEFAULT_VAL_SHARE, description=VAL_SHARE_HELP)
    max_train_sentences: int = Field(
        default=2_000_000, description="At most this many paragraphs train SentencePiece."
    )
    local_path: str | None = Field(
        default=None,
        description="For sarvam/sutra: a local folder with the tokenizer files (else "
        "$TSR_SARVAM_TOKENIZER / $TSR_SUTRA_TOKENIZER, else the hub id).",
    )


class TokenBinsConfig(dg.Config):
    """How stories are split and batched into bins."""

    val_share: float = Field(default=DEFAULT_VAL_SHARE, description=VAL_SHARE_HELP)
    batch_rows: int = Field(default=DEFAULT_BATCH_ROWS, description="Stories encoded per batch.")
    workers: int = Field(
        default=0, ge=0,
        description="Threads that encode batches; 0 = one per CPU (at most 8).",
    )


def partition_keys(context) -> tuple[str, str]:
    """(language, tokenizer) of a language x tokenizer partition."""
    keys = context.partition_key.keys_by_dimension
    return keys["language"], keys["tokenizer"]


def _build_tokenizer(key: str, config: TokenizerConfig, story_shards: list,
                     log) -> tuple[Tokenizer, str]:
    if key == "spm":
        if not story_shards:
            raise dg.Failure("no stories to train SentencePiece on: materialize `stories` first")
        started = time.monotonic()
        proto = train_spm(iter_split_texts(story_shards, "train", config.val_share),
                          config.vocab_size, config.model_type, config.max_train_sentences)
        log(f"SentencePiece {config.model_type} trained in {time.monotonic() - started:.1f}s")
        return SentencePieceTokenizer(proto, model_type=config.model_type), "trained on stories"
    if key == "byte":
        return ByteTokenizer(), "utf-8"
    if key == "gpt2":
        tokenizer = GPT2Tokenizer()
        return tokenizer, tokenizer.source
    if key in HUB_TOKENIZERS:
        source = hub_source(key, config.local_path)
        return HFTokenizer.load(source, key), source
    raise dg.Failure(f"tokenizer partition {key!r} has no backend; known: spm, byte, gpt2, "
                     + ", ".join(HUB_TOKENIZERS))


def _pieces_preview(tokenizer: Tokenizer, text: str, limit: int = 24) -> str:
    ids = tokenizer.encode(text)[:limit]
    pieces = [tokenizer.decode([i]) for i in ids]
    return markdown_table([[i, repr(p)] for i, p in zip(ids, pieces, strict=True)],
                          ["id", "decodes to"])


def build_tokenizer_defs(partitions: Partitions) -> list:
    """`tokenizer`, `token_bins` and the bins round-trip check."""

    @dg.asset(
        partitions_def=partitions.language_tokenizer,
        deps=["stories"],
        group_name="tokenizers",
        kinds={"python"},
    )
    def tokenizer(
        context: dg.AssetExecutionContext, config: TokenizerConfig, data_lake: DataLakeResource
    ) -> dg.MaterializeResult:
        """The tokenizer of this partition, stored in the data lake for every later stage.

        `spm`: SentencePiece trained on this language's train split (unigram or BPE, byte
        fallback, bos 1 / eos 2). `byte`: UTF-8 bytes (bos 256, eos 257). `gpt2`: tiktoken's
        GPT-2 BPE from a local ranks file (`<|endoftext|>` is both bos and eos). `sarvam`,
        `sutra`: `transformers.AutoTokenizer` from a local folder or the hub, saved here.
        """
        language, key = partition_keys(context)
        shards = shard_files(data_lake.folder("stories", language))
        try:
            tok, source = _build_tokenizer(key, config, shards, context.log.info)
        except TokenizerUnavailable as exc:
            raise dg.Failure(description=f"tokenizer {language}|{key}: {exc}",
                             allow_retries=False) from exc
        folder = data_lake.folder("tokenizer", language, key)
        descriptor = save_tokenizer(tok, folder, source)
        sample = next(iter_split_texts(shards, "train", config.val_share), "") if shards else ""
        sample = sample.split("\n")[0][:120]
        return dg.MaterializeResult(
            metadata={
                "name": descriptor["name"],
                "version": descriptor["version"],
                "vocab_size": dg.MetadataValue.int(descriptor["vocab_size"]),
                "bos_id": dg.MetadataValue.int(descriptor["bos_id"]),
                "eos_id": dg.MetadataValue.int(descriptor["eos_id"]),
                "source": source,
                "path": dg.MetadataValue.path(str(folder)),
                "sample_pieces": dg.MetadataValue.md(
                    f"`{sample}`\n\n" + _pieces_preview(tok, sample) if sample else "(no stories)"
                ),
            }
        )

    @dg.asset(
        partitions_def=partitions.language_tokenizer,
        deps=["tokenizer", "stories"],
        group_name="tokenizers",
        kinds={"numpy"},
    )
    def token_bins(
        context: dg.AssetExecutionContext, config: TokenBinsConfig, data_lake: DataLakeResource
    ) -> dg.MaterializeResult:
        """`<bos> story <eos>` for every story, concatenated into `train.bin` and `val.bin`.

        nanoGPT's memmap format (`uint16` ids when the vocabulary fits, else `uint32`) plus
        `meta.json` (tokenizer, dtype, bos/eos, stories, tokens and UTF-8 bytes per split).
        The split is a hash of prompt_id, so it is stable as stories are added. Stories are
        encoded in batches (one thread per CPU) and streamed to disk; files are renamed into place
        when complete.
        """
        language, key = partition_keys(context)
        tok = _load_or_fail(data_lake, language, key)
        shards = shard_files(data_lake.folder("stories", language))
        if not shards:
            raise dg.Failure(f"no stories for {language}: materialize `stories` first")
        folder = data_lake.folder("token_bins", language, key)
        started = time.monotonic()
        try:
            meta = write_token_bins(tok, iter_story_batches(shards, config.batch_rows), folder,
                                    config.val_share, log=context.log.info,
                                    workers=config.workers or None)
        except ValueError as exc:
            raise dg.Failure(f"token_bins {language}|{key}: {exc}") from exc
        seconds = time.monotonic() - started
        splits = meta["splits"]
        total_tokens = sum(s["tokens"] for s in splits.values())
        rows = [[split, s["stories"], s["tokens"], s["bytes"],
                 round(s["tokens"] / s["stories"], 1) if s["stories"] else 0]
                for split, s in splits.items()]
        first = split_stories(open_bins(folder, "train", meta), tok.bos_id, tok.eos_id, 1)
        return dg.MaterializeResult(
            metadata={
                "splits": dg.MetadataValue.md(markdown_table(
                    rows, ["split", "stories", "tokens", "utf8_bytes", "tokens_per_story"])),
                "train_tokens": dg.MetadataValue.int(splits["train"]["tokens"]),
                "val_tokens": dg.MetadataValue.int(splits["val"]["tokens"]),
                "dtype": meta["dtype"],
                "vocab_size": dg.MetadataValue.int(tok.vocab_size),
                "tokenizer_version": tok.version,
                "tokens_per_second": dg.MetadataValue.float(round(total_tokens / seconds, 1)),
                "seconds": dg.MetadataValue.float(round(seconds, 2)),
                "path": dg.MetadataValue.path(str(folder)),
                "first_story_decoded": dg.MetadataValue.text(
                    tok.decode(first[0].tolist())[:400] if first else ""),
            }
        )

    @dg.asset_check(asset=token_bins, partitions_def=partitions.language_tokenizer)
    def token_bins_round_trip(
        context: dg.AssetCheckExecutionContext, data_lake: DataLakeResource
    ) -> dg.AssetCheckResult:
        """The first stories decode back from `train.bin` to their source text, and every
        story has exactly one bos and one eos."""
        language, key = partition_keys(context)
        folder = data_lake.folder("token_bins", language, key)
        tok = load_tokenizer(data_lake.folder("tokenizer", language, key))
        meta = read_meta(folder)
        shards = shard_files(data_lake.folder("stories", language))
        sources = []
        for text in iter_split_texts(shards, "train", meta["val_share"]):
            sources.append(text)
            if len(sources) == 5:
                break
        decoded = [tok.decode(ids.tolist()) for ids in
                   split_stories(open_bins(folder, "train", meta), tok.bos_id, tok.eos_id, 5)]
        mismatches = sum(a != b for a, b in zip(decoded, sources, strict=False))
        mismatches += abs(len(decoded) - len(sources))
        framing_ok = True
        counted = {}
        for split in ("train", "val"):
            stories = meta["splits"][split]["stories"]
            counts = count_ids(open_bins(folder, split, meta), [tok.bos_id, tok.eos_id])
            counted[split] = counts
            expected = ({tok.bos_id: 2 * stories} if tok.bos_id == tok.eos_id
                        else {tok.bos_id: stories, tok.eos_id: stories})
            framing_ok &= counts == expected
        return dg.AssetCheckResult(
            passed=mismatches == 0 and framing_ok,
            metadata={
                "stories_compared": len(decoded),
                "mismatches": mismatches,
                "framing_ok": framing_ok,
                "bos_eos_counts": dg.MetadataValue.json(
                    {s: {str(k): v for k, v in c.items()} for s, c in counted.items()}),
            },
        )

    return [tokenizer, token_bins, token_bins_round_trip]


def _load_or_fail(data_lake: DataLakeResource, language: str, key: str) -> Tokenizer:
    try:
        return load_tokenizer(data_lake.folder("tokenizer", language, key))
    except (FileNotFoundError, ValueError) as exc:
        raise dg.Failure(f"{language}|{key}: {exc}") from exc
