"""The report's tables that the original study publishes beside its comparisons: MorphScore and
Rényi entropy as published (its Tables 5 and 6), what training and data cost, and which
differences between models are real (paired, clustered by opener)."""

from __future__ import annotations

import math

import polars as pl

from tsr_assets.reports.markdown import markdown_table

#: The original study's training costs (one H100 at $2/h), for the reader to set beside ours.
ORIGINAL_COSTS = "5M ≈ 6 h ($12), 54M ≈ 8 h ($16), 157M ≈ 16 h ($32) on one H100 at $2/h"


def _num(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def tokenizer_study_section(stats: pl.DataFrame) -> str:
    """Per language, one row per tokenizer: MorphScore as the original defines it (with the
    words it scored, left out as single tokens, and the gold rows that cannot match), the
    decoded variant (with the words it scored), Rényi entropy at alpha 2.5 in nats over
    train+val (as published), and the platform's own fertility and Rényi efficiency (bits,
    val split)."""
    if stats.is_empty():
        return ""
    parts = ["## Tokenizers: MorphScore and Rényi entropy", "",
             "MorphScore: share of gold words (`full_word,pt1,rest`) whose tokens split exactly "
             "at the first morpheme boundary; single-token words are left out. As published, "
             "the pieces are joined as the tokenizer names them (byte pieces such as `<0xE0>` "
             "never spell a letter) and every row of the gold list is scored, so rows whose "
             "pt1 + rest does not spell the word (unmatchable) score 0. Decoded: the pieces' "
             "decoded text is compared instead, over the rows that spell their word. Rényi "
             "entropy: order 2.5, natural log, bos/eos removed, train+val bins (the original "
             "study's unit; its Hindi figures: SUTRA 7.153, Sarvam 6.285). Efficiency is the "
             "platform's: Rényi bits at 2.5 over log2 of the vocabulary, val split.", ""]
    for (language,), rows in stats.sort("language", "tokenizer").group_by(
            "language", maintain_order=True):
        table = [[r["tokenizer"], r["tokenizer_name"], _num(r["morphscore"], 4),
                  _num(r["morph_words_scored"]), _num(r["morph_words_single_token"]),
                  _num(r.get("morph_words_unmatchable")), _num(r.get("morphscore_decoded"), 4),
                  _num(r.get("morph_words_scored_decoded")),
                  _num(r["renyi_nats_2_5"]), _num(r["renyi_nats_1"]),
                  _num(r["renyi_efficiency"]), _num(r["fertility"]), _num(r["vocab_size"])]
                 for r in rows.iter_rows(named=True)]
        parts += [f"### {language}", "", markdown_table(
            table, ["tokenizer", "name", "MorphScore", "words scored", "single-token words",
                    "unmatchable rows", "MorphScore decoded", "words scored (decoded)",
                    "Rényi α=2.5 (nats)", "Shannon (nats)", "Rényi efficiency", "fertility",
                    "vocabulary"]), ""]
    return "\n".join(parts)


def costs_section(training: pl.DataFrame, data: pl.DataFrame, gpu_hour_price: float,
                  cpu_hour_price: float, currency: str = "USD") -> str:
    """What each latest training run cost (device-hours x the price of its device kind) and
    what each stage of data writing cost (from the runs' token usage and prices)."""
    if training.is_empty() and data.is_empty():
        return ""
    parts = ["## Costs", "", f"Prices used: {gpu_hour_price:,.2f} {currency} per GPU-hour, "
             f"{cpu_hour_price:,.2f} {currency} per CPU machine-hour (`gpu_hour_price`, "
             f"`cpu_hour_price` of the `data_lake` resource). The original study: "
             f"{ORIGINAL_COSTS}.", ""]
    if not training.is_empty():
        rows = [[r["language"], r["tokenizer"], r["preset"], r["recipe"], _num(r["parameters"]),
                 r["device"], _num(r["world_size"]), _num(r["steps"]),
                 _num(r["device_hours"], 4), _num(r["price_per_device_hour"], 2),
                 _num(r["cost"], 4)]
                for r in training.iter_rows(named=True)]
        parts += ["### Training", "", markdown_table(rows, [
            "language", "tokenizer", "preset", "recipe", "parameters", "device", "processes",
            "steps", "device-hours", f"price/h ({currency})", f"cost ({currency})"]), ""]
    if not data.is_empty():
        rows = [[r["language"], r["stage"], r["source"], r["model"], r.get("mode") or "online",
                 _num(r["stories"]), _num(r["tokens"]), _num(r.get("cached_answers")),
                 _num(r["cost"], 4), _num(r.get("cost_saved"), 4),
                 _num(r["cost_per_1000_stories"], 4),
                 "estimated" if r["usage_estimated"] else "reported"]
                for r in data.iter_rows(named=True)]
        parts += ["### Data", "", "Cost is empty where the run had no prices "
                  "(`price_input_per_million`, `price_output_per_million` of the LLM resource)"
                  "; the offline writer costs nothing.", "", markdown_table(rows, [
                      "language", "stage", "source", "model", "mode", "stories", "tokens",
                      "cached answers", f"cost ({currency})", f"saved vs online ({currency})",
                      f"per 1,000 stories ({currency})", "usage"]), ""]
    return "\n".join(parts)


def significance_section(comparisons: pl.DataFrame, max_rows: int = 60) -> str:
    """Every pair of models of a language on the same openers: the mean difference with its
    paired, opener-clustered 95% interval and p-value, and the original's unpaired Z, with the
    significant differences marked."""
    if comparisons.is_empty():
        return ""
    shown = comparisons.sort("language", "judge", "metric", "model_a", "model_b")
    rows = [[r["language"], r["judge"], r["metric"], r["model_a"], r["model_b"],
             _num(r["openers"]), _num(r["mean_difference"]),
             f"[{_num(r['ci95_low'])}, {_num(r['ci95_high'])}]", _num(r["p_value"], 4),
             "**yes**" if r["significant"] else "no", _num(r["z_unpaired"], 2),
             _num(r["p_unpaired"], 4)]
            for r in shown.head(max_rows).iter_rows(named=True)]
    more = (f"\n\n{shown.height - max_rows:,} more pairs are in DuckDB `model_comparison`."
            if shown.height > max_rows else "")
    resamples = int(shown["resamples"][0])
    return "\n".join([
        "## Is model A really better than model B?", "",
        "Every model is sampled from the same openers, so each pair is compared opener by "
        "opener (A − B), and the samples of one opener stay together: the 95% interval and "
        f"the two-sided p-value come from a cluster bootstrap over openers ({resamples:,} "
        "resamples, seeded). `significant`: p < 0.05. The original study's unpaired "
        "two-sample Z (all samples as independent) is shown for comparison.", "",
        markdown_table(rows, ["language", "judge", "metric", "model A", "model B", "openers",
                              "A − B", "95% interval", "p", "significant", "Z unpaired",
                              "p unpaired"], max_chars=48) + more, ""])
