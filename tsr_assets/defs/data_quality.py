"""`near_duplicates`, `contamination` and `corpus_quality` (language partitions): what the
training stories are made of, measured over every source a language has (generated and
translated), and the checks that report it."""

import json
import time
from datetime import UTC, datetime

import dagster as dg
import polars as pl
import pyarrow as pa
from pydantic import Field

from tsr_assets.core.atomic_files import write_json_atomic
from tsr_assets.core.lake import Lake
from tsr_assets.core.languages import get_language
from tsr_assets.core.warehouse import connect
from tsr_assets.data_quality.contamination import DEFAULT_NGRAM, measure_contamination
from tsr_assets.data_quality.corpus_metrics import corpus_metrics
from tsr_assets.data_quality.near_duplicates import (
    DEFAULT_NUM_PERM,
    DEFAULT_THRESHOLD,
    find_near_duplicates_in_batches,
)
from tsr_assets.defs.automation import after_inputs
from tsr_assets.defs.checks import lake_checks
from tsr_assets.defs.jobs import DATA_QUALITY_GROUP
from tsr_assets.defs.load_scope import current_scope, stage_definitions
from tsr_assets.defs.partitions import Partitions
from tsr_assets.defs.pools import DUCKDB_POOL
from tsr_assets.defs.resources import DataLakeResource, WarehouseResource
from tsr_assets.evaluation.openers import OpenersError, load_openers
from tsr_assets.prompts.wordlists import read_stored_wordlists
from tsr_assets.reports.markdown import markdown_table
from tsr_assets.stories.corpus import Corpus, corpus_of
from tsr_assets.tokenizers.token_bins import DEFAULT_VAL_SHARE, val_mask

#: A near-duplicate rate above this warns.
MAX_NEAR_DUPLICATE_RATE = 0.05


def language_corpus(lake: Lake, language: str) -> Corpus:
    """Every story store of a language (generated first, then translated), read in batches;
    a clear failure when there is no story at all."""
    corpus = corpus_of(lake, language, "both")
    if not any(corpus.stories_by_source().values()):
        raise dg.Failure(description=f"{language} has no stories: materialize `stories` (or "
                         f"`translated_stories`) for {language} first", allow_retries=False)
    return corpus


def _source_of(starts: dict[str, int], index: int) -> str:
    """The source of the story at corpus position `index`."""
    return next(source for source, start in reversed(starts.items()) if index >= start)


class NearDuplicatesConfig(dg.Config):
    """How similar two stories must be to count as near-duplicates."""

    threshold: float = Field(default=DEFAULT_THRESHOLD, gt=0.0, le=1.0,
                             description="Least Jaccard similarity of word 3-gram shingles.")
    num_perm: int = Field(default=DEFAULT_NUM_PERM, ge=16,
                          description="MinHash permutations (more: a finer estimate).")
    val_share: float = Field(default=DEFAULT_VAL_SHARE, ge=0, lt=1,
                             description="The train/val split whose straddling pairs count "
                             "as leakage (as in `token_bins`).")


class ContaminationConfig(dg.Config):
    """Which openers, and how long an n-gram counts as overlap."""

    ngram: int = Field(default=DEFAULT_NGRAM, ge=2, description="Words per n-gram.")
    openers_path: str | None = Field(default=None, description="An openers file of your own "
                                     "(one per line); empty: the packaged ones.")


