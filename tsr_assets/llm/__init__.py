"""LLM access without Dagster: chat sources and the rate-limited request runner."""
