"""Schedules and sensors: tick evaluation, and the chain they drive run end to end."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from tsr_assets.core.lake import REPO_ROOT
from tsr_assets.definitions import build_definitions
from tsr_assets.defs.jobs import LANGUAGE_JOB, LANGUAGE_TOKENIZER_JOB, REPORTS_JOB

SMALL_CHAIN = {"ops": {
    "checkpoint_tiny": {"config": {"max_steps": 20, "eval_every": 10, "eval_batches": 2,
                                   "batch_size": 4}},
    "samples_tiny": {"config": {"max_openers": 5, "samples_per_opener": 2,
                                "max_new_tokens": 30}},
}}


def test_one_schedule_per_language_with_cron_from_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TSR_CRON", "15 4 * * *")
    monkeypatch.setenv("TSR_CRON_MARATHI", "30 1 * * 1")
    defs = build_definitions()
    crons = {s.name: s.cron_schedule for s in defs.schedules}
    assert crons == {"refresh_hindi": "15 4 * * *", "refresh_marathi": "30 1 * * 1",
                     "refresh_bengali": "15 4 * * *", "refresh_english": "15 4 * * *"}
    schedule = defs.resolve_schedule_def("refresh_bengali")
    assert schedule.job_name == LANGUAGE_JOB
    when = datetime(2026, 11, 25, 4, 15, tzinfo=UTC)
    result = schedule.evaluate_tick(dg.build_schedule_context(
        scheduled_execution_time=when, repository_def=defs.get_repository_def()))
    [request] = result.run_requests
    assert request.partition_key == "bengali" and request.run_key == f"bengali-{when.isoformat()}"


def test_bad_chain_tokenizers_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from tsr_assets.defs.automation import chain_tokenizers

    monkeypatch.setenv("TSR_CHAIN_TOKENIZERS", "spm, wordpiece")
    with pytest.raises(ValueError, match=r"TSR_CHAIN_TOKENIZERS.*wordpiece"):
        chain_tokenizers(["spm", "byte"])


def test_schedule_then_sensors_drive_the_whole_chain(
    data_lake: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"  # a fresh instance: no stories materialized by other tests
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO_ROOT / "dagster.yaml").read_text())
    with dg.DagsterInstance.from_config(str(home)) as instance:
        _drive_the_chain(instance, data_lake, tmp_path, monkeypatch)


def _drive_the_chain(instance, data_lake: Path, tmp_path: Path,
                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TSR_PRESETS", "tiny")
    monkeypatch.setenv("TSR_CHAIN_TOKENIZERS", "byte,spm")
    config_file = tmp_path / "chain.json"
    config_file.write_text(json.dumps(SMALL_CHAIN))
    monkeypatch.setenv("TSR_CHAIN_RUN_CONFIG", str(config_file))
    defs = build_definitions(languages=["hindi", "marathi", "bengali"])

    # Nothing fresh yet: the sensor asks for nothing.
    sensor = defs.resolve_sensor_def("stories_fresh_sensor")
    idle = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs))
    assert not idle.run_requests

    # The schedule's tick asks for the language job of its language; run what it asks for.
    tick = defs.resolve_schedule_def("refresh_hindi").evaluate_tick(
        dg.build_schedule_context(instance=instance, repository_def=defs.get_repository_def(),
                                  scheduled_execution_time=datetime(2026, 11, 25, tzinfo=UTC)))
    [language_request] = tick.run_requests
    language_run = defs.resolve_job_def(LANGUAGE_JOB).execute_in_process(
        instance=instance, partition_key=language_request.partition_key, tags=language_request.tags)
    assert language_run.success

    # Fresh stories: one run request per configured tokenizer, then nothing more.
    context = dg.build_sensor_context(instance=instance, definitions=defs)
    result = sensor.evaluate_tick(context)
    assert sorted(r.partition_key for r in result.run_requests) == ["hindi|byte", "hindi|spm"]
    assert all(r.run_config == SMALL_CHAIN for r in result.run_requests)
    again = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs,
                                                         cursor=result.cursor))
    assert not again.run_requests

    chain = defs.resolve_job_def(LANGUAGE_TOKENIZER_JOB)
    runs = [chain.execute_in_process(instance=instance, partition_key=r.partition_key,
                                     run_config=r.run_config, tags=r.tags)
            for r in result.run_requests]
    assert all(run.success for run in runs)

    # A successful chain run asks for the reports.
    reports_sensor = defs.resolve_sensor_def("reports_after_chain_sensor")
    dagster_run = instance.get_run_by_id(runs[0].run_id)
    [success] = instance.all_logs(runs[0].run_id, of_type=dg.DagsterEventType.RUN_SUCCESS)
    success_event = success.dagster_event
    request = reports_sensor(dg.build_run_status_sensor_context(
        sensor_name="reports_after_chain_sensor", dagster_instance=instance,
        dagster_run=dagster_run, dagster_event=success_event))
    assert request.run_key == f"reports-after-{runs[0].run_id}"
    assert defs.resolve_job_def(REPORTS_JOB).execute_in_process(instance=instance).success

    with duckdb.connect(str(data_lake / "warehouse.duckdb"), read_only=True) as con:
        def count(table: str) -> int:
            return con.execute(f"SELECT count(DISTINCT tokenizer) FROM {table} "
                               "WHERE language = 'hindi'").fetchone()[0]

        assert {t: count(t) for t in ("tokenizer_stats", "training_runs", "samples",
                                      "judge_scores")} == {
            "tokenizer_stats": 2, "training_runs": 2, "samples": 2, "judge_scores": 2}
        assert con.execute("SELECT count(*) FROM samples").fetchone() == (2 * 5 * 2,)
    assert (data_lake / "reports" / "report.md").is_file()
    every_run = instance.get_runs()
    assert {r.job_name for r in every_run} >= {LANGUAGE_JOB, LANGUAGE_TOKENIZER_JOB, REPORTS_JOB}
