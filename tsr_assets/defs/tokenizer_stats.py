"""`tokenizer_stats` (language x tokenizer): how well each tokenizer fits its language, one
row per partition in DuckDB `tokenizer_stats`, with the original study's MorphScore and Rényi
entropy in nats beside the platform's own statistics."""

import math
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import polars as pl
from pydantic import Field

from tsr_assets.defs.automation import chained
from tsr_assets.defs.jobs import TOKENIZERS_GROUP
from tsr_assets.defs.load_scope import current_scope, stage_definitions
from tsr_assets.defs.partitions import Partitions, partition_keys
from tsr_assets.defs.pools import DUCKDB_POOL
from tsr_assets.defs.resources import DataLakeResource, WarehouseResource
from tsr_assets.defs.tokenizers import load_tokenizer_or_fail, meta_corpus
from tsr_assets.reports.markdown import markdown_table
from tsr_assets.tokenizers.morphscore import (
    load_morph_gold,
    morph_score,
    morph_score_decoded,
    packaged_morph_gold,
    unmatchable_words,
)
from tsr_assets.tokenizers.token_bins import (
    iter_bin_chunks,
    iter_split_texts,
    read_dropped,
    read_meta,
)
from tsr_assets.tokenizers.tokenizer_stats import (
    PUBLISHED_ALPHAS,
    compute_tokenizer_stats,
    published_renyi,
    text_token_counts,
)

SHOWN_STATS = ("fertility", "chars_per_token", "bytes_per_token", "single_token_word_share",
               "vocab_used", "vocab_used_share", "fallback_rate", "renyi_entropy_bits",
               "renyi_efficiency", *PUBLISHED_ALPHAS.values(), "morphscore",
               "morph_words_scored", "morph_words_single_token", "morph_words_unmatchable",
               "morphscore_decoded", "morph_words_scored_decoded")
#: Unmatchable gold rows listed in the metadata; the rest are counted.
MAX_LISTED_UNMATCHABLE = 500


class TokenizerStatsConfig(dg.Config):
    """Where MorphScore's gold segmentations come from."""

    morph_gold_path: str | None = Field(
        default=None,
        description="A CSV with columns full_word,pt1,rest (extra columns are ignored) of gold "
                    "first-morpheme splits; default: the packaged list of the language "
                    "(tsr_assets/data/<language>/morph_gold.csv).")


def _morph_fields(config: TokenizerStatsConfig, language: str, tok) -> dict:
    """MorphScore of `tok` on the configured (or packaged) gold list, as the original defines
    it and decoded, with the rows that cannot match counted; NaN without a list."""
    path = (Path(config.morph_gold_path).expanduser() if config.morph_gold_path
            else packaged_morph_gold(language))
    if not path.is_file():
        if config.morph_gold_path:
            raise dg.Failure(f"tokenizer_stats: morph_gold_path {path} does not exist")
        return {"morphscore": math.nan, "morph_words_scored": 0,
                "morph_words_single_token": 0, "morph_words_unmatchable": 0,
                "morphscore_decoded": math.nan, "morph_words_scored_decoded": 0,
                "morph_gold": None}
    try:
        gold = load_morph_gold(path)
    except ValueError as exc:
        raise dg.Failure(f"tokenizer_stats {language}: {exc}") from exc
    morph, decoded = morph_score(tok, gold), morph_score_decoded(tok, gold)
    return {"morphscore": morph.score, "morph_words_scored": morph.words_scored,
            "morph_words_single_token": morph.words_single_token,
            "morph_words_unmatchable": morph.words_unmatchable,
            "morphscore_decoded": decoded.score,
            "morph_words_scored_decoded": decoded.words_scored, "morph_gold": str(path)}


def _unmatchable_metadata(gold_path: str | None) -> dict:
    """The gold rows whose pt1 + rest does not spell the word (they score 0), as a table
    with their line numbers; nothing when there are none."""
    rows = unmatchable_words(load_morph_gold(gold_path)) if gold_path else []
    if not rows:
        return {}
    table = [[word.line, word.full_word, word.pt1, word.rest, reason]
             for word, reason in rows[:MAX_LISTED_UNMATCHABLE]]
    more = (f"\n\n... and {len(rows) - MAX_LISTED_UNMATCHABLE} more"
            if len(rows) > MAX_LISTED_UNMATCHABLE else "")
    return {"morph_unmatchable_rows": dg.MetadataValue.md(markdown_table(
        table, ["line", "full_word", "pt1", "rest", "problem"]) + more)}


def _published_renyi_fields(tok, bins: Path, meta: dict) -> dict:
    """Rényi entropies in nats over train+val, bos/eos removed (the original's Table 6)."""
    stories = sum(meta["splits"][split]["stories"] for split in ("train", "val"))
    chunks = (ids for split in ("train", "val") for ids in iter_bin_chunks(bins, split, meta))
    counts = text_token_counts(chunks, stories, tok.vocab_size, tok.bos_id, tok.eos_id)
    return published_renyi(counts)


