"""Real LLM runs against a real HTTP server on 127.0.0.1: generation controls, truncation,
usage and cost, the circuit breaker and what a failed run keeps."""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from tsr_assets.definitions import build_definitions
from tsr_assets.defs.jobs import LANGUAGE_JOB
from tsr_assets.llm.sources import estimate_tokens
from tsr_assets.prompts.templates import get_template
from tsr_assets.stories.store import read_table
from tsr_assets_tests.chat_server import ENGLISH_BODY, Reply, good_story, running_chat_server
from tsr_assets_tests.test_cli import BIN, _env, _home

FAST = {"backoff_base_s": 0.01, "backoff_max_s": 0.02}


def _run(instance, count: int, llm: dict):
    return build_definitions().resolve_job_def(LANGUAGE_JOB).execute_in_process(
        instance=instance, partition_key="hindi", raise_on_error=False,
        run_config={"ops": {"prompts": {"config": {"count": count}}},
                    "resources": {"llm": {"config": {"source": "openai", **FAST, **llm}}}})


def _error(result) -> str:
    return str(next(e for e in result.all_events if e.is_step_failure).event_specific_data.error)


def _generation_runs(lake: Path) -> list[dict]:
    with duckdb.connect(str(lake / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute("SELECT * FROM generation_runs ORDER BY finished_at").fetchall()
        names = [d[0] for d in con.description]
    return [dict(zip(names, row, strict=True)) for row in rows]


def test_controls_reach_the_server_and_a_cut_answer_is_rejected(data_lake: Path,
                                                                 instance) -> None:
    def policy(prompt: str, call: int) -> Reply:
        return Reply(runaway=True) if call == 1 else Reply(good_story(prompt))

    with running_chat_server(policy) as server:
        result = _run(instance, 4, {
            "base_url": server.base_url, "model": "m", "system_prompt": "You tell stories.",
            "stop": ["<END>"], "seed": 7, "response_format": "json_object", "temperature": 0.7,
            "extra_body": {"guided_json": {"type": "object"}}, "concurrency": 2})
    assert result.success
    body = server.bodies[0]
    # The default answer limit comes from the template's word target.
    assert body["max_tokens"] == get_template("structured").max_tokens == 300 * 6 + 64
    assert body["messages"][0] == {"role": "system", "content": "You tell stories."}
    assert body["stop"] == ["<END>"] and body["seed"] == 7 and body["temperature"] == 0.7
    assert body["response_format"] == {"type": "json_object"}
    assert body["guided_json"] == {"type": "object"}
    rejections = read_table(data_lake / "stories" / "hindi", "rejection")
    assert set(rejections["reason"]) == {"truncated"} and rejections.height == 4
    assert read_table(data_lake / "stories" / "hindi").height == 4

    with running_chat_server(policy) as server:
        assert _run(instance, 5, {"base_url": server.base_url, "max_tokens": 123}).success
    assert {b["max_tokens"] for b in server.bodies} == {123}


def test_usage_tokens_and_cost(data_lake: Path, instance) -> None:
    with running_chat_server(lambda p, c: Reply(good_story(p))) as server:
        result = _run(instance, 6, {"base_url": server.base_url, "model": "paid",
                                    "price_input_per_million": 2.0,
                                    "price_output_per_million": 8.0})
    assert result.success
    prompt_tokens = sum(len(b["messages"][-1]["content"].split()) for b in server.bodies)
    stories = read_table(data_lake / "stories" / "hindi")
    completion_tokens = int(stories["completion_tokens"].sum())
    assert int(stories["prompt_tokens"].sum()) == prompt_tokens
    assert completion_tokens == sum(len(good_story(b["messages"][-1]["content"]).split(" "))
                                    for b in server.bodies)
    assert not stories["usage_estimated"].any()
    row = _generation_runs(data_lake)[-1]
    assert row["stage"] == "stories" and row["outcome"] == "succeeded"
    assert (row["requested"], row["succeeded"], row["failed"]) == (6, 6, 0)
    assert row["prompt_tokens"] == prompt_tokens
    assert row["completion_tokens"] == completion_tokens
    assert row["cost"] == pytest.approx((prompt_tokens * 2.0 + completion_tokens * 8.0) / 1e6)
    meta = next(m for m in result.get_asset_materialization_events()
                if m.asset_key == dg.AssetKey("stories")).materialization.metadata
    assert meta["cost_per_1000_stories"].value == f"{row['cost'] / 6 * 1000:,.4f}"

    # An endpoint that reports no usage: estimated from the text, and marked as such.
    with running_chat_server(lambda p, c: Reply(good_story(p), usage=False)) as server:
        assert _run(instance, 8, {"base_url": server.base_url}).success
    new = read_table(data_lake / "stories" / "hindi").filter(
        ~read_table(data_lake / "stories" / "hindi")["prompt_id"].is_in(stories["prompt_id"]))
    assert new.height == 2 and new["usage_estimated"].all()
    answers = [good_story(b["messages"][-1]["content"]) for b in server.bodies]
    assert int(new["completion_tokens"].sum()) == sum(estimate_tokens(a) for a in answers)
    assert _generation_runs(data_lake)[-1]["usage_estimated"] is True


def test_breaker_opens_on_the_first_answers_and_keeps_everything(data_lake: Path,
                                                                  instance) -> None:
    with running_chat_server(lambda p, c: Reply(json.dumps({"story": ENGLISH_BODY}))) as server:
        result = _run(instance, 40, {"base_url": server.base_url, "concurrency": 4,
                                     "breaker_first_answers": 10})
    assert not result.success
    sent = sum(server.calls.values())
    assert 6 <= sent <= 6 + 4  # the in-flight requests are dropped, nothing new is sent
    error = _error(result)
    assert "stopped early: the first 6 answers were all rejected or failed" in error
    assert "Likely cause: the wrong language" in error
    assert "wrong_script x" in error and "Once upon a time" in error
    assert "a model that writes this language" in error
    assert 6 <= read_table(data_lake / "stories" / "hindi", "rejection").height <= sent
    row = _generation_runs(data_lake)[-1]
    assert row["outcome"] == "breaker_open" and "wrong_script" in row["rejections_by_reason"]


def test_breaker_opens_on_consecutive_bad_answers_then_a_rerun_continues(
        data_lake: Path, instance) -> None:
    lock, answered, broken = threading.Lock(), [0], [True]

    def policy(prompt: str, call: int) -> Reply:
        with lock:
            answered[0] += 1
            good = answered[0] <= 12 or not broken[0]
        return Reply(good_story(prompt) if good else "I am a base model and I ramble.")

    with running_chat_server(policy) as server:
        failed = _run(instance, 40, {"base_url": server.base_url, "concurrency": 1,
                                     "breaker_max_consecutive_bad": 6})
        assert not failed.success
        assert "6 answers in a row were rejected or failed" in _error(failed)
        assert "no_json x 6" in _error(failed)
        assert read_table(data_lake / "stories" / "hindi").height == 12
        broken[0] = False  # the source is fixed; the rerun continues where it stopped
        assert _run(instance, 40, {"base_url": server.base_url}).success
    stories = read_table(data_lake / "stories" / "hindi")
    assert stories.height == 40 and stories["prompt_id"].n_unique() == 40


def test_tsr_run_exits_non_zero_when_no_story_comes_back(tmp_path: Path) -> None:
    home, lake = _home(tmp_path), tmp_path / "lake"
    with running_chat_server(lambda p, c: Reply(status=401)) as server:
        proc = subprocess.run(
            [str(BIN / "tsr"), "run", "--language", "hindi", "--prompts", "3", "--tokenizers",
             "--llm-source", "openai", "--llm-base-url", server.base_url],
            cwd=tmp_path, env=_env(home, lake), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert "none of 3 requests produced a usable answer" in proc.stderr
    assert "auth x 3" in proc.stderr and "api_key_env_var" in proc.stderr
    assert "data lake:" not in proc.stdout  # no paths of an empty dataset
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert [r.status for r in instance.get_runs()] == [dg.DagsterRunStatus.FAILURE]
