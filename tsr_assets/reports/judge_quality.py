"""The report's answers to "how do you know the judge is right?": each judge against the human
raters (`judge_calibration`) and the judge probes (`judge_probes`)."""

from __future__ import annotations

import math

import polars as pl

from tsr_assets.reports.markdown import markdown_table

#: The probes that break a story, as the report names them.
PROBE_TITLES = {"shuffled": "sentences shuffled", "cut_in_half": "cut in half",
                "words_replaced": "1 word in 5 replaced"}
_MODEL = ["language", "tokenizer", "preset", "corpus", "judge"]

NO_RATINGS = (
    "No human ratings in the warehouse yet, so no judge is calibrated. To add them: "
    "`tsr rate export` builds a blinded rating project (Label Studio) from the models' "
    "samples; native speakers rate the stories 1-10 on the rubric's criteria; `tsr rate "
    "import FILE` (Label Studio's JSON export, or a CSV with the columns "
    "`language,tokenizer,preset,prompt_id,sample_index,rater,criterion,score`) stores them as "
    "judge `human:<rater>` rows of `judge_scores`; materialize `reports` again and this "
    "section sets every judge against the raters (docs/evaluation.md, \"Is the judge "
    "right?\").")


def _num(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.{digits}f}"


def _interval(value, low, high, digits: int = 3) -> str:
    if value is None:
        return ""
    if low is None or high is None:
        return _num(value, digits)
    return f"{_num(value, digits)} [{_num(low, digits)}, {_num(high, digits)}]"


def calibration_section(calibration: pl.DataFrame) -> str:
    """Per language, every judge against the human raters and the raters among themselves;
    without human ratings, how to add them."""
    title = "## Is the judge right? Judges against human raters"
    if calibration.is_empty():
        return f"{title}\n\n{NO_RATINGS}\n"
    parts = [title, "",
             "Per language, judge and criterion, over the stories both the judge and at least "
             "one human rated (`n`; the humans' score of a story is their mean): Spearman's "
             "rank correlation with a 95% bootstrap interval over stories (seeded); "
             "Krippendorff's alpha (interval) between the judge and the humans' mean, and "
             "between the raters alone on the same stories (the ceiling a judge can reach); "
             "judge − humans (above 0: the judge inflates scores); Kendall's tau between the "
             "judge's and the humans' model means and whether the models come out in the "
             "same order. The automatic judge's metrics are set against the humans' "
             "`overall` (rank statistics only: other scales). The `humans` row: the raters' "
             "alpha among themselves over every story at least two of them rated. All rows "
             "are in DuckDB `judge_calibration`.", ""]
    for (language,), rows in calibration.sort("language", "metric", "judge").group_by(
            "language", maintain_order=True):
        table = [[r["judge"] if r["judge"] != "humans" else "humans (among themselves)",
                  r["metric"] if r["metric"] == r["human_metric"]
                  else f"{r['metric']} vs {r['human_metric']}",
                  _num(r["raters"]), _num(r["n"]),
                  _interval(r["spearman"], r["spearman_ci95_low"], r["spearman_ci95_high"]),
                  _num(r["alpha_judge_humans"]), _num(r["alpha_humans"]),
                  _interval(r["mean_difference"], r["mean_difference_ci95_low"],
                            r["mean_difference_ci95_high"]),
                  _num(r["models"]), _num(r["kendall_tau"]), _num(r["same_model_order"])]
                 for r in rows.iter_rows(named=True)]
        parts += [f"### {language}", "", markdown_table(table, [
            "judge", "criterion", "raters", "n", "Spearman [95%]", "alpha judge–humans",
            "alpha humans (ceiling)", "judge − humans [95%]", "models", "Kendall tau",
            "same model order"], max_chars=48), ""]
    return "\n".join(parts)


def _probe_cell(row: dict | None) -> str:
    if row is None:
        return ""
    verdict = {True: "noticed", False: "**FLAGGED**"}.get(row["noticed"], "")
    worse = row["share_worse"] if row["share_worse"] is not None else row["share_lower"]
    text = (f"{_interval(row['mean_change'], row['ci95_low'], row['ci95_high'])}, "
            f"{worse:.0%} {'worse' if row['share_worse'] is not None else 'lower'}")
    return f"{text} {verdict}".strip()


def probe_table(stats: pl.DataFrame) -> str:
    """One row per metric, one column per probe (mean change [95%], share of stories scored
    worse, noticed or FLAGGED), and the retest agreement."""
    rows = []
    for (metric,), group in stats.group_by("metric", maintain_order=True):
        by_probe = {r["probe"]: r for r in group.iter_rows(named=True)}
        retest = by_probe.get("retest")
        rows.append([metric, *(_probe_cell(by_probe.get(p)) for p in PROBE_TITLES),
                     _num(retest["retest_alpha"]) if retest else "",
                     _num(retest["mean_change"]) if retest else ""])
    return markdown_table(rows, ["metric", *PROBE_TITLES.values(), "retest alpha",
                                 "retest change"], max_chars=64)


def flagged_lines(probes: pl.DataFrame) -> list[str]:
    """Per model, judge and broken probe that the judge does not score worse: one line.
    A judge with an `overall` metric is judged by it; another (the automatic judge) is
    flagged when none of its metrics with a worse side scores the probe worse."""
    lines = []
    for key, group in probes.group_by(_MODEL, maintain_order=True):
        language, tokenizer, preset, corpus, judge = key
        has_overall = "overall" in group["metric"].to_list()
        for probe, title in PROBE_TITLES.items():
            rows = group.filter((pl.col("probe") == probe) & pl.col("noticed").is_not_null())
            if has_overall:
                rows = rows.filter(pl.col("metric") == "overall")
            if rows.is_empty() or rows["noticed"].any():
                continue
            where = "on `overall`" if has_overall else "on any of its metrics"
            lines.append(f"- **{judge}** on {language}|{tokenizer}|{preset} ({corpus}): "
                         f"`{probe}` ({title}) not scored worse {where}")
    return lines


def probes_section(probes: pl.DataFrame) -> str:
    """Per model and judge, how each probe moved each metric, and the judges flagged for not
    scoring broken stories worse (empty when no probe ran)."""
    if probes.is_empty():
        return ""
    parts = ["## Does the judge notice a broken story? Judge probes", "",
             "A seeded sample of each model's stories judged as it is and broken three ways; "
             "each cell: mean change of the metric (probed − original) with a 95% bootstrap "
             "interval over stories, and the share of stories scored worse (lower; higher "
             "for `repetition_rate` and `reference_bits_per_char`, where lower is better). "
             "**noticed**: the whole interval is on the worse side of 0; **FLAGGED**: it is "
             "not. Retest: the unchanged story asked again, Krippendorff's alpha (interval) "
             "between the two judgments. All rows are in DuckDB `judge_probes`.", ""]
    ordered = probes.sort(*_MODEL, "metric")
    flagged = flagged_lines(ordered)
    parts += ["Flagged judges:", "", *(flagged or ["- none: every judge scores every broken "
                                                   "probe worse"]), ""]
    for key, group in ordered.group_by(_MODEL, maintain_order=True):
        language, tokenizer, preset, corpus, judge = key
        parts += [f"### {language}|{tokenizer}|{preset} ({corpus}), judge {judge}: "
                  f"{group['stories'].max():,} stories from the "
                  f"{group['story_source'][0] or 'samples'}", "", probe_table(group), ""]
    return "\n".join(parts)
