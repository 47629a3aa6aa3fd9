"""The data-quality assets in `language_job`, and `token_bins` deduplication."""

from __future__ import annotations

import json
import random
from pathlib import Path

import dagster as dg
import duckdb

from tsr_assets.definitions import build_definitions
from tsr_assets.defs.jobs import LANGUAGE_JOB, LANGUAGE_TOKENIZER_JOB
from tsr_assets.defs.partitions import language_tokenizer_key
from tsr_assets.stories.store import read_table
from tsr_assets.tokenizers.token_bins import read_dropped, read_meta
from tsr_assets_tests.chat_server import HINDI_BODY


def _execute(instance, job: str, partition, run_config: dict, assets=None):
    return build_definitions().resolve_job_def(job).execute_in_process(
        instance=instance, partition_key=partition, run_config=run_config,
        raise_on_error=False,
        asset_selection=[dg.AssetKey(a) for a in assets] if assets else None)


def _planted_import(tmp_path: Path) -> tuple[Path, int]:
    """Hindi stories: 40 distinct ones, then 6 near-copies of story 0 (one word each) and 3
    exact copies of story 1; returns the file and how many extra members there are."""
    rng = random.Random(4)
    words = HINDI_BODY.split()
    stories = []
    for i in range(40):
        shuffled = words[:]
        rng.shuffle(shuffled)
        stories.append(f"कहानी {i}। " + " ".join(shuffled))
    base = stories[0].split()
    for k in range(6):
        copy = base[:]
        copy[10 + 7 * k] = "नदी"
        stories.append(" ".join(copy))
    stories += [stories[1]] * 3
    path = tmp_path / "planted.jsonl"
    path.write_text("\n".join(json.dumps({"text": s}, ensure_ascii=False) for s in stories)
                    + "\n", encoding="utf-8")
    return path, 6


def test_language_job_measures_the_corpus(data_lake: Path, instance) -> None:
    result = _execute(instance, LANGUAGE_JOB, "bengali",
                      {"ops": {"prompts": {"config": {"count": 120}}}})
    assert result.success
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert checks["openers_not_in_training"].passed  # the offline writer never copies them
    assert "near_duplicate_rate" in checks
    with duckdb.connect(str(data_lake / "warehouse.duckdb"), read_only=True) as con:
        metrics = dict(con.execute("SELECT metric, value FROM corpus_quality WHERE language = "
                                   "'bengali' AND source = 'generated'").fetchall())
        openers = con.execute("SELECT count(*) FROM contamination WHERE language = 'bengali'"
                              ).fetchone()[0]
    assert metrics["stories"] == 120 and 0 < metrics["distinct_2"] <= 1
    assert 0 < metrics["compression_ratio"] < 1 and metrics["wordlist_coverage"] > 0.1
    assert openers >= 100


def test_dedup_near_removes_exactly_the_extra_members(tmp_path: Path, data_lake: Path,
                                                      instance) -> None:
    path, extra = _planted_import(tmp_path)
    imported = _execute(instance, LANGUAGE_JOB, "hindi", {"ops": {
        "prompts": {"config": {"count": 5}},
        "stories": {"config": {"import_path": str(path), "import_text_column": "text",
                               "max_repeated_ngram_share": 1.0,
                               "max_repeated_sentence_share": 1.0}}}},
        ["stories", "near_duplicates"])
    assert imported.success
    stored = read_table(data_lake / "stories" / "hindi")
    assert stored.height == 46  # exact copies share one id: the store keeps one
    with duckdb.connect(str(data_lake / "warehouse.duckdb"), read_only=True) as con:
        clusters = con.execute("SELECT cluster, count(*) FROM near_duplicates WHERE language = "
                               "'hindi' GROUP BY cluster").fetchall()
    assert [n for _, n in clusters] == [extra + 1]
    key = language_tokenizer_key("hindi", "byte")
    bins = data_lake / "token_bins" / "hindi" / "byte"
    totals = {}
    for dedup in ("none", "exact", "near"):
        chain = _execute(instance, LANGUAGE_TOKENIZER_JOB, key, {"ops": {
            "token_bins": {"config": {"dedup": dedup, "val_share": 0.1}}}},
            ["tokenizer", "token_bins", "tokenizer_stats"])
        assert chain.success, dedup
        meta = read_meta(bins)
        assert meta["dedup"] == dedup
        totals[dedup] = sum(s["stories"] for s in meta["splits"].values())
        checks = {c.check_name: c for c in chain.get_asset_check_evaluations()}
        assert checks["token_bins_round_trip"].passed
    assert totals == {"none": 46, "exact": 46, "near": 46 - extra}
    dropped = read_dropped(bins)
    kept = stored.filter(~stored["prompt_id"].is_in(list(dropped)))
    assert len(dropped) == extra and stored["story"][0] in kept["story"].to_list()


def test_dedup_near_without_a_scan_names_the_asset(data_lake: Path, instance) -> None:
    assert _execute(instance, LANGUAGE_JOB, "marathi",
                    {"ops": {"prompts": {"config": {"count": 10}}}},
                    ["wordlists", "prompts", "stories"]).success
    chain = _execute(instance, LANGUAGE_TOKENIZER_JOB, language_tokenizer_key("marathi", "byte"),
                     {"ops": {"token_bins": {"config": {"dedup": "near"}}}},
                     ["tokenizer", "token_bins"])
    assert not chain.success
    error = str(next(e for e in chain.all_events if e.is_step_failure)
                .event_specific_data.error)
    assert "materialize `near_duplicates` for marathi" in error
