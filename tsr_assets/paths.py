"""Where things live on disk: the repository root and the data lake root.

Both are resolved when asked (not at import), so a test or a user can point `TSR_DATA_DIR`
somewhere else at any time.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def data_lake_root() -> Path:
    """`$TSR_DATA_DIR` if set, else `<repo>/data_lake`."""
    configured = os.environ.get("TSR_DATA_DIR", "").strip()
    return Path(configured).expanduser().resolve() if configured else REPO_ROOT / "data_lake"


def lake_path(
    root: Path,
    asset: str,
    language: str,
    tokenizer: str | None = None,
    preset: str | None = None,
) -> Path:
    """Folder of one partition of an asset: `<root>/<asset>/<language>[/<tokenizer>[/<preset>]]`."""
    path = root / asset / language
    if tokenizer is not None:
        path = path / tokenizer
        if preset is not None:
            path = path / preset
    elif preset is not None:
        raise ValueError("a preset folder needs a tokenizer folder above it")
    return path
