"""Declarative Automation: each language's chain on its own cron, every chained language x
tokenizer asset eager after fresh stories (hub tokenizers left alone), reports after the chain;
evaluated as the `tsr_automation` sensor would, and the requested runs driven end to end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from tsr_assets.core.lake import REPO_ROOT
from tsr_assets.definitions import build_definitions
from tsr_assets.defs.automation import AUTOMATION_SENSOR, MODELS_AUTOMATION_SENSOR
from tsr_assets.defs.jobs import LANGUAGE_JOB, LANGUAGE_TOKENIZER_JOB, REPORTS_JOB

SMALL_CHAIN = {"ops": {
    "checkpoint_tiny": {"config": {"max_steps": 20, "eval_every": 10, "eval_batches": 2,
                                   "batch_size": 4}},
    "samples_tiny": {"config": {"max_openers": 5, "samples_per_opener": 2,
                                "max_new_tokens": 30}},
}}


def _requested(result, name: str) -> list[str]:
    return sorted(result.get_requested_partitions(dg.AssetKey(name)) or [])


def test_each_language_refreshes_on_its_own_cron(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TSR_CRON", "15 4 * * *")
    monkeypatch.setenv("TSR_CRON_MARATHI", "30 1 * * 1")
    defs = build_definitions()
    sensors = {s.name: s for s in defs.sensors}
    assert set(sensors) == {AUTOMATION_SENSOR, MODELS_AUTOMATION_SENSOR} and not defs.schedules
    assert sensors[MODELS_AUTOMATION_SENSOR].run_tags == {"tsr/gpu": "1"}
    condition = defs.resolve_asset_graph().get(dg.AssetKey("wordlists")).automation_condition
    assert condition.get_label() == "on each language's cron"
    assert sorted(c.get_label() for c in condition.children) == [
        "on 15 4 * * * for bengali, english, hindi", "on 30 1 * * 1 for marathi"]
    with dg.DagsterInstance.ephemeral() as instance:
        start = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)  # a Wednesday
        first = dg.evaluate_automation_conditions(defs, instance, evaluation_time=start)
        assert first.total_requested == 0
        tick = dg.evaluate_automation_conditions(defs, instance, cursor=first.cursor,
                                                 evaluation_time=start + timedelta(minutes=16))
        # The whole language chain at once (one run per language), Marathi on its Monday.
        for name in ("wordlists", "prompts", "stories", "near_duplicates", "hf_dataset"):
            assert _requested(tick, name) == ["bengali", "english", "hindi"], name
        assert not _requested(tick, "tokenizer")  # once the stories exist
        # Marathi's own cron: Monday 01:30. Just before it nothing of Marathi's is asked for;
        # just after it, Marathi's chain alone (the others' 04:15 is hours away).
        monday = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
        before = dg.evaluate_automation_conditions(defs, instance, cursor=tick.cursor,
                                                   evaluation_time=monday + timedelta(minutes=29))
        assert "marathi" not in _requested(before, "wordlists")
        after = dg.evaluate_automation_conditions(defs, instance, cursor=before.cursor,
                                                  evaluation_time=monday + timedelta(minutes=31))
        for name in ("wordlists", "prompts", "stories", "near_duplicates", "hf_dataset"):
            assert _requested(after, name) == ["marathi"], name


def test_bad_chain_tokenizers_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from tsr_assets.defs.automation import chain_tokenizers

    monkeypatch.setenv("TSR_CHAIN_TOKENIZERS", "spm, wordpiece")
    with pytest.raises(ValueError, match=r"TSR_CHAIN_TOKENIZERS.*wordpiece"):
        chain_tokenizers(["spm", "byte"])


def test_fresh_stories_drive_the_chain_then_the_reports(
    data_lake: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"  # a fresh instance: no stories materialized by other tests
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO_ROOT / "dagster.yaml").read_text())
    monkeypatch.setenv("TSR_PRESETS", "tiny")
    monkeypatch.setenv("TSR_CHAIN_TOKENIZERS", "byte,spm")
    defs = build_definitions(languages=["hindi", "marathi", "bengali"])
    with dg.DagsterInstance.from_config(str(home)) as instance:
        idle = dg.evaluate_automation_conditions(defs, instance)
        assert not _requested(idle, "tokenizer")  # nothing fresh yet

        assert defs.resolve_job_def(LANGUAGE_JOB).execute_in_process(
            instance=instance, partition_key="hindi").success
        fresh = dg.evaluate_automation_conditions(defs, instance, cursor=idle.cursor)
        chain = ["tokenizer", "token_bins", "tokenizer_stats", "checkpoint_tiny",
                 "samples_tiny", "judge_scores_tiny", "judge_probes_tiny", "hf_model_tiny"]
        for name in chain:  # only the chained tokenizers, not gpt2 nor the hub ones
            assert _requested(fresh, name) == ["hindi|byte", "hindi|spm"], name
        assert not _requested(fresh, "reports")  # not before the chain has run

        job = defs.resolve_job_def(LANGUAGE_TOKENIZER_JOB)
        for key in _requested(fresh, "tokenizer"):  # what the sensor launches, one run each
            assert job.execute_in_process(
                instance=instance, partition_key=key, run_config=SMALL_CHAIN,
                asset_selection=[dg.AssetKey(n) for n in chain]).success
        after = dg.evaluate_automation_conditions(defs, instance, cursor=fresh.cursor)
        assert after.get_requested_partitions(dg.AssetKey("reports")) is not None
        assert after.total_requested == 1  # the reports, and the chain is not asked again
        assert defs.resolve_job_def(REPORTS_JOB).execute_in_process(instance=instance).success
        settled = dg.evaluate_automation_conditions(defs, instance, cursor=after.cursor)
        assert settled.total_requested == 0

    with duckdb.connect(str(data_lake / "warehouse.duckdb"), read_only=True) as con:
        def count(table: str) -> int:
            return con.execute(f"SELECT count(DISTINCT tokenizer) FROM {table} "
                               "WHERE language = 'hindi'").fetchone()[0]

        assert {t: count(t) for t in ("tokenizer_stats", "training_runs", "samples",
                                      "judge_scores", "judge_probes")} == {
            "tokenizer_stats": 2, "training_runs": 2, "samples": 2, "judge_scores": 2,
            "judge_probes": 2}
        assert con.execute("SELECT count(*) FROM samples").fetchone() == (2 * 5 * 2,)
    assert (data_lake / "reports" / "report.md").is_file()
