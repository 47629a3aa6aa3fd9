"""Damaged files in the lake or given by a user: a story shard cut short, an import folder with a
corrupt parquet file, `meta.json` and `tsr_tokenizer.json` that are not JSON, a checkpoint cut
short. Each run fails with a message naming the file and what to do, and nothing else in the
lake changes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import dagster as dg
import polars as pl

from tsr_assets.definitions import build_definitions
from tsr_assets.defs.jobs import LANGUAGE_JOB, LANGUAGE_TOKENIZER_JOB
from tsr_assets.defs.partitions import language_tokenizer_key

DEFS = build_definitions()


def _language_run(instance, stories: dict | None = None):
    run_config: dict = {"ops": {"prompts": {"config": {"count": 30}}}}
    if stories:
        run_config["ops"]["stories"] = {"config": stories}
    return DEFS.resolve_job_def(LANGUAGE_JOB).execute_in_process(
        instance=instance, partition_key="hindi", run_config=run_config, raise_on_error=False,
        op_selection=["wordlists", "prompts", "stories"])


def _tokenizer_run(instance, assets: list[str], run_config: dict | None = None):
    return DEFS.resolve_job_def(LANGUAGE_TOKENIZER_JOB).execute_in_process(
        instance=instance, partition_key=language_tokenizer_key("hindi", "byte"),
        asset_selection=[dg.AssetKey(a) for a in assets], run_config=run_config or {},
        raise_on_error=False)


def _error(result) -> str:
    return str(next(e for e in result.all_events if e.is_step_failure)
               .event_specific_data.error)


def _lake_files(lake: Path) -> dict[str, str]:
    """Every data file of the lake and its hash (the warehouse and lock files aside: a failed
    run records itself)."""
    return {str(p.relative_to(lake)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(lake.rglob("*")) if p.is_file() and "warehouse" not in p.name
            and not p.name.endswith(".lock")}


def _cut(path: Path, keep: float = 0.5) -> None:
    path.write_bytes(path.read_bytes()[: int(path.stat().st_size * keep)])


def test_a_story_shard_cut_short_is_named_and_nothing_changes(data_lake: Path,
                                                               instance) -> None:
    assert _language_run(instance).success
    shard = sorted((data_lake / "stories" / "hindi").rglob("part-*.parquet"))[0]
    _cut(shard)
    before = _lake_files(data_lake)
    for result in (_language_run(instance), _tokenizer_run(instance, ["tokenizer"])):
        assert not result.success
        error = _error(result)
        assert str(shard) in error and "cut short or corrupt" in error, error
        assert "Move the damaged file out of" in error and "restore it from a copy" in error
    assert _lake_files(data_lake) == before


def test_a_damaged_file_in_an_import_folder_is_named(data_lake: Path, instance,
                                                     tmp_path: Path) -> None:
    folder = tmp_path / "to_import"
    folder.mkdir()
    good = "मीरा एक छोटे गाँव में रहती थी। " * 12
    pl.DataFrame({"story": [good, good + " फिर"]}).write_parquet(folder / "a.parquet")
    pl.DataFrame({"story": [good + " अंत"] * 50}).write_parquet(folder / "b.parquet")
    _cut(folder / "b.parquet", 0.6)
    (folder / "c.jsonl").write_text('{"story": "ok"}\n{"story": \n')
    result = _language_run(instance, {"import_path": str(folder)})
    assert not result.success
    error = _error(result)
    assert str(folder / "b.parquet") in error and "cut short or corrupt" in error, error
    assert "Repair or re-export b.parquet, or move it out of the folder" in error
    assert not list((data_lake / "stories" / "hindi").rglob("*.parquet"))
    (folder / "b.parquet").unlink()
    error = _error(_language_run(instance, {"import_path": str(folder)}))
    assert str(folder / "c.jsonl") in error and "cannot be read as jsonl" in error, error


def test_meta_and_tokenizer_json_that_are_not_json_and_a_checkpoint_cut_short(
        data_lake: Path, instance) -> None:
    assert _language_run(instance).success
    train = {"ops": {"checkpoint_tiny": {"config": {"max_steps": 2, "eval_every": 2,
                                                    "eval_batches": 1, "batch_size": 2}},
                     "samples_tiny": {"config": {"max_openers": 2, "samples_per_opener": 1,
                                                 "max_new_tokens": 8}}}}
    assert _tokenizer_run(instance, ["tokenizer", "token_bins", "checkpoint_tiny"],
                          train).success
    bins = data_lake / "token_bins" / "hindi" / "byte"
    meta = bins / "meta.json"
    saved_meta = meta.read_bytes()
    meta.write_text('{"tokenizer": {"name": "byte",')
    before = _lake_files(data_lake)
    error = _error(_tokenizer_run(instance, ["tokenizer_stats"]))
    assert f"{meta}, line 1 column 31: not valid JSON" in error, error
    assert "Materialize `token_bins` for this partition again" in error
    assert _lake_files(data_lake) == before
    meta.write_bytes(saved_meta)

    descriptor = data_lake / "tokenizer" / "hindi" / "byte" / "tsr_tokenizer.json"
    saved_descriptor = descriptor.read_bytes()
    descriptor.write_text("kind: byte\n")
    before = _lake_files(data_lake)
    error = _error(_tokenizer_run(instance, ["token_bins"]))
    assert f"{descriptor}, line 1 column 1: not valid JSON" in error, error
    assert "Materialize the `tokenizer` asset for this partition again" in error
    assert _lake_files(data_lake) == before
    descriptor.write_bytes(saved_descriptor)

    best = data_lake / "checkpoint" / "hindi" / "byte" / "tiny" / "best.pt"  # what samples read
    _cut(best)
    before = _lake_files(data_lake)
    error = _error(_tokenizer_run(instance, ["samples_tiny"], train))
    assert f"checkpoint {best} cannot be read" in error and "truncated or corrupt" in error
    assert _lake_files(data_lake) == before
