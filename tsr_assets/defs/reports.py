"""The `reports` asset: tokenizer and size comparisons from the warehouse, as tables and plots."""

import json
from collections.abc import Sequence

import dagster as dg

from tsr_assets.core.lake import preset_asset
from tsr_assets.core.languages import language_keys
from tsr_assets.defs.jobs import REPORTS_GROUP
from tsr_assets.defs.resources import DataLakeResource, WarehouseResource
from tsr_assets.reports.report import (
    agreement_section,
    comparison_sections,
    data_section,
    loss_curve_sections,
    story_sources,
    write_report,
)


def build_reports_defs(presets: Sequence[str]) -> list[dg.AssetsDefinition]:
    """The unpartitioned `reports` asset over every preset's judge scores."""

    @dg.asset(
        deps=[*(preset_asset("judge_scores", p) for p in presets),
              *(preset_asset("checkpoint", p) for p in presets), "tokenizer_stats"],
        group_name=REPORTS_GROUP,
        kinds={"duckdb", "markdown"},
    )
    def reports(
        context: dg.AssetExecutionContext,
        data_lake: DataLakeResource,
        warehouse: WarehouseResource,
    ) -> dg.MaterializeResult:
        """Opens with the data: per language and source, size, diversity, near-duplicate
        rate, train/val leakage and contamination of the openers. Then tokenizer and size
        comparison tables (mean, n and 95% CI of every judge metric,
        val loss, bits per byte, parameters, fertility, Rényi efficiency) and plots (loss
        curves by preset, metric bars with intervals by tokenizer and by size), from the
        DuckDB views `tokenizer_comparison` and `size_comparison`. Written to
        `<data lake>/reports/` (report.md and PNGs) and shown here."""
        tokenizers = warehouse.query(
            "SELECT * FROM tokenizer_comparison ORDER BY judge, preset, language, tokenizer")
        sizes = warehouse.query(
            "SELECT * FROM size_comparison ORDER BY judge, tokenizer, language, parameters")
        if tokenizers.is_empty():
            raise dg.Failure("no judge scores in the warehouse yet: materialize samples_<preset> "
                             "and judge_scores_<preset> for at least one partition first")
        lake = data_lake.lake
        rubrics = dict(warehouse.query(
            "SELECT judge, string_agg(DISTINCT rubric_hash, ', ') FROM judge_scores "
            "WHERE rubric_hash IS NOT NULL GROUP BY judge").rows())
        sections = [*comparison_sections(tokenizers, sizes, rubrics), *loss_curve_sections(lake)]
        sources = story_sources(lake, tokenizers["language"].unique().sort().to_list())
        data = data_section(
            warehouse.query("SELECT * FROM corpus_quality ORDER BY language, source"),
            warehouse.query("SELECT language, count(*) AS openers, count(*) FILTER (in_part) "
                            "AS in_part, count(*) FILTER (in_full) AS in_full FROM "
                            "contamination GROUP BY language ORDER BY language"),
            {lang: json.loads(lake.near_duplicates_file(lang).read_text(encoding="utf-8"))
             for lang in language_keys() if lake.near_duplicates_file(lang).is_file()})
        agreement = agreement_section(
            warehouse.query("SELECT * FROM judge_agreement ORDER BY language, tokenizer, "
                            "preset, corpus, metric, judge_a, judge_b"),
            warehouse.query("SELECT * FROM judge_length_bias ORDER BY language, tokenizer, "
                            "preset, corpus, judge"))
        report = write_report(lake.reports_dir(), sources, sections, data, agreement)
        return dg.MaterializeResult(metadata={
            "report": dg.MetadataValue.path(str(report)),
            "warehouse": dg.MetadataValue.path(str(warehouse.file)),
            "judges": dg.MetadataValue.json(sorted(tokenizers["judge"].unique().to_list())),
            "partitions_compared": dg.MetadataValue.int(
                tokenizers.select("language", "tokenizer", "preset").unique().height),
            **{s.name: dg.MetadataValue.md(s.metadata_markdown()) for s in sections},
        })

    return [reports]
