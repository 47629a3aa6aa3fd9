"""The `reports` asset: tokenizer and size comparisons from the warehouse, as tables and plots."""

from collections.abc import Sequence

import dagster as dg
import polars as pl

from tsr_assets.assets.metadata_formatting import markdown_table, png_markdown
from tsr_assets.atomic_files import write_bytes_atomic, write_text_atomic
from tsr_assets.model.train import read_metrics
from tsr_assets.plots import loss_curves_png, metric_bars_png
from tsr_assets.resources.data_lake import DataLakeResource
from tsr_assets.resources.warehouse import WarehouseResource
from tsr_assets.story_store import read_table


def _cell(row: dict) -> str:
    if row["mean"] is None:
        return ""
    half = ((row["ci95_high"] - row["ci95_low"]) / 2 if row["ci95_high"] is not None
            else float("nan"))
    return f"{row['mean']:.3f} ± {half:.3f} (n={row['n']})"


def _num(value, digits: int = 3) -> str:
    return "" if value is None else f"{value:,.{digits}f}"


def wide_table(frame: pl.DataFrame, keys: Sequence[str], extra: Sequence[str]) -> str:
    """One row per `keys` combination, one column per metric ("mean ± CI half-width (n)"),
    then the `extra` columns: the shape of the original framework's comparison tables."""
    metrics = list(dict.fromkeys(frame["metric"].to_list()))
    lines = []
    for _, group in frame.group_by(list(keys), maintain_order=True):
        by_metric = {r["metric"]: r for r in group.iter_rows(named=True)}
        first = group.row(0, named=True)
        lines.append([first[k] for k in keys]
                     + [_cell(by_metric[m]) if m in by_metric else "" for m in metrics]
                     + [_num(first[e], 0 if e.startswith("param") else 3) for e in extra])
    return markdown_table(lines, [*keys, *metrics, *extra], max_chars=40)


def build_reports_defs(presets: Sequence[str]) -> list[dg.AssetsDefinition]:
    """The unpartitioned `reports` asset over every preset's judge scores."""

    @dg.asset(
        deps=[*(f"judge_scores_{p}" for p in presets), *(f"checkpoint_{p}" for p in presets),
              "tokenizer_stats"],
        group_name="reports",
        kinds={"duckdb", "markdown"},
    )
    def reports(
        context: dg.AssetExecutionContext,
        data_lake: DataLakeResource,
        warehouse: WarehouseResource,
    ) -> dg.MaterializeResult:
        """Tokenizer and size comparison tables (mean, n and 95% CI of every judge metric,
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
        folder = data_lake.root_path / "reports"
        sources = _story_sources(data_lake, tokenizers["language"].unique().sort().to_list())
        parts = ["# TinyStories Regional report", "",
                 "Stories (training data) per language: "
                 + "; ".join(f"{lang}: {src}" for lang, src in sources.items()), ""]
        metadata: dict = {}
        for (judge,), frame in tokenizers.group_by("judge", maintain_order=True):
            note = ("automatic metrics (not LLM ratings; see the README for definitions)"
                    if judge == "automatic" else f"LLM judge `{judge}`, scores 1-10")
            slug = judge.replace(":", "_").replace("/", "_")
            for (preset,), at_preset in frame.group_by("preset", maintain_order=True):
                _add_section(
                    parts, metadata, folder, at_preset,
                    title=f"Tokenizer comparison, preset {preset}, judge {judge}", note=note,
                    name=f"tokenizers_{slug}_{preset}", keys=["language", "tokenizer"],
                    extra=["val_loss", "bits_per_byte", "parameters", "fertility",
                           "renyi_efficiency"], bars_by="tokenizer")
            at_judge = sizes.filter(pl.col("judge") == judge)
            for (tokenizer,), at_tokenizer in at_judge.group_by("tokenizer", maintain_order=True):
                _add_section(
                    parts, metadata, folder, at_tokenizer,
                    title=f"Size comparison, tokenizer {tokenizer}, judge {judge}", note=note,
                    name=f"sizes_{slug}_{tokenizer}", keys=["language", "preset"],
                    extra=["parameters", "val_loss", "bits_per_byte"], bars_by="preset")
        curves = _loss_curves(data_lake)
        for (language, tokenizer), by_preset in curves.items():
            title = f"Loss curves, {language} | {tokenizer}"
            png = loss_curves_png(by_preset, title)
            name = f"loss_{language}_{tokenizer}.png"
            write_bytes_atomic(folder / name, png)
            parts += [f"## {title}", "", f"![{title}]({name})", ""]
            metadata[f"loss_{language}_{tokenizer}"] = dg.MetadataValue.md(png_markdown(png, title))
        write_text_atomic(folder / "report.md", "\n".join(parts))
        return dg.MaterializeResult(metadata={
            "report": dg.MetadataValue.path(str(folder / "report.md")),
            "warehouse": dg.MetadataValue.path(str(warehouse.file)),
            "judges": dg.MetadataValue.json(sorted(tokenizers["judge"].unique().to_list())),
            "partitions_compared": dg.MetadataValue.int(
                tokenizers.select("language", "tokenizer", "preset").unique().height),
            **metadata,
        })

    return [reports]


def _add_section(parts: list[str], metadata: dict, folder, frame: pl.DataFrame, *, title: str,
                 note: str, name: str, keys: list[str], extra: list[str],
                 bars_by: str) -> None:
    """One comparison: a wide table and a bar chart, into the report and the metadata."""
    table = wide_table(frame, keys, extra)
    png = metric_bars_png(frame.to_dicts(), bars_by, title)
    write_bytes_atomic(folder / f"{name}.png", png)
    parts += [f"## {title}", "", f"Judge: {note}.", "", table, "",
              f"![{title}]({name}.png)", ""]
    metadata[name] = dg.MetadataValue.md(
        f"**{title}** ({note})\n\n{table}\n\n{png_markdown(png, title)}")


def _story_sources(data_lake: DataLakeResource, languages: list[str]) -> dict[str, str]:
    out = {}
    for language in languages:
        providers = read_table(data_lake.folder("stories", language), "story", ["provider"])
        counts = providers["provider"].value_counts(sort=True).iter_rows()
        out[language] = ", ".join(f"{n:,} from {p}" for p, n in counts) or "none"
    return out


def _loss_curves(data_lake: DataLakeResource) -> dict[tuple[str, str], dict[str, list[dict]]]:
    curves: dict[tuple[str, str], dict[str, list[dict]]] = {}
    for metrics in sorted((data_lake.root_path / "checkpoint").glob("*/*/*/metrics.jsonl")):
        preset, tokenizer, language = metrics.parent.name, metrics.parent.parent.name, \
            metrics.parent.parent.parent.name
        curves.setdefault((language, tokenizer), {})[preset] = read_metrics(metrics)
    return curves