def _stats_metadata(stats: dict, warehouse: WarehouseResource) -> dict:
    """The statistics as a table, the headline ones as numbers (plots in the UI)."""
    table = [[name, round(stats[name], 4) if isinstance(stats[name], float) else stats[name]]
             for name in SHOWN_STATS]
    morph = {name: dg.MetadataValue.float(float(stats[name]))
             for name in ("morphscore", "morphscore_decoded") if not math.isnan(stats[name])}
    return {
        "stats": dg.MetadataValue.md(markdown_table(table, ["statistic", "value"])),
        **{name: dg.MetadataValue.float(float(stats[name])) for name in
           ("fertility", "renyi_efficiency", "fallback_rate", "chars_per_token",
            "renyi_nats_2_5")},
        **morph,
        "morph_words_unmatchable": dg.MetadataValue.int(stats["morph_words_unmatchable"]),
        **_unmatchable_metadata(stats["morph_gold"]),
        "morph_gold": dg.MetadataValue.text(stats["morph_gold"] or "none for this language"),
        "val_stories": dg.MetadataValue.int(stats["stories"]),
        "warehouse": dg.MetadataValue.path(str(warehouse.file)),
    }


def build_tokenizer_stats_asset(partitions: Partitions) -> dg.AssetsDefinition:
    """`tokenizer_stats`, one warehouse row per partition."""

    @dg.asset(
        # code version 2: Rényi in nats over train+val, MorphScore.
        # code version 3: MorphScore as the original defines it (piece names), the decoded
        # variant beside it.
        code_version="3",
        partitions_def=partitions.language_tokenizer,
        automation_condition=chained(partitions),
        deps=["token_bins"],
        group_name=TOKENIZERS_GROUP,
        kinds={"duckdb"},
        pool=DUCKDB_POOL,
    )
    def tokenizer_stats(
        context: dg.AssetExecutionContext,
        config: TokenizerStatsConfig,
        data_lake: DataLakeResource,
        warehouse: WarehouseResource,
    ) -> dg.MaterializeResult:
        """Tokenizer fit on the val split, one row per partition in DuckDB `tokenizer_stats`.

        Fertility (tokens per word), characters and bytes per token, share of words that are
        one token, vocabulary used, byte-fallback/unknown rate, Rényi entropy at alpha 2.5 (in
        bits) and Rényi efficiency (entropy / log2 vocabulary); as the original study
        publishes them, Rényi entropy in nats at alpha 0.5, 1, 2 and 2.5 over train+val, and
        MorphScore (share of gold words split exactly at their first morpheme boundary, on
        the packaged gold list or `morph_gold_path`). Re-materializing replaces the
        partition's row.
        """
        language, key = partition_keys(context)
        lake = data_lake.lake
        tok = load_tokenizer_or_fail(data_lake, language, key)
        bins = lake.bins_dir(language, key)
        meta = read_meta(bins)
        if meta["tokenizer"]["version"] != tok.version:
            raise dg.Failure(f"{bins}: bins were made with tokenizer {meta['tokenizer']['version']}"
                             f", the stored tokenizer is {tok.version}; re-materialize token_bins")
        texts = list(iter_split_texts(meta_corpus(lake, language, key).shards, "val",
                                      meta["val_share"], skip_ids=read_dropped(bins)))
        if len(texts) != meta["splits"]["val"]["stories"]:
            made = meta["splits"]["val"]["stories"]
            raise dg.Failure(f"{bins}: {len(texts)} val stories now, {made} when the bins were "
                             "made; re-materialize token_bins")
        try:
            stats = compute_tokenizer_stats(tok, texts, iter_bin_chunks(bins, "val", meta))
            stats.update(_published_renyi_fields(tok, bins, meta))
        except ValueError as exc:
            raise dg.Failure(f"tokenizer_stats {language}|{key}: {exc}") from exc
        stats.update(_morph_fields(config, language, tok))
        row = {"language": language, "tokenizer": key, "tokenizer_name": tok.name,
               "tokenizer_version": tok.version, "split": "val", **stats,
               "run_id": context.run.run_id, "computed_at": datetime.now(UTC)}
        warehouse.replace_rows("tokenizer_stats", {"language": language, "tokenizer": key},
                               pl.DataFrame([row]))
        return dg.MaterializeResult(metadata=_stats_metadata(stats, warehouse))

    return tokenizer_stats


@dg.definitions
def defs() -> dg.Definitions:
    """`tokenizer_stats`, for the partitions of this load."""
    return stage_definitions([build_tokenizer_stats_asset(current_scope().partitions())])
