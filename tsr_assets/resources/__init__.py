"""Dagster resources: data lake paths, LLM client, judge, DuckDB warehouse."""
