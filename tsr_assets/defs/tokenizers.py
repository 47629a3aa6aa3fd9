"""`tokenizer`, `token_bins` and `tokenizer_stats` (language x tokenizer partitions), and the
bins round-trip check. Which tokenizers exist is the registry's (`tokenizers/registry.py`)."""

import json
import time
from typing import Literal

import dagster as dg
from pydantic import Field

from tsr_assets.core.lake import DEFAULT_CORPUS, CorpusName, Lake
from tsr_assets.data_quality.deduplication import Dedup, exact_duplicate_ids, near_duplicate_ids
from tsr_assets.defs.automation import chained
from tsr_assets.defs.checks import lake_checks, require_passing_checks
from tsr_assets.defs.dataclass_config import dataclass_kwargs
from tsr_assets.defs.jobs import TOKENIZERS_GROUP
from tsr_assets.defs.load_scope import current_scope, stage_definitions
from tsr_assets.defs.partitions import Partitions, partition_keys
from tsr_assets.defs.resources import DataLakeResource, WarehouseResource
from tsr_assets.reports.markdown import markdown_table
from tsr_assets.stories.corpus import SOURCE_ASSETS, Corpus, corpus_of
from tsr_assets.tokenizers.base import (
    BuildInputs,
    Tokenizer,
    TokenizerSettings,
    TokenizerUnavailable,
)
from tsr_assets.tokenizers.registry import get_backend, load_tokenizer, save_tokenizer
from tsr_assets.tokenizers.spm_tokenizer import MIN_SPM_VOCAB
from tsr_assets.tokenizers.token_bins import (
    DEFAULT_BATCH_ROWS,
    DEFAULT_VAL_SHARE,
    iter_split_texts,
    iter_story_batches,
    open_bins,
    read_meta,
    round_trip,
    split_stories,
    write_dropped,
    write_token_bins,
)

CORPUS_HELP = (
    "Stories to build on: `generated` (the `stories` asset, default), `translated` "
    "(`translated_stories`) or `both`. Keep it equal in `tokenizer` and `token_bins`."
)
VAL_SHARE_HELP = (
    "Share of stories (by a hash of prompt_id) held out for validation. Keep it equal in "
    "`tokenizer` and `token_bins`, so SentencePiece never trains on val stories."
)
DEFAULT_SETTINGS = TokenizerSettings()
#: The assets this module defines, in chain order.
TOKENIZER_ASSETS = ("tokenizer", "token_bins", "tokenizer_stats")


class TokenizerConfig(dg.Config):
    """How the `spm` tokenizer is trained, and where hub tokenizers are loaded from."""

    corpus: CorpusName = Field(default=DEFAULT_CORPUS, description=CORPUS_HELP)
    vocab_size: int = Field(
        default=DEFAULT_SETTINGS.vocab_size, ge=MIN_SPM_VOCAB,
        description="SentencePiece vocabulary size (an upper bound: small corpora get fewer).",
    )
    model_type: Literal["unigram", "bpe"] = Field(default=DEFAULT_SETTINGS.model_type,
                                                  description="SentencePiece model type.")
    val_share: float = Field(default=DEFAULT_VAL_SHARE, ge=0, lt=1, description=VAL_SHARE_HELP)
    max_train_sentences: int = Field(
        default=DEFAULT_SETTINGS.max_train_sentences, ge=1,
        description="At most this many paragraphs train SentencePiece.",
    )
    max_train_stories: int = Field(
        default=DEFAULT_SETTINGS.max_train_stories, ge=1,
        description="SentencePiece trains on a seeded sample of about this many train "
        "stories (all of them when there are fewer), which bounds its memory: about 2 GB "
        "at 100,000 stories.",
    )
    sample_seed: int = Field(default=DEFAULT_SETTINGS.sample_seed,
                             description="Seed of that sample (a hash of it and the prompt_id).")
    local_path: str | None = Field(
        default=None,
        description="For sarvam/sutra: a local folder with the tokenizer files (else "
        "$TSR_SARVAM_TOKENIZER / $TSR_SUTRA_TOKENIZER, else the hub id).",
    )

    def settings(self) -> TokenizerSettings:
        """The backend-facing settings."""
        return TokenizerSettings(**dataclass_kwargs(self, TokenizerSettings))


