"""How a run uses a batch API (`llm/batch_api.py`); None in `RunnerSettings.batch` is online."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class BatchSettings:
    """How batches are split, polled and finished."""

    max_requests_per_file: int = 50_000
    max_bytes_per_file: int = 200_000_000
    completion_window: str = "24h"
    poll_initial_s: float = 10.0
    poll_max_s: float = 300.0
    #: What happens to requests an expired or failed batch never answered.
    expired: Literal["batch", "online", "fail"] = "batch"
    #: The share of the online price a batch answer is billed at.
    price_discount: float = 0.5
    #: A local command that answers one input file instead of an API, with `{input}`,
    #: `{output}` and `{model}` filled in: `vllm run-batch -i {input} -o {output} --model
    #: {model}` on a GPU machine.
    command: str | None = None

    def __post_init__(self) -> None:
        if self.max_requests_per_file < 1 or self.max_bytes_per_file < 1:
            raise ValueError("max_requests_per_file must be >= 1, max_bytes_per_file >= 1")
        if not 0 <= self.price_discount <= 1:
            raise ValueError("price_discount must be in [0, 1]")