def build_near_duplicates_asset(partitions: Partitions) -> dg.AssetsDefinition:
    """`near_duplicates` (language partitions)."""

    @dg.asset(code_version="1",
              partitions_def=partitions.language, deps=["stories", "translated_stories"],
              automation_condition=after_inputs(),
              group_name=DATA_QUALITY_GROUP, kinds={"python", "duckdb"}, pool=DUCKDB_POOL)
    def near_duplicates(context: dg.AssetExecutionContext, config: NearDuplicatesConfig,
                        data_lake: DataLakeResource,
                        warehouse: WarehouseResource) -> dg.MaterializeResult:
        """Clusters of near-duplicate stories (MinHash over word 3-gram shingles with LSH,
        Jaccard >= `threshold`, default 0.8) among all of the language's stories, generated
        and translated, in DuckDB `near_duplicates` (language, source, cluster, prompt_id,
        similarity to the cluster's first member). Pairs that straddle the train/val split
        are counted as leakage. `token_bins` with `dedup: near` keeps one story per cluster.
        """
        language, lake = context.partition_key, data_lake.lake
        corpus = language_corpus(lake, language)
        started = time.monotonic()
        found = find_near_duplicates_in_batches(corpus.story_arrays, config.threshold,
                                                config.num_perm)
        seconds = time.monotonic() - started
        similarity = found.similarity_to_first()
        members = sorted(i for m in found.clusters.values() for i in m)
        ids = dict(zip(members, corpus.column("prompt_id").take(
            pa.array(members, type=pa.int64())).to_pylist(), strict=True))
        starts = corpus.source_starts()
        now = datetime.now(UTC)
        rows = [{"language": language, "source": _source_of(starts, i),
                 "cluster": f"{language}:{ids[first]}", "prompt_id": ids[i], "position": i,
                 "similarity": similarity[i], "representative": i == first,
                 "threshold": config.threshold, "run_id": context.run.run_id,
                 "computed_at": now}
                for first, cluster in found.clusters.items() for i in cluster]
        frame = pl.DataFrame(rows, schema={
            "language": pl.String, "source": pl.String, "cluster": pl.String,
            "prompt_id": pl.String, "position": pl.Int64, "similarity": pl.Float64,
            "representative": pl.Boolean, "threshold": pl.Float64, "run_id": pl.String,
            "computed_at": pl.Datetime("us", "UTC")})
        warehouse.replace_rows("near_duplicates", {"language": language}, frame)
        in_val = dict(zip(members, val_mask([ids[i] for i in members], config.val_share).tolist(),
                          strict=True))
        leaking = int(sum(in_val[i] != in_val[j] for i, j in found.pairs.tolist()))
        summary = {"stories": found.stories, "clusters": len(found.clusters),
                   "extra_members": len(found.extra_members), "rate": found.rate,
                   "pairs": len(found.pairs), "leaking_pairs": leaking,
                   "candidates": found.candidates, "candidates_checked": found.prefiltered,
                   "val_share": config.val_share, "threshold": config.threshold,
                   "num_perm": config.num_perm, "bands": found.bands, "rows": found.rows,
                   "stories_by_source": {k: v for k, v in corpus.stories_by_source().items()
                                         if v},
                   "seconds": round(seconds, 3), "computed_at": now.isoformat()}
        write_json_atomic(lake.near_duplicates_file(language), summary)
        biggest = sorted(found.clusters.values(), key=len, reverse=True)[:5]
        preview = [[len(m), _source_of(starts, m[0]), ids[m[0]], found.snippets[m[0]][:80]]
                   for m in biggest]
        return dg.MaterializeResult(metadata={
            "stories": dg.MetadataValue.int(found.stories),
            "clusters": dg.MetadataValue.int(len(found.clusters)),
            "near_duplicate_rate": dg.MetadataValue.float(round(found.rate, 4)),
            "leaking_pairs": dg.MetadataValue.int(leaking),
            "candidates": dg.MetadataValue.int(found.candidates),
            "candidates_checked_exactly": dg.MetadataValue.int(found.prefiltered),
            "lsh": f"{found.bands} bands x {found.rows} rows of {config.num_perm} permutations",
            "seconds": dg.MetadataValue.float(round(seconds, 2)),
            "largest_clusters": dg.MetadataValue.md(markdown_table(
                preview, ["members", "source", "first prompt_id", "first story"],
                max_chars=80) if preview else "no near-duplicates"),
        })

    return near_duplicates


def build_contamination_asset(partitions: Partitions) -> dg.AssetsDefinition:
    """`contamination` (language partitions)."""

    @dg.asset(code_version="1",
              partitions_def=partitions.language, deps=["stories", "translated_stories"],
              automation_condition=after_inputs(),
              group_name=DATA_QUALITY_GROUP, kinds={"python", "duckdb"}, pool=DUCKDB_POOL)
    def contamination(context: dg.AssetExecutionContext, config: ContaminationConfig,
                      data_lake: DataLakeResource,
                      warehouse: WarehouseResource) -> dg.MaterializeResult:
        """How much of the evaluation openers the training stories already contain: per
        opener, its word `ngram`-grams (default 8) found in any generated or translated story,
        whether it appears in part (one n-gram) or in full (all), and in how many stories.
        DuckDB `contamination`; a check warns when any opener appears."""
        language, lake = context.partition_key, data_lake.lake
        corpus = language_corpus(lake, language)
        try:
            openers = [o.text for o in load_openers(get_language(language), config.openers_path)]
        except OpenersError as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from exc
        stories = (text for batch in corpus.story_texts() for text in batch)
        overlaps = measure_contamination(openers, stories, config.ngram)
        now = datetime.now(UTC)
        counts = corpus.stories_by_source()
        sources = ",".join(sorted(source for source, n in counts.items() if n))
        frame = pl.DataFrame([{
            "language": language, "opener_index": o.index, "opener": o.opener,
            "ngram": config.ngram, "ngrams": o.ngrams, "ngrams_found": o.ngrams_found,
            "share": o.share, "in_full": o.in_full, "in_part": o.in_part,
            "stories_matched": o.stories_matched, "sources": sources,
            "run_id": context.run.run_id, "computed_at": now} for o in overlaps])
        warehouse.replace_rows("contamination", {"language": language}, frame)
        hits = [[o.index, f"{o.ngrams_found}/{o.ngrams}", o.stories_matched, o.opener]
                for o in overlaps if o.in_part]
        return dg.MaterializeResult(metadata={
            "openers": dg.MetadataValue.int(len(overlaps)),
            "in_full": dg.MetadataValue.int(sum(o.in_full for o in overlaps)),
            "in_part": dg.MetadataValue.int(sum(o.in_part for o in overlaps)),
            "stories_scanned": dg.MetadataValue.int(sum(counts.values())),
            "contaminated_openers": dg.MetadataValue.md(markdown_table(
                hits[:20], ["opener", "n-grams found", "stories", "text"], max_chars=80)
                if hits else "none"),
        })

    return contamination


