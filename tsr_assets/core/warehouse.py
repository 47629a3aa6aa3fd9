"""The DuckDB warehouse: table definitions and the one way rows get written.

`$TSR_DATA_DIR/warehouse.duckdb` holds one table per measured thing. A partition's rows are
replaced in one transaction (delete its old rows, insert the new), so re-materializing a
partition never duplicates rows and a reader never sees half of a partition. DuckDB lets one
process write at a time; a writer that finds the file locked retries with backoff.
"""

from __future__ import annotations

import json
import os
import random
import socket
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl

from tsr_assets.core.warehouse_schema import (  # noqa: F401 - the schema, re-exported
    DEFAULT_CPU_HOUR_PRICE,
    DEFAULT_GPU_HOUR_PRICE,
    TABLES,
    VIEWS,
)

# New warehouse files are written in a storage format that DuckDB 1.4 and later read, so the
# duckdb CLI (`pip install duckdb-cli`, 1.5 at the time of writing) can open them.
STORAGE_COMPATIBILITY = "v1.4.0"

class WarehouseLocked(RuntimeError):
    """Another process held the warehouse for longer than the wait allowed."""


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc).lower()
    return "lock" in text or "conflicting" in text


@contextmanager
def connect(path: Path, read_only: bool = False, wait_s: float = 120.0,
            config: Mapping[str, object] | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the warehouse file, retrying while another process holds its lock.

    `config` holds DuckDB settings for the connection. A new file is written in a storage
    format that DuckDB 1.4 and later read.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_s
    delay = 0.05
    while True:
        try:
            settings = dict(config or {})
            if not path.exists():
                settings["storage_compatibility_version"] = STORAGE_COMPATIBILITY
            con = duckdb.connect(str(path), read_only=read_only, config=settings)
            break
        except duckdb.IOException as exc:
            if not _is_lock_error(exc) or time.monotonic() > deadline:
                raise WarehouseLocked(
                    f"{path} stayed locked for {wait_s:.0f}s by another process: {exc}"
                ) from exc
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 1.0)
    try:
        yield con
    finally:
        con.close()


def table_columns(table: str) -> dict[str, str]:
    """Column name -> type of a table as `TABLES` declares it."""
    columns = {}
    for line in TABLES[table].strip().splitlines():
        name, kind = line.strip().rstrip(",").split(maxsplit=1)
        columns[name] = kind
    return columns


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create every table and view that does not exist yet, and add the columns a newer
    version declares to tables an older one created (existing rows get NULL, or the
    column's DEFAULT where it declares one)."""
    for table, columns in TABLES.items():
        con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({columns})")
        present = {row[1] for row in con.execute(f"PRAGMA table_info('{table}')").fetchall()}
        for name, kind in table_columns(table).items():
            if name not in present:
                con.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
    for view, sql in VIEWS.items():  # replaced every time, so a changed definition lands
        con.execute(f"CREATE OR REPLACE VIEW {view} AS {sql}")


def replace_partition(con: duckdb.DuckDBPyConnection, table: str,
                      partition: Mapping[str, str], rows: pl.DataFrame,
                      also_delete: Mapping[str, Mapping[str, str]] | None = None) -> int:
    """Replace the rows of one partition of `table` (matched on `partition`'s columns), and
    delete the rows of each `also_delete` table that match its own columns (rows made from
    the replaced ones, such as the judge scores of replaced samples).

    Runs in one transaction: either the old rows are gone and all new rows are in, or nothing
    changed. Returns the number of rows inserted.
    """
    also_delete = dict(also_delete or {})
    for name in (table, *also_delete):
        if name not in TABLES:
            raise ValueError(f"unknown warehouse table {name!r}; known: {', '.join(TABLES)}")
    missing = [c for c in partition if c not in rows.columns] if rows.height else []
    if missing:
        raise ValueError(f"rows for {table} lack partition columns {missing}")
    began_at = datetime.now(UTC)
    con.execute("BEGIN TRANSACTION")
    try:
        for name, match in (*also_delete.items(), (table, partition)):
            where = " AND ".join(f"{column} = ?" for column in match)
            con.execute(f"DELETE FROM {name} WHERE {where}", list(match.values()))
        if rows.height:
            con.register("incoming_rows", rows.to_arrow())
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM incoming_rows")
            con.unregister("incoming_rows")
        con.execute("INSERT INTO warehouse_writes VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [table, json.dumps(dict(partition), sort_keys=True), rows.height, began_at,
                     datetime.now(UTC), socket.gethostname(), os.getpid()])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return rows.height


def replace_keyed_rows(con: duckdb.DuckDBPyConnection, table: str, keys: Sequence[str],
                       rows: pl.DataFrame, what: str = "") -> int:
    """Replace the rows of `table` whose `keys` columns equal those of a row in `rows` (such
    as one rater's scores of some stories), keeping every other row, in one transaction.
    Returns the number of rows inserted. `what` names the write in `warehouse_writes`."""
    if table not in TABLES:
        raise ValueError(f"unknown warehouse table {table!r}; known: {', '.join(TABLES)}")
    missing = [c for c in keys if c not in rows.columns]
    if missing:
        raise ValueError(f"rows for {table} lack key columns {missing}")
    began_at = datetime.now(UTC)
    match = " AND ".join(f"{table}.{k} = incoming_rows.{k}" for k in keys)
    con.execute("BEGIN TRANSACTION")
    try:
        con.register("incoming_rows", rows.to_arrow())
        con.execute(f"DELETE FROM {table} USING incoming_rows WHERE {match}")
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM incoming_rows")
        con.unregister("incoming_rows")
        con.execute("INSERT INTO warehouse_writes VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [table, json.dumps({"keys": list(keys), "what": what}), rows.height,
                     began_at, datetime.now(UTC), socket.gethostname(), os.getpid()])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return rows.height


def query_frame(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None
                ) -> pl.DataFrame:
    """Run a query on an open connection and return a polars frame."""
    return pl.from_arrow(con.sql(sql, params=params or None).to_arrow_table())


def replace_rows(
    path: Path, table: str, partition: Mapping[str, str], rows: pl.DataFrame,
    wait_s: float = 120.0,
) -> int:
    """`replace_partition` on the warehouse file at `path` (tables created if missing)."""
    with connect(path, wait_s=wait_s) as con:
        ensure_tables(con)
        return replace_partition(con, table, partition, rows)


def query(path: Path, sql: str, params: list | None = None, wait_s: float = 120.0
          ) -> pl.DataFrame:
    """Run a query against the warehouse file at `path` and return a polars frame."""
    with connect(path, wait_s=wait_s) as con:
        ensure_tables(con)
        return query_frame(con, sql, params)