class TokenBinsConfig(dg.Config):
    """Which stories, and how they are split and batched into bins."""

    corpus: CorpusName = Field(default=DEFAULT_CORPUS, description=CORPUS_HELP)
    dedup: Dedup = Field(
        default="none", description="Leave out duplicates: `exact` (a text an earlier story "
        "has), `near` (all but one member of each near-duplicate cluster; materialize "
        "`near_duplicates` first). Recorded in meta.json with the count left out.")
    val_share: float = Field(default=DEFAULT_VAL_SHARE, ge=0, lt=1, description=VAL_SHARE_HELP)
    batch_rows: int = Field(default=DEFAULT_BATCH_ROWS, ge=1,
                            description="Stories encoded per batch.")
    workers: int = Field(
        default=0, ge=0,
        description="Threads that encode batches; 0 = one per CPU (at most 8).",
    )


def _pieces_preview(tokenizer: Tokenizer, text: str, limit: int = 24) -> str:
    ids = tokenizer.encode(text)[:limit]
    pieces = [tokenizer.decode([i]) for i in ids]
    return markdown_table([[i, repr(p)] for i, p in zip(ids, pieces, strict=True)],
                          ["id", "decodes to"])


def load_tokenizer_or_fail(data_lake: DataLakeResource, language: str, key: str) -> Tokenizer:
    try:
        return load_tokenizer(data_lake.lake.tokenizer_dir(language, key))
    except (FileNotFoundError, ValueError) as exc:
        raise dg.Failure(f"{language}|{key}: {exc}") from exc


def _corpus_or_fail(context: dg.AssetExecutionContext, lake: Lake, language: str,
                    name: str) -> Corpus:
    """The chosen corpus, after the blocking checks of each of its sources passed; a clear
    error when a source has no stories."""
    corpus = corpus_of(lake, language, name)
    missing = corpus.missing_sources()
    if missing:
        assets = " and ".join(f"`{SOURCE_ASSETS[m]}`" for m in missing)
        raise dg.Failure(description=f"corpus {name!r} of {language}: no {' or '.join(missing)} "
                         f"stories; materialize {assets} for {language} first, or choose "
                         "another corpus", allow_retries=False)
    for source in corpus.shards_by_source:
        require_passing_checks(context, SOURCE_ASSETS[source], language)
    return corpus


def _dropped_ids(lake: Lake, warehouse: WarehouseResource, language: str, corpus: Corpus,
                 dedup: str) -> set[str]:
    """The prompt_ids `dedup` leaves out of this corpus's bins."""
    if dedup == "exact":
        return exact_duplicate_ids(corpus)
    if dedup != "near":
        return set()
    summary = lake.near_duplicates_file(language)
    if not summary.is_file():
        raise dg.Failure(description=f"dedup near for {language}: no near-duplicate scan yet; "
                         f"materialize `near_duplicates` for {language} first",
                         allow_retries=False)
    scanned = json.loads(summary.read_text(encoding="utf-8"))["stories_by_source"]
    now = corpus.stories_by_source()
    stale = {s: (scanned.get(s, 0), n) for s, n in now.items() if scanned.get(s, 0) != n}
    if stale:
        detail = ", ".join(f"{s}: {a:,} scanned, {b:,} now" for s, (a, b) in stale.items())
        raise dg.Failure(description=f"dedup near for {language}: the near-duplicate scan is "
                         f"older than the stories ({detail}); re-materialize `near_duplicates` "
                         f"for {language}", allow_retries=False)
    clusters = warehouse.query("SELECT source, cluster, prompt_id, position FROM "
                               "near_duplicates WHERE language = ?", [language])
    return near_duplicate_ids(clusters, corpus.shards_by_source) if clusters.height else set()


def meta_corpus(lake: Lake, language: str, tokenizer: str) -> Corpus:
    """The corpus the partition's bins were made from (older bins: generated)."""
    meta = read_meta(lake.bins_dir(language, tokenizer))
    return corpus_of(lake, language, meta.get("corpus", DEFAULT_CORPUS))


