"""Materializing `stories`: offline writer, OpenAI-compatible server, import, resume, SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from tsr_assets.definitions import build_definitions
from tsr_assets.defs.jobs import LANGUAGE_JOB
from tsr_assets.stories.store import read_table
from tsr_assets_tests.chat_server import Reply, good_story, running_chat_server

BIN = Path(sys.executable).parent


def _run(instance, language="hindi", count=40, stories=None, llm=None, selection=None):
    run_config: dict = {"ops": {"prompts": {"config": {"count": count}}}}
    if stories:
        run_config["ops"]["stories"] = {"config": stories}
    if llm:
        run_config["resources"] = {"llm": {"config": llm}}
    job = build_definitions().resolve_job_def(LANGUAGE_JOB)
    return job.execute_in_process(
        instance=instance, partition_key=language, run_config=run_config, raise_on_error=False,
        op_selection=selection,
    )


def _checks(result) -> dict[str, dg.AssetCheckEvaluation]:
    return {c.check_name: c for c in result.get_asset_check_evaluations()}


@pytest.mark.parametrize("language", ["hindi", "marathi", "bengali", "english"])
def test_offline_writer_end_to_end(language: str, data_lake: Path, instance) -> None:
    result = _run(instance, language, count=40)
    assert result.success
    table = read_table(data_lake / "stories" / language)
    assert table.height == 40 and table["prompt_id"].n_unique() == 40
    assert set(table["provider"]) == {"offline-template"}
    checks = _checks(result)
    for name in ("stories_script_purity", "stories_no_duplicates", "stories_length_distribution",
                 "stories_use_prompt_words", "stories_failure_rate"):
        assert checks[name].passed, (name, checks[name].metadata)
    meta = next(m for m in result.get_asset_materialization_events()
                if m.asset_key == dg.AssetKey("stories")).materialization.metadata
    assert meta["provider"].value == "offline-template"
    assert meta["stories_total"].value == 40

    # Re-materializing generates nothing new; asking for more prompts generates only those.
    again = _run(instance, language, count=40)
    meta = next(m for m in again.get_asset_materialization_events()
                if m.asset_key == dg.AssetKey("stories")).materialization.metadata
    assert meta["generated_this_run"].value == 0
    _run(instance, language, count=55)
    assert read_table(data_lake / "stories" / language)["prompt_id"].n_unique() == 55


def test_openai_compatible_endpoint_through_the_resource(data_lake: Path, instance,
                                                         monkeypatch) -> None:
    monkeypatch.setenv("MY_KEY", "sk-secret-value")

    def policy(prompt: str, call: int) -> Reply:
        if call == 1 and hash(prompt) % 3 == 0:
            return Reply(status=429, headers={"Retry-After": "0.1"})
        return Reply(good_story(prompt))

    with running_chat_server(policy) as server:
        result = _run(instance, count=25, llm={
            "source": "openai", "base_url": server.base_url, "model": "test-model",
            "api_key_env_var": "MY_KEY", "concurrency": 4, "backoff_base_s": 0.01,
        })
    assert result.success
    table = read_table(data_lake / "stories" / "hindi")
    assert table.height == 25 and set(table["model"]) == {"test-model"}
    assert all(p.startswith("openai-compatible:http://127.0.0.1") for p in table["provider"])
    assert server.auth_headers[0] == "Bearer sk-secret-value"
    # The secret never reaches the event log.
    for record in instance.all_logs(result.run_id):
        assert "sk-secret-value" not in str(record)


def test_failures_are_recorded_not_retried_forever(data_lake: Path, instance) -> None:
    with running_chat_server(lambda p, c: Reply("no story today")) as server:
        result = _run(instance, count=5, llm={
            "source": "openai", "base_url": server.base_url, "max_attempts": 2,
            "backoff_base_s": 0.01, "breaker_enabled": False,  # every attempt is made
        })
        assert sum(server.calls.values()) == 10
    # A run that produced no story fails, naming the reason and the likely fix ...
    assert not result.success
    error = str(next(e for e in result.all_events if e.is_step_failure)
                .event_specific_data.error)
    assert "none of 5 requests produced a usable answer" in error
    assert "no_json x 10" in error and "instruction-tuned" in error
    # ... and keeps what it learned: every failure and rejection is stored.
    failures = read_table(data_lake / "stories" / "hindi", "failure")
    assert failures.height == 5 and set(failures["reason"]) == {"no_json"}
    rejections = read_table(data_lake / "stories" / "hindi", "rejection")
    assert rejections.height == 10 and rejections["snippet"][0] == "no story today"


def test_import_local_jsonl(tmp_path: Path, data_lake: Path, instance) -> None:
    good = json.loads(good_story('noun "नदी"'))["story"]
    rows = [{"text": good}, {"text": good + " दूसरी।"}, {"text": "too short"},
            {"text": good}]
    path = tmp_path / "stories.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n")
    result = _run(instance, count=5, stories={"import_path": str(path),
                                               "import_text_column": "text"})
    assert result.success
    table = read_table(data_lake / "stories" / "hindi")
    assert table.height == 2 and table["provider"][0] == "import:stories.jsonl"
    bad_column = _run(instance, count=5, stories={"import_path": str(path)})
    assert not bad_column.success


def test_sigkill_mid_run_then_resume_gives_exactly_n(tmp_path: Path, data_lake: Path,
                                                     instance) -> None:
    n = 60
    assert _run(instance, count=n, selection=["wordlists", "prompts"]).success
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "DAGSTER_HOME": str(home), "TSR_DATA_DIR": str(data_lake)}
    with running_chat_server(lambda p, c: Reply(good_story(p), delay_s=0.1)) as server:
        config = {"resources": {"llm": {"config": {
            "source": "openai", "base_url": server.base_url, "concurrency": 2}}}}
        cmd = [str(BIN / "dagster"), "asset", "materialize", "-m", "tsr_assets.definitions",
               "--select", "stories", "--partition", "hindi",
               "--config-json", json.dumps(config)]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        journal = data_lake / "stories" / "hindi" / "journal"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            lines = sum(f.read_text().count("\n") for f in journal.glob("*.jsonl")) \
                if journal.exists() else 0
            if lines >= 10:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        calls_before = sum(server.calls.values())
        assert 10 <= calls_before < n  # really killed mid-way

        rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        assert rerun.returncode == 0, rerun.stderr[-3000:]
    table = read_table(data_lake / "stories" / "hindi")
    assert table.height == n and table["prompt_id"].n_unique() == n
    # Only the requests in flight at the kill (at most the concurrency) were sent twice.
    assert sum(server.calls.values()) - n <= 2
    assert not list(journal.glob("*.jsonl"))
    assert pl.read_parquet(data_lake / "prompts" / "hindi" / "prompts.parquet").height == n


def test_the_story_store_has_a_data_version_that_changes_with_its_shards(data_lake: Path,
                                                                           instance) -> None:
    def version(result) -> str:
        event = next(m for m in result.get_asset_materialization_events()
                     if m.asset_key == dg.AssetKey("stories"))
        return event.materialization.tags["dagster/data_version"]

    first = version(_run(instance, count=10, selection=["wordlists", "prompts", "stories"]))
    again = version(_run(instance, count=10, selection=["wordlists", "prompts", "stories"]))
    more = version(_run(instance, count=12, selection=["wordlists", "prompts", "stories"]))
    assert first == again != more and first.startswith("1-") and more.startswith("2-")
