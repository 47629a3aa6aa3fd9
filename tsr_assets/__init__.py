"""TinyStories Regional: Dagster assets for small story models in Indian languages.

`dagster ... -m tsr_assets` finds `defs` here.
"""

from tsr_assets.definitions import build_definitions, defs

__all__ = ["build_definitions", "defs"]