def build_corpus_quality_asset(partitions: Partitions) -> dg.AssetsDefinition:
    """`corpus_quality` (language partitions)."""

    @dg.asset(code_version="1",
              partitions_def=partitions.language, deps=["near_duplicates"],
              automation_condition=after_inputs(),
              group_name=DATA_QUALITY_GROUP, kinds={"python", "duckdb"}, pool=DUCKDB_POOL)
    def corpus_quality(context: dg.AssetExecutionContext, data_lake: DataLakeResource,
                       warehouse: WarehouseResource) -> dg.MaterializeResult:
        """Diversity of each source of the language's stories, one row per metric in DuckDB
        `corpus_metrics` (view `corpus_quality`): distinct-1/2/3, vocabulary size and growth
        (Heaps' exponent), zlib compression ratio, mean and spread of length in words, share
        of the word lists' words used, and the near-duplicate rate (see docs/data_quality.md)."""
        language, lake = context.partition_key, data_lake.lake
        corpus = language_corpus(lake, language)
        wordlist_file = lake.wordlists_file(language)
        lists = read_stored_wordlists(wordlist_file)["lists"] if wordlist_file.is_file() else {}
        wordlist = [w for key in ("nouns", "verbs", "adjectives") for w in lists.get(key, [])]
        clusters = warehouse.query(
            "SELECT source, count(*) - count(DISTINCT cluster) AS extra FROM near_duplicates "
            "WHERE language = ? GROUP BY source", [language])
        extra = dict(clusters.iter_rows()) if not clusters.is_empty() else {}
        now = datetime.now(UTC)
        rows, shown = [], []
        for source, total in corpus.stories_by_source().items():
            if not total:
                continue
            stories = (t for batch in corpus.story_texts(sources=[source]) for t in batch)
            metrics = corpus_metrics(stories, total, wordlist)
            metrics["near_duplicate_rate"] = extra.get(source, 0) / total
            rows += [{"language": language, "source": source, "metric": k, "value": float(v),
                      "run_id": context.run.run_id, "computed_at": now}
                     for k, v in metrics.items()]
            shown.append((source, metrics))
        warehouse.replace_rows("corpus_metrics", {"language": language}, pl.DataFrame(rows))
        names = list(shown[0][1])
        return dg.MaterializeResult(metadata={
            "metrics": dg.MetadataValue.md(markdown_table(
                [[name, *(round(m[name], 4) for _, m in shown)] for name in names],
                ["metric", *(source for source, _ in shown)])),
        })

    return corpus_quality


def build_data_quality_defs(partitions: Partitions) -> list:
    """The three assets and their checks."""
    near_duplicates = build_near_duplicates_asset(partitions)
    contamination = build_contamination_asset(partitions)
    return [near_duplicates, contamination, build_corpus_quality_asset(partitions),
            *lake_checks(near_duplicates, partitions.language, [near_duplicate_rate]),
            *lake_checks(contamination, partitions.language, [openers_not_in_training])]


def _summary(lake: Lake, language: str) -> dict:
    path = lake.near_duplicates_file(language)
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def near_duplicate_rate(lake: Lake, language: str) -> dg.AssetCheckResult:
    """Share of stories that are an extra member of a near-duplicate cluster (warns above
    5%), and near-duplicate pairs that straddle the train/val split (leakage)."""
    summary = _summary(lake, language)
    rate = summary.get("rate", 0.0)
    return dg.AssetCheckResult(
        passed=bool(summary) and rate <= MAX_NEAR_DUPLICATE_RATE,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"near_duplicate_rate": round(rate, 4),
                  "clusters": summary.get("clusters", 0),
                  "leaking_pairs": summary.get("leaking_pairs", 0),
                  "stories": summary.get("stories", 0)})


def openers_not_in_training(lake: Lake, language: str) -> dg.AssetCheckResult:
    """No evaluation opener appears (even in part) in the training stories (warns)."""
    with connect(lake.warehouse_file(), read_only=True) as con:
        in_part, in_full, openers = con.execute(
            "SELECT count(*) FILTER (in_part), count(*) FILTER (in_full), count(*) "
            "FROM contamination WHERE language = ?", [language]).fetchone()
    return dg.AssetCheckResult(
        passed=openers > 0 and in_part == 0, severity=dg.AssetCheckSeverity.WARN,
        metadata={"openers": openers, "in_part": in_part, "in_full": in_full})


@dg.definitions
def defs() -> dg.Definitions:
    """`near_duplicates`, `contamination` and `corpus_quality`, for the languages of this load."""
    return stage_definitions(build_data_quality_defs(current_scope().partitions()))
