"""Dagster wiring, one module per stage. Logic lives in text/, tokenizers/ and model/."""
