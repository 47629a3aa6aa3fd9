"""TinyStories Regional: Dagster assets for small story models in Indian languages.

`dagster ... -m tsr_assets` finds `defs` here. They are built on first access, so importing a
pure part (`tsr_assets.model.train`, `tsr_assets.tokenizers`) from a notebook or the trainer's
subprocess does not load Dagster.
"""

from __future__ import annotations

__all__ = ["build_definitions", "defs"]


def __getattr__(name: str) -> object:
    if name in __all__:
        from tsr_assets import definitions

        # Importing the definitions imports the subpackage `tsr_assets.defs`, which Python
        # binds to this module's `defs`: bind the Definitions object over it.
        globals().update(defs=definitions.defs, build_definitions=definitions.build_definitions)
        return globals()[name]
    raise AttributeError(f"module 'tsr_assets' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
