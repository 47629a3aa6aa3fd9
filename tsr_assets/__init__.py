"""TinyStories Regional: Dagster assets for small story models in Indian languages.

The one `Definitions` object is `tsr_assets.definitions.defs` (`dagster ... -m
tsr_assets.definitions`); importing the package or a pure part of it (`tsr_assets.model.train`,
`tsr_assets.tokenizers`) from a notebook or the trainer's subprocess does not load Dagster.
"""