def build_tokenizer_asset(partitions: Partitions) -> dg.AssetsDefinition:
    """`tokenizer`: built by the partition's registered backend and stored in the lake."""

    @dg.asset(
        code_version="1",
        partitions_def=partitions.language_tokenizer,
        automation_condition=chained(partitions),
        deps=["stories", "translated_stories"],
        group_name=TOKENIZERS_GROUP,
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
        Other registered backends build their own way.
        """
        with data_lake.writing_partition_of(context):
            language, key = partition_keys(context)
            corpus = _corpus_or_fail(context, data_lake.lake, language, config.corpus)
            shards = corpus.shards
            train_stories = sum(corpus.stories_by_source().values()) * (1 - config.val_share)
            share = min(1.0, config.max_train_stories / max(train_stories, 1.0))
            sampled = {"stories": 0}

            def train_texts():
                for text in iter_split_texts(shards, "train", config.val_share,
                                             sample_share=share, sample_seed=config.sample_seed):
                    sampled["stories"] += 1
                    yield text

            inputs = BuildInputs(key, train_texts, config.settings(), context.log.info)
            try:
                tok, source = get_backend(key).build(inputs)
            except TokenizerUnavailable as exc:
                raise dg.Failure(description=f"tokenizer {language}|{key}: {exc}",
                                 allow_retries=False) from exc
            except ValueError as exc:
                raise dg.Failure(f"tokenizer {language}|{key}: {exc}; materialize `stories` for "
                                 f"{language} first if it has none") from exc
            folder = data_lake.lake.tokenizer_dir(language, key)
            descriptor = save_tokenizer(tok, folder, source)
            sample = next(iter_split_texts(shards, "train", config.val_share), "") if shards else ""
            sample = sample.split("\n")[0][:120]
            return dg.MaterializeResult(metadata={
                "corpus": config.corpus,
                "name": descriptor["name"],
                "version": descriptor["version"],
                "vocab_size": dg.MetadataValue.int(descriptor["vocab_size"]),
                "bos_id": dg.MetadataValue.int(descriptor["bos_id"]),
                "eos_id": dg.MetadataValue.int(descriptor["eos_id"]),
                "source": source,
                **({"trained_on_stories": dg.MetadataValue.int(sampled["stories"]),
                    "train_sample_share": dg.MetadataValue.float(round(share, 6))}
                   if sampled["stories"] else {}),
                "path": dg.MetadataValue.path(str(folder)),
                "sample_pieces": dg.MetadataValue.md(
                    f"`{sample}`\n\n" + _pieces_preview(tok, sample) if sample else "(no stories)"),
            })

    return tokenizer


def _bins_metadata(tok: Tokenizer, meta: dict, folder, seconds: float) -> dict:
    """What `token_bins` shows in the UI, from the bins' `meta.json`."""
    splits = meta["splits"]
    rows = [[split, s["stories"], s["tokens"], s["bytes"],
             round(s["tokens"] / s["stories"], 1) if s["stories"] else 0]
            for split, s in splits.items()]
    first = split_stories(open_bins(folder, "train", meta), tok.bos_id, tok.eos_id, 1)
    return {
        "corpus": meta["corpus"],
        "stories_by_source": dg.MetadataValue.json(meta["stories_by_source"]),
        "dedup": meta["dedup"],
        "dropped_duplicates": dg.MetadataValue.int(meta["dropped_duplicates"]),
        "splits": dg.MetadataValue.md(markdown_table(
            rows, ["split", "stories", "tokens", "utf8_bytes", "tokens_per_story"])),
        "train_tokens": dg.MetadataValue.int(splits["train"]["tokens"]),
        "val_tokens": dg.MetadataValue.int(splits["val"]["tokens"]),
        "dtype": meta["dtype"],
        "vocab_size": dg.MetadataValue.int(tok.vocab_size),
        "tokenizer_version": tok.version,
        "tokens_per_second": dg.MetadataValue.float(
            round(sum(s["tokens"] for s in splits.values()) / seconds, 1)),
        "seconds": dg.MetadataValue.float(round(seconds, 2)),
        "path": dg.MetadataValue.path(str(folder)),
        "first_story_decoded": dg.MetadataValue.text(
            tok.decode(first[0].tolist())[:400] if first else ""),
    }


def build_token_bins_defs(partitions: Partitions) -> list:
    """`token_bins` and its round-trip check."""

    @dg.asset(
        # code version 2: stories_by_source records the languages translations came from.
        code_version="2",
        partitions_def=partitions.language_tokenizer,
        automation_condition=chained(partitions),
        deps=["tokenizer", "stories", "translated_stories"],
        group_name=TOKENIZERS_GROUP,
        kinds={"numpy"},
    )
    def token_bins(
        context: dg.AssetExecutionContext, config: TokenBinsConfig, data_lake: DataLakeResource,
        warehouse: WarehouseResource,
    ) -> dg.MaterializeResult:
        """`<bos> story <eos>` for every story, concatenated into `train.bin` and `val.bin`.

        nanoGPT's memmap format (`uint16` ids when the vocabulary fits, else `uint32`) plus
        `meta.json` (tokenizer, dtype, bos/eos, stories, tokens and UTF-8 bytes per split).
        The split is a hash of prompt_id, so it is stable as stories are added. `corpus`
        picks the stories (generated, translated or both) and `dedup` leaves duplicates out;
        both are recorded in `meta.json`. Stories are
        encoded in batches (one thread per CPU) and streamed to disk; files are renamed into place
        when complete.
        """
        with data_lake.writing_partition_of(context):
            language, key = partition_keys(context)
            tok = load_tokenizer_or_fail(data_lake, language, key)
            corpus = _corpus_or_fail(context, data_lake.lake, language, config.corpus)
            dropped = _dropped_ids(data_lake.lake, warehouse, language, corpus, config.dedup)
            folder = data_lake.lake.bins_dir(language, key)
            started = time.monotonic()
            try:
                batches = iter_story_batches(corpus.shards, config.batch_rows, dropped)
                meta = write_token_bins(tok, batches, folder, config.val_share,
                                        log=context.log.info, workers=config.workers or None,
                                        extra_meta={"corpus": corpus.name,
                                                    "stories_by_source":
                                                        corpus.provenance(),
                                                    "dedup": config.dedup,
                                                    "dropped_duplicates": len(dropped)})
                write_dropped(folder, dropped)
            except ValueError as exc:
                raise dg.Failure(f"token_bins {language}|{key}: {exc}") from exc
            return dg.MaterializeResult(
                metadata=_bins_metadata(tok, meta, folder, time.monotonic() - started))

    return [token_bins, *lake_checks(token_bins, partitions.language_tokenizer,
                                     [token_bins_round_trip])]


def token_bins_round_trip(lake: Lake, key: dg.MultiPartitionKey) -> dg.AssetCheckResult:
    """The first stories decode back from `train.bin` to their source text, and every
    story has exactly one bos and one eos."""
    language, tokenizer = key.keys_by_dimension["language"], key.keys_by_dimension["tokenizer"]
    report = round_trip(lake.bins_dir(language, tokenizer),
                        load_tokenizer(lake.tokenizer_dir(language, tokenizer)),
                        meta_corpus(lake, language, tokenizer).shards)
    return dg.AssetCheckResult(
        passed=report["mismatches"] == 0 and report["framing_ok"],
        metadata={
            "stories_compared": report["stories_compared"],
            "mismatches": report["mismatches"],
            "framing_ok": report["framing_ok"],
            "bos_eos_counts": dg.MetadataValue.json(
                {s: {str(k): v for k, v in c.items()}
                 for s, c in report["bos_eos_counts"].items()}),
        },
    )


def build_tokenizers_defs(partitions: Partitions) -> list:
    """The `tokenizer` and `token_bins` assets and their checks (`tokenizer_stats` is in
    `defs/tokenizer_stats.py`)."""
    return [build_tokenizer_asset(partitions), *build_token_bins_defs(partitions)]


@dg.definitions
def defs() -> dg.Definitions:
    """`tokenizer` and `token_bins` with its checks, for the partitions of this load."""
    return stage_definitions(build_tokenizers_defs(current_scope().partitions()))
