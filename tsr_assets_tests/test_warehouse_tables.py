"""The DuckDB warehouse: partition replacement, atomicity and concurrent writers."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from tsr_assets.warehouse_tables import connect, query, replace_rows


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


def _writer(db: str, tokenizer: str, rounds: int) -> None:
    for i in range(rounds):
        replace_rows(Path(db), "tokenizer_stats", {"language": "hindi", "tokenizer": tokenizer},
                     pl.DataFrame([_row("hindi", tokenizer, float(i))]))


def test_writers_in_two_processes_lose_nothing(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    ctx = multiprocessing.get_context("spawn")
    writers = [ctx.Process(target=_writer, args=(str(db), tok, 15)) for tok in ("spm", "gpt2")]
    for w in writers:
        w.start()
    for w in writers:
        w.join(120)
    assert [w.exitcode for w in writers] == [0, 0]
    rows = query(db, "SELECT tokenizer, fertility FROM tokenizer_stats ORDER BY tokenizer")
    assert rows.rows() == [("gpt2", 14.0), ("spm", 14.0)]


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
        from tsr_assets.warehouse_tables import WarehouseLocked

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
