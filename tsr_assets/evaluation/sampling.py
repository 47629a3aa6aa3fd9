"""Stories a trained model writes from the evaluation openers, as a table (no Dagster)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from tsr_assets.evaluation.openers import Opener
from tsr_assets.model.gpt import GPT
from tsr_assets.model.sample import SamplingSettings, sample_many
from tsr_assets.tokenizers.base import Tokenizer

#: The original study's setting: three stories per opener.
DEFAULT_SAMPLES_PER_OPENER = 3


@dataclass(frozen=True)
class OpenerSamples:
    """The samples of one run: one row per (opener, sample), and how the run went."""

    frame: pl.DataFrame
    openers_cut_to_fit: int
    seconds: float


def opener_prompts(tokenizer: Tokenizer, openers: Sequence[Opener], block_size: int
                   ) -> tuple[list[list[int]], int]:
    """`<bos> opener` ids of every opener, and how many had to be cut to fit.

    An opener longer than half the context keeps bos and its last tokens, so every sample has
    room to grow (the stored story still shows the whole opener).
    """
    keep = block_size // 2
    prompts = [[tokenizer.bos_id, *tokenizer.encode(o.text)] for o in openers]
    cropped = sum(len(p) > keep for p in prompts)
    prompts = [p if len(p) <= keep else [p[0], *p[len(p) - keep + 1:]] for p in prompts]
    return prompts, cropped


def continuation_text(tokenizer: Tokenizer, opener: str, ids: Sequence[int]) -> str:
    """The text the model added after `opener` (decoded together, so merges at the seam are
    attributed correctly when the decoded whole starts with the opener)."""
    full = tokenizer.decode(tokenizer.encode(opener) + list(ids))
    return full[len(opener):] if full.startswith(opener) else tokenizer.decode(ids)


def sample_openers(
    model: GPT,
    tokenizer: Tokenizer,
    openers: Sequence[Opener],
    settings: SamplingSettings,
    samples_per_opener: int = DEFAULT_SAMPLES_PER_OPENER,
    batch_rows: int = 64,
    seed: int = 0,
) -> OpenerSamples:
    """`samples_per_opener` stories from every opener, batched with a key/value cache.

    Columns: prompt_id, opener_index, sample_index, opener, continuation, story, tokens,
    ended_at_eos, slid (it outgrew the context and went on with a sliding window), seconds.
    """
    prompts, cropped = opener_prompts(tokenizer, openers, model.config.block_size)
    started = time.perf_counter()
    records = sample_many(model, prompts, tokenizer.eos_id, settings, samples_per_opener,
                          batch_rows, seed)
    seconds = time.perf_counter() - started
    rows = []
    for record in records:
        opener = openers[record.prompt_index]
        continuation = continuation_text(tokenizer, opener.text, record.ids)
        rows.append({
            "prompt_id": opener.prompt_id, "opener_index": opener.index,
            "sample_index": record.sample_index, "opener": opener.text,
            "continuation": continuation, "story": opener.text + continuation,
            "tokens": len(record.ids), "ended_at_eos": record.ended_at_eos,
            "slid": record.slid, "seconds": record.seconds,
        })
    return OpenerSamples(pl.DataFrame(rows), cropped, seconds)
