"""The comparison report: tokenizer and size tables with bar charts, and loss curves.

Built from the warehouse's `tokenizer_comparison` and `size_comparison` views and the training
folders; written as `report.md` with PNGs. Each table names its judge: automatic metrics are
never presented as LLM ratings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from tsr_assets.core.atomic_files import write_bytes_atomic, write_text_atomic
from tsr_assets.core.journal import read_jsonl
from tsr_assets.core.lake import REPORT_FILE, Lake
from tsr_assets.reports.markdown import markdown_table, png_markdown
from tsr_assets.reports.plots import loss_curves_png, metric_bars_png
from tsr_assets.stories.store import read_table

TOKENIZER_EXTRA = ["recipe", "val_loss", "bits_per_byte", "parameters", "fertility",
                   "renyi_efficiency"]
SIZE_EXTRA = ["recipe", "parameters", "val_loss", "bits_per_byte"]
CORPUS_EXTRA = ["stories_by_source", "val_loss", "bits_per_byte", "parameters"]


@dataclass(frozen=True)
class Section:
    """One part of the report: a title, a note on its judge, a table (or none) and a PNG."""

    name: str
    title: str
    png: bytes
    note: str = ""
    table: str = ""

    def markdown(self) -> str:
        """The section in `report.md` (the PNG is a file beside it)."""
        judge = f"Judge: {self.note}.\n\n" if self.note else ""
        table = f"{self.table}\n\n" if self.table else ""
        return f"## {self.title}\n\n{judge}{table}![{self.title}]({self.name}.png)\n"

    def metadata_markdown(self) -> str:
        """The section for the UI, with its PNG embedded."""
        if not self.table:
            return png_markdown(self.png, self.title)
        return (f"**{self.title}** ({self.note})\n\n{self.table}\n\n"
                f"{png_markdown(self.png, self.title)}")


def _cell(row: dict) -> str:
    if row["mean"] is None:
        return ""
    half = ((row["ci95_high"] - row["ci95_low"]) / 2 if row["ci95_high"] is not None
            else float("nan"))
    return f"{row['mean']:.3f} ± {half:.3f} (n={row['n']})"


def _num(value, digits: int = 3) -> str:
    if isinstance(value, str):
        return value
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


def judge_note(judge: str, rubric_hash: str | None = None) -> str:
    """What a judge's numbers are, in words (with the LLM judge's rubric hash)."""
    if judge == "automatic":
        return "automatic metrics (not LLM ratings; see docs/evaluation.md for definitions)"
    rubric = f", rubric {rubric_hash}" if rubric_hash else ""
    return f"LLM judge `{judge}`{rubric}, scores 1-10 (`mean_of_criteria`: mean of all but overall)"


def _comparison(frame: pl.DataFrame, *, title: str, note: str, name: str, keys: list[str],
                extra: list[str], bars_by: str) -> Section:
    return Section(name, title, metric_bars_png(frame.to_dicts(), bars_by, title), note,
                   wide_table(frame, keys, extra))


def comparison_sections(tokenizers: pl.DataFrame, sizes: pl.DataFrame,
                        rubrics: dict[str, str] | None = None) -> list[Section]:
    """Per judge: a tokenizer table per preset and a size table per tokenizer."""
    sections = []
    for (judge,), frame in tokenizers.group_by("judge", maintain_order=True):
        note = judge_note(judge, (rubrics or {}).get(judge))
        slug = judge.replace(":", "_").replace("/", "_").replace("+", "_")
        for (preset,), at_preset in frame.group_by("preset", maintain_order=True):
            sections.append(_comparison(
                at_preset, title=f"Tokenizer comparison, preset {preset}, judge {judge}",
                note=note, name=f"tokenizers_{slug}_{preset}",
                keys=["language", "tokenizer", "corpus"], extra=TOKENIZER_EXTRA,
                bars_by="tokenizer"))
            if at_preset["corpus"].n_unique() > 1:
                sections.append(_comparison(
                    at_preset.sort("language", "tokenizer", "corpus"),
                    title=f"Corpus comparison (generated vs translated), preset {preset}, "
                    f"judge {judge}", note=note + "; val loss and bits per byte are measured "
                    "on each corpus's own val split, so only the judge columns compare",
                    name=f"corpora_{slug}_{preset}", keys=["language", "tokenizer", "corpus"],
                    extra=CORPUS_EXTRA, bars_by="corpus"))
        at_judge = sizes.filter(pl.col("judge") == judge)
        for (tokenizer,), at_tokenizer in at_judge.group_by("tokenizer", maintain_order=True):
            sections.append(_comparison(
                at_tokenizer, title=f"Size comparison, tokenizer {tokenizer}, judge {judge}",
                note=note, name=f"sizes_{slug}_{tokenizer}",
                keys=["language", "preset", "corpus"],
                extra=SIZE_EXTRA, bars_by="preset"))
    return sections


def loss_curve_sections(lake: Lake) -> list[Section]:
    """One plot per language x tokenizer with a curve per trained preset."""
    curves: dict[tuple[str, str], dict[str, list[dict]]] = {}
    for language, tokenizer, preset in lake.trained_partitions():
        rows = list(read_jsonl(lake.checkpoint(language, tokenizer, preset).metrics))
        curves.setdefault((language, tokenizer), {})[preset] = rows
    return [Section(f"loss_{language}_{tokenizer}", f"Loss curves, {language} | {tokenizer}",
                    loss_curves_png(by_preset, f"Loss curves, {language} | {tokenizer}"))
            for (language, tokenizer), by_preset in curves.items()]


def story_sources(lake: Lake, languages: Sequence[str]) -> dict[str, str]:
    """Which providers wrote (or translated) each language's stories, with counts."""
    out = {}
    for language in languages:
        parts = []
        for source, folder in lake.corpus_dirs(language, "both").items():
            providers = read_table(folder, "story", ["provider"])
            counts = providers["provider"].value_counts(sort=True).iter_rows()
            listed = ", ".join(f"{n:,} from {p}" for p, n in counts)
            if listed:
                parts.append(f"{source} {listed}")
        out[language] = "; ".join(parts) or "none"
    return out


