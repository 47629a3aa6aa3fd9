"""The `tokenizer_stats` asset: how well each tokenizer fits each language, into DuckDB."""

from datetime import UTC, datetime

import dagster as dg
import polars as pl

from tsr_assets.assets.metadata_formatting import markdown_table
from tsr_assets.assets.tokenizers import partition_keys
from tsr_assets.partitions import Partitions
from tsr_assets.resources.data_lake import DataLakeResource
from tsr_assets.resources.warehouse import WarehouseResource
from tsr_assets.story_store import shard_files
from tsr_assets.tokenizers.stored_tokenizers import load_tokenizer
from tsr_assets.tokenizers.token_bins import iter_split_texts, open_bins, read_meta
from tsr_assets.tokenizers.tokenizer_stats import compute_tokenizer_stats

SHOWN_STATS = ("fertility", "chars_per_token", "bytes_per_token", "single_token_word_share",
               "vocab_used", "vocab_used_share", "fallback_rate", "renyi_entropy_bits",
               "renyi_efficiency")


def build_tokenizer_stats_defs(partitions: Partitions) -> list:
    """`tokenizer_stats`, partitioned by language x tokenizer."""

    @dg.asset(
        partitions_def=partitions.language_tokenizer,
        deps=["token_bins"],
        group_name="tokenizers",
        kinds={"duckdb"},
        pool="duckdb",
    )
    def tokenizer_stats(
        context: dg.AssetExecutionContext,
        data_lake: DataLakeResource,
        warehouse: WarehouseResource,
    ) -> dg.MaterializeResult:
        """Tokenizer fit on the val split, one row per partition in DuckDB `tokenizer_stats`.

        Fertility (tokens per word), characters and bytes per token, share of words that are
        one token, vocabulary used, byte-fallback/unknown rate, Rényi entropy at alpha 2.5 (in
        bits) and Rényi efficiency (entropy / log2 vocabulary). Re-materializing replaces the
        partition's row.
        """
        language, key = partition_keys(context)
        tok = load_tokenizer(data_lake.folder("tokenizer", language, key))
        bins = data_lake.folder("token_bins", language, key)
        meta = read_meta(bins)
        if meta["tokenizer"]["version"] != tok.version:
            raise dg.Failure(f"{bins}: bins were made with tokenizer {meta['tokenizer']['version']}"
                             f", the stored tokenizer is {tok.version}; re-materialize token_bins")
        texts = list(iter_split_texts(shard_files(data_lake.folder("stories", language)), "val",
                                      meta["val_share"]))
        if len(texts) != meta["splits"]["val"]["stories"]:
            made = meta["splits"]["val"]["stories"]
            raise dg.Failure(f"{bins}: {len(texts)} val stories now, {made} when the bins were "
                             "made; re-materialize token_bins")
        try:
            stats = compute_tokenizer_stats(tok, texts, open_bins(bins, "val", meta))
        except ValueError as exc:
            raise dg.Failure(f"tokenizer_stats {language}|{key}: {exc}") from exc
        row = {"language": language, "tokenizer": key, "tokenizer_name": tok.name,
               "tokenizer_version": tok.version, "split": "val", **stats,
               "run_id": context.run.run_id, "computed_at": datetime.now(UTC)}
        warehouse.replace_rows("tokenizer_stats", {"language": language, "tokenizer": key},
                               pl.DataFrame([row]))
        table = [[name, round(stats[name], 4) if isinstance(stats[name], float) else stats[name]]
                 for name in SHOWN_STATS]
        return dg.MaterializeResult(
            metadata={
                "stats": dg.MetadataValue.md(markdown_table(table, ["statistic", "value"])),
                **{name: dg.MetadataValue.float(float(stats[name])) for name in
                   ("fertility", "renyi_efficiency", "fallback_rate", "chars_per_token")},
                "val_stories": dg.MetadataValue.int(stats["stories"]),
                "warehouse": dg.MetadataValue.path(str(warehouse.file)),
            }
        )

    return [tokenizer_stats]
