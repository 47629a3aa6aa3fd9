"""The tokenizer registry: partition keys come from it, and a backend registered at run time
gets its `tokenizer` and `token_bins` partitions with no other edit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from tsr_assets.definitions import build_definitions
from tsr_assets.defs.jobs import LANGUAGE_JOB, LANGUAGE_TOKENIZER_JOB
from tsr_assets.defs.partitions import language_tokenizer_key
from tsr_assets.stories.store import read_table
from tsr_assets.tokenizers.byte_tokenizer import BYTE_BACKEND
from tsr_assets.tokenizers.registry import (
    get_backend,
    load_tokenizer,
    offline_tokenizer_keys,
    register_tokenizer,
    tokenizer_keys,
    unregister_tokenizer,
)
from tsr_assets.tokenizers.token_bins import read_meta
from tsr_assets_tests.tokenizers.toy_tokenizer import TOY_BACKEND, CharTokenizer


@pytest.fixture
def toy_registered() -> Iterator[None]:
    register_tokenizer(TOY_BACKEND)
    yield
    unregister_tokenizer(TOY_BACKEND.key)


def test_builtin_keys_and_errors() -> None:
    assert tokenizer_keys()[:5] == ["spm", "byte", "gpt2", "sarvam", "sutra"]
    assert offline_tokenizer_keys() == ["spm", "byte", "gpt2"]
    with pytest.raises(KeyError, match="unknown tokenizer 'nope'.*register_tokenizer"):
        get_backend("nope")
    with pytest.raises(ValueError, match="already registered"):
        register_tokenizer(BYTE_BACKEND)
    with pytest.raises(ValueError, match="built-in"):
        unregister_tokenizer("byte")


def test_a_registered_backend_gets_its_partitions(toy_registered, data_lake: Path,
                                                   instance) -> None:
    defs = build_definitions()
    assert "hindi|toy" in defs.resolve_assets_def("token_bins").partitions_def.get_partition_keys()
    assert defs.resolve_job_def(LANGUAGE_JOB).execute_in_process(
        instance=instance, partition_key="hindi",
        run_config={"ops": {"prompts": {"config": {"count": 40}}}}).success
    result = defs.resolve_job_def(LANGUAGE_TOKENIZER_JOB).execute_in_process(
        instance=instance, partition_key=language_tokenizer_key("hindi", "toy"),
        asset_selection=[dg.AssetKey("tokenizer"), dg.AssetKey("token_bins")],
        run_config={"ops": {"token_bins": {"config": {"val_share": 0.1}},
                            "tokenizer": {"config": {"val_share": 0.1}}}},
        raise_on_error=False)
    assert result.success
    check = next(c for c in result.get_asset_check_evaluations()
                 if c.check_name == "token_bins_round_trip")
    assert check.passed, check.metadata

    stored = load_tokenizer(data_lake / "tokenizer" / "hindi" / "toy")
    assert isinstance(stored, CharTokenizer)
    meta = read_meta(data_lake / "token_bins" / "hindi" / "toy")
    assert meta["tokenizer"]["kind"] == "toy_chars"
    stories = read_table(data_lake / "stories" / "hindi")
    assert meta["splits"]["train"]["stories"] + meta["splits"]["val"]["stories"] == stories.height
    # One id per character plus bos and eos per story.
    chars = sum(len(s) for s in stories["story"])
    assert sum(s["tokens"] for s in meta["splits"].values()) == chars + 2 * stories.height
