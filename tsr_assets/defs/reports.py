"""The `reports` asset: tokenizer and size comparisons from the warehouse, as tables and plots."""

import json
from collections.abc import Sequence
from datetime import UTC, datetime

import dagster as dg
import polars as pl

from tsr_assets.core.lake import preset_asset
from tsr_assets.core.languages import language_keys
from tsr_assets.defs.automation import reports_condition
from tsr_assets.defs.jobs import REPORTS_GROUP
from tsr_assets.defs.model_components import declared_models
from tsr_assets.defs.resources import DataLakeResource, WarehouseResource
from tsr_assets.evaluation.calibration import calibrate
from tsr_assets.evaluation.model_comparison import compare_models
from tsr_assets.reports.judge_quality import calibration_section, probes_section
from tsr_assets.reports.report import (
    agreement_section,
    comparison_sections,
    data_section,
    loss_curve_sections,
    story_sources,
    write_report,
)
from tsr_assets.reports.study_tables import (
    costs_section,
    significance_section,
    tokenizer_study_section,
)


def build_reports_defs(presets: Sequence[str]) -> list[dg.AssetsDefinition]:
    """The unpartitioned `reports` asset over every preset's judge scores."""

    @dg.asset(
        # code version 2: MorphScore, Rényi, paired comparisons and costs.
        # code version 3: both MorphScores and the gold list's counts.
        # code version 4: judges against human raters (judge_calibration) and the judge probes.
        code_version="4",
        deps=[*(preset_asset("judge_scores", p) for p in presets),
              *(preset_asset("checkpoint", p) for p in presets),
              *(preset_asset("judge_probes", p) for p in presets), "tokenizer_stats"],
        group_name=REPORTS_GROUP,
        kinds={"duckdb", "markdown"},
        automation_condition=reports_condition(),
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
        DuckDB views `tokenizer_comparison` and `size_comparison`. Then the original
        study's other tables: MorphScore and Rényi entropy in nats per language x tokenizer,
        paired comparisons of every two models on the same openers (cluster bootstrap over
        openers, p-values, the original's unpaired Z; filled into DuckDB `model_comparison`),
        every judge against the human raters (`human:<rater>` judges; filled into DuckDB
        `judge_calibration`), the judge probes (`judge_probes`, flagging a judge that does
        not score broken stories worse) and the costs of training and of the data (views
        `training_costs`, `data_costs`, at the `data_lake` resource's GPU/CPU hour prices).
        Written to `<data lake>/reports/` (report.md and PNGs) and shown here."""
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
        data, agreement = _data_and_agreement(lake, warehouse)
        study = _study_tables(context, data_lake, warehouse)
        judges = _judge_quality(context, warehouse)
        report = write_report(lake.reports_dir(), sources, sections, data,
                              "\n".join((agreement, judges, study)))
        return dg.MaterializeResult(metadata={
            "report": dg.MetadataValue.path(str(report)),
            "warehouse": dg.MetadataValue.path(str(warehouse.file)),
            "judges": dg.MetadataValue.json(sorted(tokenizers["judge"].unique().to_list())),
            "partitions_compared": dg.MetadataValue.int(
                tokenizers.select("language", "tokenizer", "preset").unique().height),
            **{s.name: dg.MetadataValue.md(s.metadata_markdown()) for s in sections},
        })

    return [reports]


def _data_and_agreement(lake, warehouse: WarehouseResource) -> tuple[str, str]:
    """The report's data section (corpus quality, contamination, near-duplicates) and its
    judge agreement section."""
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
    return data, agreement


def _judge_quality(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> str:
    """Every judge against the human raters (computed here, stored in `judge_calibration`
    per language) and the judge probes, as report markdown."""
    calibration = calibrate(warehouse.query(
        "SELECT language, tokenizer, preset, corpus, judge, metric, value, prompt_id, "
        "sample_index FROM judge_scores"))
    stamped = calibration.with_columns(computed_at=pl.lit(datetime.now(UTC)))
    languages = warehouse.query("SELECT DISTINCT language FROM judge_scores UNION "
                                "SELECT DISTINCT language FROM judge_calibration")
    for language in languages["language"]:
        warehouse.replace_rows("judge_calibration", {"language": language},
                               stamped.filter(pl.col("language") == language))
    context.log.info(f"judge_calibration: {calibration.height:,} rows")
    probes = warehouse.query("SELECT * FROM judge_probes ORDER BY language, tokenizer, "
                             "preset, corpus, judge, metric")
    return "\n".join((calibration_section(calibration), probes_section(probes)))


def _study_tables(context: dg.AssetExecutionContext, data_lake: DataLakeResource,
                  warehouse: WarehouseResource) -> str:
    """MorphScore and Rényi, paired model comparisons (stored in `model_comparison`) and
    costs (at the resource's prices, stored in `compute_prices`), as report markdown."""
    warehouse.replace_rows("compute_prices", {"scope": "default"}, pl.DataFrame([{
        "scope": "default", "gpu_hour_price": data_lake.gpu_hour_price,
        "cpu_hour_price": data_lake.cpu_hour_price, "currency": "USD",
        "set_at": datetime.now(UTC)}]))
    comparisons = compare_models(warehouse.query(
        "SELECT language, tokenizer, preset, corpus, judge, metric, value, prompt_id, "
        "sample_index FROM judge_scores"))
    stamped = comparisons.with_columns(computed_at=pl.lit(datetime.now(UTC)))
    for language in warehouse.query("SELECT DISTINCT language FROM judge_scores")["language"]:
        warehouse.replace_rows("model_comparison", {"language": language},
                               stamped.filter(pl.col("language") == language))
    context.log.info(f"model_comparison: {comparisons.height:,} pairs x metrics, "
                     f"{int(comparisons['significant'].sum()) if comparisons.height else 0:,} "
                     "significant")
    return "\n".join(part for part in (
        tokenizer_study_section(warehouse.query(
            "SELECT * FROM tokenizer_stats ORDER BY language, tokenizer")),
        significance_section(comparisons),
        costs_section(
            warehouse.query("SELECT * FROM training_costs ORDER BY language, tokenizer, preset"),
            warehouse.query("SELECT * FROM data_costs ORDER BY language, stage, model"),
            data_lake.gpu_hour_price, data_lake.cpu_hour_price)) if part)


@dg.definitions
def defs(context: dg.ComponentLoadContext) -> dg.Definitions:
    """`reports` over every model this load declares."""
    return dg.Definitions(assets=build_reports_defs(declared_models(context)))
