"""The data lake resource: the one place assets ask where their files go."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field

from tsr_assets.paths import data_lake_root, lake_path


class DataLakeResource(dg.ConfigurableResource):
    """Root folder of the data lake (`$TSR_DATA_DIR`, default `<repo>/data_lake`).

    Files follow `<root>/<asset>/<language>[/<tokenizer>[/<preset>]]/...`.
    """

    root: str | None = Field(
        default=None,
        description="Data lake folder. Empty: $TSR_DATA_DIR, else <repo>/data_lake.",
    )

    @property
    def root_path(self) -> Path:
        """The resolved data lake root."""
        return Path(self.root).expanduser().resolve() if self.root else data_lake_root()

    def folder(
        self,
        asset: str,
        language: str,
        tokenizer: str | None = None,
        preset: str | None = None,
    ) -> Path:
        """Folder for one partition of `asset` (not created)."""
        return lake_path(self.root_path, asset, language, tokenizer, preset)
