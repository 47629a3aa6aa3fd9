"""Model size presets: the original framework's grid, named by shape, plus a CPU-sized `tiny`.

This is the catalog of seed sizes. Which sizes a deployment trains is declared in the defs
folder, one `ModelPreset` component each (`tsr_assets/defs/models/<name>/defs.yaml`, written by
`dg scaffold defs`: docs/training.md); `tiny` and `e512_l6` ship declared.

Names are valid Dagster asset-key parts (letters, digits, `_`), so each preset can have its
own `checkpoint_<preset>` asset. Parameter counts below assume a 50k vocabulary (Sarvam-1's
is 68k), as the original reported them; the platform reports exact counts per run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from tsr_assets.model.gpt import RECIPE_OPTIONS, GPTConfig

#: A model's name, as it is part of asset names (`checkpoint_<name>`).
MODEL_NAME = re.compile(r"[a-z][a-z0-9_]*")


def check_model_name(name: str, what: str = "model name") -> str:
    """`name` if it can be part of an asset name, else a ValueError that says what can."""
    if not MODEL_NAME.fullmatch(name):
        raise ValueError(f"{what} {name!r}: use lowercase letters, digits and _ (it is part of "
                         "asset names such as checkpoint_<name>)")
    return name


@dataclass(frozen=True)
class Preset:
    """A model shape and the training settings that suit it."""

    n_layer: int
    n_embd: int
    n_head: int = 8
    block_size: int = 1024
    learning_rate: float = 6e-4
    batch_size: int = 32
    #: A recipe fixed by the preset's name (`e512_l6_modern`); None: the run's choice.
    recipe: str | None = None

    def model_config(self, vocab_size: int, dropout: float = 0.0,
                     recipe: str = "nanogpt") -> GPTConfig:
        """The GPT config of this preset and `recipe` for a tokenizer with `vocab_size` ids."""
        return GPTConfig(vocab_size=vocab_size, block_size=self.block_size, n_layer=self.n_layer,
                         n_head=self.n_head, n_embd=self.n_embd, dropout=dropout,
                         **RECIPE_OPTIONS[recipe])


PRESETS: dict[str, Preset] = {
    "tiny": Preset(n_layer=2, n_embd=64, n_head=4, block_size=256, learning_rate=3e-3,
                   batch_size=8),
    "e64_l2": Preset(n_layer=2, n_embd=64, learning_rate=3e-3),
    "e64_l6": Preset(n_layer=6, n_embd=64, learning_rate=2e-3),
    "e64_l12": Preset(n_layer=12, n_embd=64, learning_rate=1e-3),
    "e512_l2": Preset(n_layer=2, n_embd=512),
    "e512_l6": Preset(n_layer=6, n_embd=512),
    "e512_l12": Preset(n_layer=12, n_embd=512, learning_rate=3e-4),
    "e1024_l2": Preset(n_layer=2, n_embd=1024, learning_rate=3e-4),
    "e1024_l7": Preset(n_layer=7, n_embd=1024, learning_rate=3e-4),
}


def get_preset(name: str) -> Preset:
    """The preset called `name`: a shape of `PRESETS`, optionally with a recipe after an
    underscore (`e512_l6_modern`: that shape always trained with `modern`), so both recipes
    of one shape can sit side by side. A ValueError lists the known ones."""
    if name in PRESETS:
        return PRESETS[name]
    shape, _, recipe = name.rpartition("_")
    if shape in PRESETS and recipe in RECIPE_OPTIONS:
        return replace(PRESETS[shape], recipe=recipe)
    raise ValueError(f"unknown model preset {name!r}; known: {', '.join(PRESETS)}, each "
                     f"optionally with a recipe suffix ({', '.join(RECIPE_OPTIONS)}): "
                     "e512_l6_modern")


def preset_of(name: str, shape: dict | None = None) -> Preset:
    """The preset `name` with `shape` (a `Preset`'s fields, as a deployment declares a size
    the catalog above does not have), else the catalog's (`get_preset`)."""
    return Preset(**shape) if shape else get_preset(name)