DATA_COLUMNS = ("stories", "near_duplicate_rate", "distinct_1", "distinct_2", "distinct_3",
                "vocabulary_size", "vocabulary_growth", "compression_ratio", "mean_words",
                "sd_words", "wordlist_coverage")


def data_section(quality: pl.DataFrame, contamination: pl.DataFrame,
                 near_duplicates: dict[str, dict]) -> str:
    """The report's opening: per language, each source's size and diversity, the
    near-duplicate rate and train/val leakage, and how many openers the stories contain.

    `quality` is the `corpus_quality` view; `contamination` has language, openers, in_part,
    in_full; `near_duplicates` the summary of each language's last scan.
    """
    if quality.is_empty():
        return ("## Data\n\nNo corpus measurements yet: materialize `near_duplicates`, "
                "`contamination` and `corpus_quality` (in `language_job`).\n")
    parts = ["## Data", ""]
    by_contamination = {r["language"]: r for r in contamination.iter_rows(named=True)}
    for (language,), at_language in quality.group_by("language", maintain_order=True):
        rows = []
        for (source,), metrics in at_language.group_by("source", maintain_order=True):
            values = dict(metrics.select("metric", "value").iter_rows())
            rows.append([source, *(_num(values.get(m), 0 if m in ("stories", "vocabulary_size")
                                        else 3) for m in DATA_COLUMNS)])
        parts += [f"### {language}", "", markdown_table(rows, ["source", *DATA_COLUMNS]), ""]
        scan = near_duplicates.get(language)
        if scan:
            parts.append(f"- near-duplicates (Jaccard >= {scan['threshold']}): "
                         f"{scan['clusters']:,} clusters, {scan['extra_members']:,} extra "
                         f"stories ({scan['rate']:.2%}); leakage: {scan['leaking_pairs']:,} "
                         f"near-duplicate pairs straddle the train/val split "
                         f"(val share {scan['val_share']})")
        opened = by_contamination.get(language)
        if opened:
            parts.append(f"- contamination: {opened['in_part']:,} of {opened['openers']:,} "
                         f"evaluation openers appear in part in the training stories, "
                         f"{opened['in_full']:,} in full")
        parts.append("")
    return "\n".join(parts)


def agreement_section(agreement: pl.DataFrame, length_bias: pl.DataFrame) -> str:
    """Judge reliability: agreement between judges who rated the same samples, and each
    judge's correlation of `overall` with story length (empty when nothing to show)."""
    parts = []
    if not agreement.is_empty():
        rows = [[r["language"], r["tokenizer"], r["preset"], r["corpus"], r["metric"],
                 f"{r['judge_a']} vs {r['judge_b']}", r["n"], _num(r["spearman"]),
                 _num(r["weighted_kappa"])] for r in agreement.iter_rows(named=True)]
        parts += ["## Judge agreement", "", "Spearman rank correlation and quadratic weighted "
                  "kappa between judges over the samples both rated.", "",
                  markdown_table(rows, ["language", "tokenizer", "preset", "corpus", "metric",
                                        "judges", "n", "spearman", "weighted kappa"]), ""]
    if not length_bias.is_empty():
        rows = [[r["language"], r["tokenizer"], r["preset"], r["corpus"], r["judge"], r["n"],
                 _num(r["length_spearman"]), _num(r["length_pearson"])]
                for r in length_bias.iter_rows(named=True)]
        parts += ["## Judge length bias", "", "Correlation of each judge's `overall` with the "
                  "length of the story in words (LLM judges are known to favour longer "
                  "stories).", "",
                  markdown_table(rows, ["language", "tokenizer", "preset", "corpus", "judge",
                                        "n", "spearman", "pearson"]), ""]
    return "\n".join(parts)


def write_report(folder: Path, sources: dict[str, str], sections: Sequence[Section],
                 data: str = "", agreement: str = "") -> Path:
    """`report.md` and one PNG per section into `folder`; returns the report's path. The data
    section opens the report; judge agreement follows the comparisons."""
    parts = ["# TinyStories Regional report", "", "Stories (training data) per language:", "",
             *(f"- {lang}: {src}" for lang, src in sources.items()), "", data]
    for section in sections:
        write_bytes_atomic(folder / f"{section.name}.png", section.png)
        parts.append(section.markdown())
    parts.append(agreement)
    report = folder / REPORT_FILE
    write_text_atomic(report, "\n".join(parts))
    return report
