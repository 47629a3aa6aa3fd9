"""The warehouse resource: where the DuckDB file lives, and writing or reading its tables."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import dagster as dg
import polars as pl
from pydantic import Field

from tsr_assets import warehouse_tables
from tsr_assets.paths import data_lake_root


class WarehouseResource(dg.ConfigurableResource):
    """DuckDB warehouse file (default `$TSR_DATA_DIR/warehouse.duckdb`).

    Writers serialize through the `duckdb` concurrency pool and, across processes, by
    retrying while another writer holds the file's lock.
    """

    path: str | None = Field(
        default=None, description="DuckDB file. Empty: <data lake>/warehouse.duckdb."
    )
    lock_wait_s: float = Field(default=120.0, description="How long a writer waits for a lock.")

    @property
    def file(self) -> Path:
        """The resolved DuckDB file path."""
        if self.path:
            return Path(self.path).expanduser().resolve()
        return data_lake_root() / warehouse_tables.WAREHOUSE_FILE

    def replace_rows(self, table: str, partition: Mapping[str, str], rows: pl.DataFrame) -> int:
        """Replace one partition's rows of `table` in one transaction."""
        return warehouse_tables.replace_rows(self.file, table, partition, rows, self.lock_wait_s)

    def query(self, sql: str, params: list | None = None) -> pl.DataFrame:
        """Run a query and return a polars frame."""
        return warehouse_tables.query(self.file, sql, params, self.lock_wait_s)
