"""Batch mode and the request cache through Dagster, against the local batch stand-in
(`tsr_assets_tests/batch_server.py`): files split by a test-sized limit, a SIGKILL while polling
then a rerun that polls the same batch, expired requests sent again, and answers already paid
for not requested again after the gates changed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import dagster as dg
import duckdb

from tsr_assets.definitions import build_definitions
from tsr_assets.defs.jobs import LANGUAGE_JOB
from tsr_assets.stories.store import read_table
from tsr_assets_tests.batch_server import running_batch_server
from tsr_assets_tests.chat_server import Reply, good_story, running_chat_server
from tsr_assets_tests.test_cli import BIN

BATCH = {"source": "openai", "model": "m", "mode": "batch", "batch_poll_s": 0.05,
         "batch_poll_max_s": 0.2, "backoff_base_s": 0.01}


def _run(instance, count: int, llm: dict, stories: dict | None = None):
    ops: dict = {"prompts": {"config": {"count": count}}}
    if stories:
        ops["stories"] = {"config": stories}
    return build_definitions().resolve_job_def(LANGUAGE_JOB).execute_in_process(
        instance=instance, partition_key="hindi", raise_on_error=False,
        op_selection=["wordlists", "prompts", "stories"],
        run_config={"ops": ops, "resources": {"llm": {"config": llm}}})


def _generation_runs(lake: Path) -> list[dict]:
    with duckdb.connect(str(lake / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute("SELECT * FROM generation_runs ORDER BY finished_at").fetchall()
        names = [d[0] for d in con.description]
    return [dict(zip(names, row, strict=True)) for row in rows]


def _state(lake: Path) -> list[dict]:
    path = lake / "stories" / "hindi" / "batches" / "state.json"
    return json.loads(path.read_text())["batches"] if path.is_file() else []


def test_1200_prompts_in_three_batch_files_at_half_the_price(data_lake: Path, instance) -> None:
    llm = {**BATCH, "batch_max_requests_per_file": 400, "price_input_per_million": 1.0,
           "price_output_per_million": 2.0}
    with running_batch_server(lambda p, c: Reply(good_story(p))) as server:
        result = _run(instance, 1200, {**llm, "base_url": server.base_url})
        assert result.success
        assert len(server.batches) == 3 and server.online_requests == 0
        assert sorted(len(b.lines) for b in server.batches.values()) == [400, 400, 400]
        assert max(server.answered_ids.values()) == 1 and len(server.answered_ids) == 1200
    stories = read_table(data_lake / "stories" / "hindi")
    assert stories.height == 1200 and stories["prompt_id"].n_unique() == 1200
    row = _generation_runs(data_lake)[-1]
    assert row["mode"] == "batch" and sorted(json.loads(row["batch_ids"])) == sorted(
        server.batches)
    online = (row["prompt_tokens"] * 1.0 + row["completion_tokens"] * 2.0) / 1e6
    assert abs(row["cost"] - online * 0.5) < 1e-9 and abs(row["cost_saved"] - online * 0.5) < 1e-9
    meta = next(m for m in result.get_asset_materialization_events()
                if m.asset_key == dg.AssetKey("stories")).materialization.metadata
    assert meta["mode"].value == "batch" and meta["batches"].value.count("| completed |") == 3
    logs = " ".join(str(e.user_message) for e in instance.all_logs(result.run_id))
    assert "in_progress" in logs and "completed (400/400 done)" in logs


def test_a_run_killed_while_polling_resumes_the_same_batch(data_lake: Path, tmp_path: Path,
                                                            instance) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "DAGSTER_HOME": str(home), "TSR_DATA_DIR": str(data_lake)}
    with running_batch_server(lambda p, c: Reply(good_story(p)), in_progress_s=600) as server:
        config = {"ops": {"prompts": {"config": {"count": 40}}},
                  "resources": {"llm": {"config": {**BATCH, "base_url": server.base_url}}}}
        proc = subprocess.Popen(
            [str(BIN / "dagster"), "asset", "materialize", "-m", "tsr_assets.definitions",
             "--select", "wordlists,prompts,stories", "--partition", "hindi", "--config-json",
             json.dumps(config)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        deadline = time.monotonic() + 120
        while not any(b.get("batch_id") for b in _state(data_lake)):
            assert time.monotonic() < deadline and proc.poll() is None, "no batch recorded"
            time.sleep(0.2)
        time.sleep(0.5)  # polling now
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
        assert len(server.batches) == 1 and not server.answered_ids
        server.in_progress_s = 0.1  # the provider finishes the batch while nobody polls
        again = _run(instance, 40, {**BATCH, "base_url": server.base_url})
        assert again.success
        assert len(server.batches) == 1  # polled the recorded batch, created none
        assert len(server.answered_ids) == 40 and max(server.answered_ids.values()) == 1
    assert read_table(data_lake / "stories" / "hindi").height == 40
    assert [b["batch_id"] for b in _state(data_lake)] == list(server.batches)


def test_expired_requests_go_into_a_new_batch(data_lake: Path, instance) -> None:
    with running_batch_server(lambda p, c: Reply(good_story(p)), expire_share=0.5) as server:
        result = _run(instance, 30, {**BATCH, "base_url": server.base_url})
        assert result.success
        statuses = sorted(b.status for b in server.batches.values())
        assert statuses == ["completed", "expired"]
        assert len(server.answered_ids) == 30 and max(server.answered_ids.values()) == 1
    assert read_table(data_lake / "stories" / "hindi").height == 30
    assert [b["round"] for b in _state(data_lake)] == [1, 2]


def test_answers_paid_for_are_not_requested_again_after_a_gate_change(data_lake: Path,
                                                                      instance) -> None:
    with running_chat_server(lambda p, c: Reply(good_story(p))) as server:
        llm = {"source": "openai", "base_url": server.base_url, "max_attempts": 1,
               "breaker_enabled": False}
        strict = _run(instance, 8, llm, {"min_chars": 5000})  # every answer is too short
        assert not strict.success
        sent = sum(server.calls.values())
        assert sent == 8
        relaxed = _run(instance, 8, llm)
        assert relaxed.success
        assert sum(server.calls.values()) == sent  # re-validated from the cache
    assert read_table(data_lake / "stories" / "hindi").height == 8
    runs = _generation_runs(data_lake)
    assert runs[-1]["cached_answers"] == 8 and runs[-1]["completion_tokens"] == 0
    assert (data_lake / "llm_cache" / "answers.sqlite").is_file()


def test_a_local_run_batch_command_answers_the_files(data_lake: Path, instance) -> None:
    command = (f"{BIN / 'python'} -m tsr_assets_tests.fake_run_batch -i {{input}} "
               "-o {output} --model {model}")
    llm = {**BATCH, "base_url": "http://127.0.0.1:9/v1", "batch_command": command,
           "batch_max_requests_per_file": 7}
    result = _run(instance, 20, llm)
    assert result.success
    assert read_table(data_lake / "stories" / "hindi").height == 20
    assert [b["requests"] for b in _state(data_lake)] == [7, 7, 6]
    assert all(b["batch_id"].startswith("local:round1-") for b in _state(data_lake))
