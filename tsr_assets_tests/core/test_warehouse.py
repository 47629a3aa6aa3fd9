"""The DuckDB warehouse: partition replacement, atomicity and concurrent writers."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from tsr_assets.core.warehouse import connect, query, replace_rows, table_columns


def _row(language: str, tokenizer: str, fertility: float) -> dict:
    return {"language": language, "tokenizer": tokenizer, "fertility": fertility,
            "computed_at": datetime.now(UTC)}


def test_rematerializing_a_partition_replaces_its_rows(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    replace_rows(db, "tokenizer_stats", {"language": "hindi", "tokenizer": "spm"},
                 pl.DataFrame([_row("hindi", "spm", 2.0)]))
    replace_rows(db, "tokenizer_stats", {"language": "hindi", "tokenizer": "byte"},
                 pl.DataFrame([_row("hindi", "byte", 9.0)]))
    replace_rows(db, "tokenizer_stats", {"language": "hindi", "tokenizer": "spm"},
                 pl.DataFrame([_row("hindi", "spm", 3.0)]))
    rows = query(db, "SELECT tokenizer, fertility FROM tokenizer_stats ORDER BY tokenizer")
    assert rows.rows() == [("byte", 9.0), ("spm", 3.0)]


def test_a_warehouse_from_before_the_decoded_morphscore_gets_its_columns(tmp_path: Path) -> None:
    # tokenizer_stats as it was before morph_words_unmatchable, morphscore_decoded and
    # morph_words_scored_decoded: ensure_tables adds them, NULL for the old row.
    db = tmp_path / "w.duckdb"
    added = ("morph_words_unmatchable", "morphscore_decoded", "morph_words_scored_decoded")
    old = ", ".join(f"{name} {kind}" for name, kind in table_columns("tokenizer_stats").items()
                    if name not in added)
    with connect(db) as con:
        con.execute(f"CREATE TABLE tokenizer_stats ({old})")
        con.execute("INSERT INTO tokenizer_stats (language, tokenizer, morphscore) "
                    "VALUES ('hindi', 'byte', 1.0)")
    replace_rows(db, "tokenizer_stats", {"language": "hindi", "tokenizer": "spm"},
                 pl.DataFrame([{**_row("hindi", "spm", 2.0), "morphscore": 0.6,
                                "morph_words_unmatchable": 42, "morphscore_decoded": 0.8,
                                "morph_words_scored_decoded": 833}]))
    rows = query(db, "SELECT tokenizer, morphscore, morph_words_unmatchable, morphscore_decoded,"
                     " morph_words_scored_decoded FROM tokenizer_stats ORDER BY tokenizer")
    assert rows.rows() == [("byte", 1.0, None, None, None), ("spm", 0.6, 42, 0.8, 833)]


def test_a_failed_insert_keeps_the_old_rows(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    key = {"language": "hindi", "tokenizer": "spm"}
    replace_rows(db, "tokenizer_stats", key, pl.DataFrame([_row("hindi", "spm", 2.0)]))
    bad = pl.DataFrame([{**_row("hindi", "spm", 1.0), "no_such_column": 1}])
    with pytest.raises(Exception, match="no_such_column"):
        replace_rows(db, "tokenizer_stats", key, bad)
    assert query(db, "SELECT fertility FROM tokenizer_stats").rows() == [(2.0,)]
    with pytest.raises(ValueError, match="unknown warehouse table"):
        replace_rows(db, "nope", key, pl.DataFrame([_row("hindi", "spm", 1.0)]))


def _writer(db: str, tokenizer: str, rounds: int, wrote_first, other_wrote_first) -> None:
    for i in range(rounds):
        replace_rows(Path(db), "tokenizer_stats", {"language": "hindi", "tokenizer": tokenizer},
                     pl.DataFrame([_row("hindi", tokenizer, float(i))]))
        if i == 0:  # neither runs ahead: each waits for the other's first write
            wrote_first.set()
            assert other_wrote_first.wait(60)


def test_writers_in_two_processes_lose_nothing(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    ctx = multiprocessing.get_context("spawn")
    first = {tok: ctx.Event() for tok in ("spm", "gpt2")}
    writers = [ctx.Process(target=_writer, args=(str(db), tok, 15, first[tok], first[other]))
               for tok, other in (("spm", "gpt2"), ("gpt2", "spm"))]
    for w in writers:
        w.start()
    for w in writers:
        w.join(120)
    assert [w.exitcode for w in writers] == [0, 0]
    rows = query(db, "SELECT tokenizer, fertility FROM tokenizer_stats ORDER BY tokenizer")
    assert rows.rows() == [("gpt2", 14.0), ("spm", 14.0)]
    # The two writers overlapped in time: each one's writes span the other's first write.
    writes = query(db, "SELECT pid, min(began_at) AS first, max(finished_at) AS last, "
                       "count(*) AS n FROM warehouse_writes GROUP BY pid ORDER BY pid")
    assert sorted(writes["pid"].to_list()) == sorted(w.pid for w in writers)
    assert writes["n"].to_list() == [15, 15]
    (_, first_a, last_a, _), (_, first_b, last_b, _) = writes.rows()
    assert first_a < last_b and first_b < last_a


def test_a_held_lock_is_waited_for_then_reported(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    with connect(db):
        pass
    ctx = multiprocessing.get_context("spawn")
    holder_ready = ctx.Event()
    release = ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(str(db), holder_ready, release))
    holder.start()
    try:
        assert holder_ready.wait(60)
        from tsr_assets.core.warehouse import WarehouseLocked

        with pytest.raises(WarehouseLocked, match="stayed locked"):
            with connect(db, wait_s=0.5):
                pass
    finally:
        release.set()
        holder.join(60)


def _hold_lock(db: str, ready, release) -> None:
    import duckdb

    con = duckdb.connect(db)
    ready.set()
    release.wait(60)
    con.close()


def _scores_rows(tokenizer: str, values: list[float], judge: str = "automatic") -> pl.DataFrame:
    now = datetime.now(UTC)
    return pl.DataFrame([
        {"language": "hindi", "tokenizer": tokenizer, "preset": "tiny", "parameters": 1000,
         "judge": judge, "metric": "overall", "value": v, "prompt_id": f"opener-{i:03d}",
         "sample_index": 0, "run_id": "r", "created_at": now}
        for i, v in enumerate(values)])


def _score_writer(db: str, tokenizer: str, rounds: int) -> None:
    for _ in range(rounds):
        replace_rows(Path(db), "judge_scores",
                     {"language": "hindi", "tokenizer": tokenizer, "preset": "tiny",
                      "judge": "automatic"},
                     _scores_rows(tokenizer, [float(i % 10) for i in range(300)]))


def test_two_partitions_writing_scores_at_once_lose_no_row(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    ctx = multiprocessing.get_context("spawn")
    writers = [ctx.Process(target=_score_writer, args=(str(db), tok, 8))
               for tok in ("spm", "byte")]
    for w in writers:
        w.start()
    for w in writers:
        w.join(120)
    assert [w.exitcode for w in writers] == [0, 0]
    counts = query(db, "SELECT tokenizer, count(*) FROM judge_scores GROUP BY 1 ORDER BY 1")
    assert counts.rows() == [("byte", 300), ("spm", 300)]


def test_views_give_means_intervals_and_joined_facts(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    replace_rows(db, "judge_scores", {"language": "hindi", "tokenizer": "spm"},
                 _scores_rows("spm", [1, 2, 3, 4, 5]))
    replace_rows(db, "judge_scores", {"language": "hindi", "tokenizer": "gpt2"},
                 _scores_rows("gpt2", [7.0]))
    replace_rows(db, "tokenizer_stats", {"language": "hindi", "tokenizer": "spm"},
                 pl.DataFrame([{**_row("hindi", "spm", 2.5), "renyi_efficiency": 0.5}]))
    for finished, loss in (("2026-01-01", 3.0), ("2026-02-01", 2.0)):  # the later run counts
        replace_rows(db, "training_runs", {"run_id": finished}, pl.DataFrame([{
            "run_id": finished, "language": "hindi", "tokenizer": "spm", "preset": "tiny",
            "best_val_loss": loss, "best_val_bits_per_byte": loss / 2, "parameters": 1000,
            "n_layer": 2, "n_embd": 64,
            "finished_at": datetime.fromisoformat(finished).replace(tzinfo=UTC)}]))
    rows = query(db, "SELECT * FROM tokenizer_comparison ORDER BY tokenizer").to_dicts()
    gpt2, spm = rows
    half = 1.96 * (2.5 ** 0.5) / (5 ** 0.5)  # sample sd of 1..5 is sqrt(2.5)
    assert spm["n"] == 5 and spm["mean"] == pytest.approx(3.0)
    assert spm["ci95_low"] == pytest.approx(3 - half) and spm["ci95_high"] == pytest.approx(
        3 + half)
    assert spm["val_loss"] == 2.0 and spm["bits_per_byte"] == 1.0
    assert spm["fertility"] == 2.5 and spm["renyi_efficiency"] == 0.5
    assert gpt2["n"] == 1 and gpt2["ci95_low"] is None and gpt2["val_loss"] is None
    sizes = query(db, "SELECT preset, n_layer, n_embd, parameters, mean FROM size_comparison "
                      "WHERE tokenizer = 'spm'").rows()
    assert sizes == [("tiny", 2, 64, 1000, 3.0)]
