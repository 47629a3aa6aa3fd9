"""`checkpoint_<preset>`: the trainer through Dagster Pipes, metadata, DuckDB, presets config."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pytest

from tsr_assets.definitions import build_definitions
from tsr_assets.defs.jobs import LANGUAGE_JOB, LANGUAGE_TOKENIZER_JOB
from tsr_assets.defs.load_scope import current_scope
from tsr_assets.defs.partitions import language_tokenizer_key

TRAIN = {"max_steps": 30, "eval_every": 10, "eval_batches": 2, "log_every": 10,
         "batch_size": 8, "block_size": 64}


def _run(instance, assets: list[str], train: dict | None = None):
    job = build_definitions().resolve_job_def(LANGUAGE_TOKENIZER_JOB)
    run_config = {"ops": {"checkpoint_tiny": {"config": train}}} if train else {}
    return job.execute_in_process(
        instance=instance, partition_key=language_tokenizer_key("hindi", "byte"),
        asset_selection=[dg.AssetKey(a) for a in assets], run_config=run_config,
        raise_on_error=False,
    )


def test_checkpoint_asset_trains_through_pipes(data_lake: Path, instance) -> None:
    language_job = build_definitions().resolve_job_def(LANGUAGE_JOB)
    assert language_job.execute_in_process(
        instance=instance, partition_key="hindi",
        run_config={"ops": {"prompts": {"config": {"count": 80}}}}).success
    assert _run(instance, ["tokenizer", "token_bins"]).success

    result = _run(instance, ["checkpoint_tiny"], TRAIN)
    assert result.success
    event = next(m for m in result.get_asset_materialization_events()
                 if m.asset_key == dg.AssetKey("checkpoint_tiny"))
    meta = {k: v.value for k, v in event.materialization.metadata.items()}
    # Reported by the trainer process through Pipes:
    assert meta["precision"] == "float32" and meta["stop_reason"] == "max_steps"
    assert meta["world_size"] == 1
    assert meta["steps"] == 30 and meta["tokens_seen"] == 30 * 8 * 64
    assert meta["best_val_loss"] <= meta["final_val_loss"] + 1e-9
    assert meta["loss_curve"].startswith("![loss curve](data:image/png;base64,")
    # tiny (2 layers, 64 wide, modern recipe) on the byte tokenizer's 258 ids: a 258 x 64
    # token embedding (16,512) and 123,392 parameters in the blocks and the head.
    assert meta["parameters"] == 139_904 and meta["parameters_non_embedding"] == 123_392
    assert meta["val_bits_per_byte"] > 0
    # The trainer's progress lines reached the run's event log through Pipes.
    messages = [e.user_message for e in instance.all_logs(result.run_id)]
    assert any("step 10: val loss" in m for m in messages)
    out = data_lake / "checkpoint" / "hindi" / "byte" / "tiny"
    assert {p.name for p in out.iterdir()} >= {"last.pt", "best.pt", "metrics.jsonl",
                                               "summary.json", "loss_curve.png"}

    # A second run resumes from the last checkpoint and adds its own row.
    again = _run(instance, ["checkpoint_tiny"], {**TRAIN, "max_steps": 40})
    assert again.success
    with duckdb.connect(str(data_lake / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute(
            "SELECT run_id, steps, resumed_from_step, preset, tokenizer, best_val_loss "
            "FROM training_runs ORDER BY steps").fetchall()
    assert [(r[0], r[1], r[2]) for r in rows] == [(result.run_id, 30, None),
                                                  (again.run_id, 40, 30)]
    assert all(r[3] == "tiny" and r[4] == "byte" and r[5] > 0 for r in rows)

    # A run that makes no optimizer step fails its asset, keeps the trained model, adds no
    # row, and nothing downstream runs on it.
    best = (out / "best.pt").read_bytes()
    idle = _run(instance, ["checkpoint_tiny", "samples_tiny"],
                {**TRAIN, "resume": False, "max_seconds": 1e-9})
    assert not idle.success
    failure = next(e for e in idle.all_events if e.is_step_failure)
    assert failure.step_key == "checkpoint_tiny"
    assert "made no optimizer step (stop reason max_seconds" in \
        failure.event_specific_data.user_failure_data.description
    assert not any(e.step_key == "samples_tiny" and e.is_step_success for e in idle.all_events)
    assert not (data_lake / "samples" / "hindi" / "byte" / "tiny").exists()
    assert (out / "best.pt").read_bytes() == best
    with duckdb.connect(str(data_lake / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM training_runs").fetchone() == (2,)


def test_training_without_bins_fails_with_the_fix(data_lake: Path, instance) -> None:
    result = _run(instance, ["checkpoint_tiny"], TRAIN)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "materialize `token_bins` for hindi|byte first" in str(
        failure.event_specific_data.error)


def test_which_presets_get_assets_is_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    keys = {k.to_user_string() for k in build_definitions().resolve_all_asset_keys()}
    assert {"checkpoint_tiny", "checkpoint_e512_l6"} <= keys
    monkeypatch.setenv("TSR_PRESETS", "tiny, e64_l2")
    assert current_scope().presets == ("tiny", "e64_l2")  # an override of the defs folder
    keys = {k.to_user_string() for k in build_definitions().resolve_all_asset_keys()}
    assert "checkpoint_e64_l2" in keys and "checkpoint_e512_l6" not in keys
    with pytest.raises(ValueError, match="unknown model preset 'e9_l9'"):
        build_definitions(presets=["e9_l9"])
