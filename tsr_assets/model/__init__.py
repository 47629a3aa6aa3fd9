"""The GPT model, its size presets, the standalone trainer and the sampler. No Dagster here."""
