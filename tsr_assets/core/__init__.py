"""Shared foundations: the language registry, the data-lake layout, atomic files, journals,
read-ahead and the DuckDB warehouse. No Dagster here."""
