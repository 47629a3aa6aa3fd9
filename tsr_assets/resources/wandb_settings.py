"""Weights & Biases settings for training runs (optional; off unless a project is set)."""

from __future__ import annotations

import dagster as dg
from pydantic import Field


class WandbSettings(dg.ConfigurableResource):
    """Where training runs log to W&B. The API key comes from an environment variable only.

    Without a key, runs log in offline mode into the checkpoint folder (`wandb sync` later).
    """

    project: str | None = Field(default=None, description="W&B project; empty: W&B off.")
    entity: str | None = Field(default=None, description="W&B entity (team or user).")
    mode: str | None = Field(default=None,
                             description="online or offline; empty: offline without a key.")
    api_key: str | None = Field(default=None,
                                description="Set with EnvVar('WANDB_API_KEY'); never stored.")

    def subprocess_env(self) -> dict[str, str]:
        """Environment for the trainer process (the key travels only here)."""
        env = {}
        if self.api_key:
            env["WANDB_API_KEY"] = self.api_key
        if self.entity:
            env["WANDB_ENTITY"] = self.entity
        return env
