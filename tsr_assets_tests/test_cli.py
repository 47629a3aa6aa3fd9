"""The real command lines: `dagster asset materialize`, `dagster definitions validate`, `tsr`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl

from tsr_assets.core.lake import REPO_ROOT
from tsr_assets_tests.chat_server import Reply, good_story, running_chat_server

BIN = Path(sys.executable).parent


def _env(home: Path, lake: Path) -> dict[str, str]:
    return {**os.environ, "DAGSTER_HOME": str(home), "TSR_DATA_DIR": str(lake)}


def _home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO_ROOT / "dagster.yaml").read_text())
    return home


def test_workspace_loads_without_errors(tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(BIN / "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO_ROOT,
        env=_env(_home(tmp_path), tmp_path / "lake"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Validation successful for code location tsr_assets" in proc.stderr + proc.stdout


def test_dagster_asset_materialize_records_the_run(tmp_path: Path) -> None:
    home, lake = _home(tmp_path), tmp_path / "lake"
    proc = subprocess.run(
        [
            str(BIN / "dagster"), "asset", "materialize", "-m", "tsr_assets.definitions",
            "--select", "wordlists+", "--partition", "hindi",
        ],
        cwd=tmp_path,
        env=_env(home, lake),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert pl.read_parquet(lake / "prompts" / "hindi" / "prompts.parquet").height == 200
    assert (home / "history" / "runs.db").is_file()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
        assert len(runs) == 1
        assert runs[0].status == dg.DagsterRunStatus.SUCCESS
        assert runs[0].tags["dagster/partition"] == "hindi"
        record = instance.get_latest_materialization_event(dg.AssetKey("prompts"))
        assert record is not None and record.run_id == runs[0].run_id


def _judge_reply(prompt: str, call: int) -> Reply:
    return Reply(json.dumps({m: 6 for m in ("context_awareness", "completeness", "grammar",
                                            "fluency", "creativity", "overall")}))


def test_tsr_run_prints_where_the_output_is(tmp_path: Path) -> None:
    home, lake = _home(tmp_path), tmp_path / "lake"
    with running_chat_server(_judge_reply) as judge:
        proc = subprocess.run(
            [str(BIN / "tsr"), "run", "--language", "marathi", "--prompts", "50",
             "--tokenizers", "byte", "--presets", "tiny", "tiny_modern", "--recipe", "nanogpt",
             "--train-seconds", "2",
             "--max-openers", "4", "--samples-per-opener", "2",
             "--judge", "openai", "--judge-base-url", judge.base_url, "--judge-model", "j1"],
            cwd=tmp_path,
            env=_env(home, lake),
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert proc.returncode == 0, proc.stderr[-3000:]
    # Two models, 4 openers, 2 samples each, judged; then the same judge probed on them.
    assert sum(judge.calls.values()) > 2 * 4 * 2
    with duckdb.connect(str(lake / "warehouse.duckdb"), read_only=True) as con:
        stages = {r[0] for r in con.execute("SELECT stage FROM generation_runs").fetchall()}
        assert con.execute("SELECT count(*) FROM judge_scores WHERE judge = 'llm:j1' AND "
                           "metric = 'overall'").fetchone() == (2 * 4 * 2,)
    assert {"judge", "judge_probes"} <= stages
    assert f"data lake: {lake}" in proc.stdout
    assert str(lake / "prompts" / "marathi" / "prompts.parquet") in proc.stdout
    assert pl.read_parquet(lake / "prompts" / "marathi" / "prompts.parquet").height == 50
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
        assert sorted(r.job_name for r in runs) == ["language_job", "language_tokenizer_job",
                                                     "reports_job"]
        assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
    assert (lake / "token_bins" / "marathi" / "byte" / "train.bin").is_file()
    assert (lake / "checkpoint" / "marathi" / "byte" / "tiny" / "last.pt").is_file()
    assert (lake / "samples" / "marathi" / "byte" / "tiny" / "samples.parquet").is_file()
    assert (lake / "reports" / "report.md").is_file()
    assert f"report:    {lake / 'reports' / 'report.md'}" in proc.stdout
    assert f"warehouse: {lake / 'warehouse.duckdb'}" in proc.stdout
    report = (lake / "reports" / "report.md").read_text()
    assert "LLM judge `llm:j1`" in report
    # Both recipes sit in the same tables, each model with its recipe.
    with duckdb.connect(str(lake / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("SELECT preset, recipe FROM training_runs ORDER BY preset").fetchall() \
            == [("tiny", "nanogpt"), ("tiny_modern", "modern")]
        assert con.execute("SELECT DISTINCT preset, recipe FROM size_comparison ORDER BY 1"
                           ).fetchall() == [("tiny", "nanogpt"), ("tiny_modern", "modern")]
    assert "| tiny_modern |" in report and "| modern |" in report
    export = lake / "hf" / "models" / "marathi" / "byte" / "tiny_modern"
    exported = json.loads((export / "config.json").read_text())
    assert exported["architectures"] == ["Qwen3ForCausalLM"]
    assert "## Does the judge notice a broken story? Judge probes" in report

    # `tsr probe`: the automatic judge on the same model, four stories.
    proc = subprocess.run(
        [str(BIN / "tsr"), "probe", "--language", "marathi", "--tokenizers", "byte",
         "--preset", "tiny", "--probe-stories", "4"],
        cwd=tmp_path, env=_env(home, lake), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "### marathi|byte|tiny (generated), judge automatic: 4 stories" in proc.stdout
    assert "### marathi|byte|tiny (generated), judge llm:j1: 8 stories" in proc.stdout
    assert "Flagged judges:" in proc.stdout


def test_tsr_run_with_an_openai_compatible_story_source(tmp_path: Path) -> None:
    home, lake = _home(tmp_path), tmp_path / "lake"
    with running_chat_server(lambda prompt, call: Reply(good_story(prompt))) as server:
        proc = subprocess.run(
            [str(BIN / "tsr"), "run", "--language", "hindi", "--prompts", "6", "--tokenizers",
             "--llm-source", "openai", "--llm-base-url", server.base_url,
             "--llm-model", "story-model", "--llm-rpm", "6000", "--llm-concurrency", "2"],
            cwd=tmp_path, env=_env(home, lake), capture_output=True, text=True, timeout=300,
        )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert server.max_in_flight <= 2 and sum(server.calls.values()) == 6
    stories = pl.read_parquet(next((lake / "stories" / "hindi" / "shards").glob("*.parquet")))
    assert stories.height == 6 and set(stories["model"]) == {"story-model"}
    assert "report:" not in proc.stdout  # no tokenizers: the chain stops after stories


def test_tsr_translate_then_train_on_each_corpus_side_by_side(tmp_path: Path) -> None:
    from tsr_assets_tests.defs.test_translation import english_source, translator_policy

    home, lake = _home(tmp_path), tmp_path / "lake"
    env = _env(home, lake)
    with running_chat_server(translator_policy) as server:
        translate = subprocess.run(
            [str(BIN / "tsr"), "translate", "--language", "hindi", "--source",
             str(english_source(tmp_path)), "--translator", "llm", "--llm-source", "openai",
             "--llm-base-url", server.base_url, "--llm-model", "translator-model"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert translate.returncode == 0, translate.stderr[-3000:]
    assert str(lake / "translated_stories" / "hindi") in translate.stdout
    chain = [str(BIN / "tsr"), "run", "--language", "hindi", "--prompts", "40",
             "--tokenizers", "byte", "--presets", "tiny", "--train-seconds", "2",
             "--max-openers", "3", "--samples-per-opener", "1"]
    for corpus in ("both", "generated"):
        proc = subprocess.run([*chain, "--corpus", corpus], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
    with duckdb.connect(str(lake / "warehouse.duckdb"), read_only=True) as con:
        runs = con.execute("SELECT corpus, stories_by_source FROM training_runs ORDER BY "
                           "finished_at").fetchall()
        corpora = con.execute("SELECT DISTINCT corpus FROM tokenizer_comparison ORDER BY 1"
                              ).fetchall()
    assert [r[0] for r in runs] == ["both", "generated"]
    assert json.loads(runs[0][1]) == {"generated": 40, "translated": 6,
                                      "translated_from": {"english": 6}}
    assert corpora == [("both",), ("generated",)]
    # The model trained on `both` was kept aside when the `generated` one took its place.
    kept = lake / "checkpoint" / "hindi" / "byte" / "tiny" / "both_corpus"
    assert (kept / "last.pt").is_file() and (kept / "summary.json").is_file()
    report = (lake / "reports" / "report.md").read_text()
    assert "Corpus comparison (generated vs translated)" in report
    assert "translated 6 from openai-compatible" in report


def test_a_failed_step_is_told_by_its_own_error_not_dagsters_wrapper() -> None:
    import dagster as dg

    from tsr_assets.cli import step_failure_message

    @dg.op
    def refuses() -> None:
        raise dg.Failure(description="samples_tiny hindi|spm: no evaluation openers")

    @dg.op
    def crashes() -> None:
        raise KeyError("tokens")

    messages = []
    for op in (refuses, crashes):
        result = dg.GraphDefinition(name=f"g_{op.name}", node_defs=[op]).to_job(
            executor_def=dg.in_process_executor).execute_in_process(raise_on_error=False)
        event = next(e for e in result.all_events if e.is_step_failure)
        messages.append(step_failure_message(event))
    # Dagster's own message of the second is its wrapper; tsr prints the exception's line.
    assert "Error occurred while executing op" in event.event_specific_data.error.message
    assert messages == ["samples_tiny hindi|spm: no evaluation openers", "KeyError: 'tokens'"]


def test_tsr_rate_export_then_import(tmp_path: Path, monkeypatch, capsys) -> None:
    """`tsr rate export` writes Label Studio's import files (no server given), `tsr rate
    import` takes a CSV back into judge_scores; a bad number names its flag, before any run."""
    import pytest

    from tsr_assets.cli import main
    from tsr_assets.evaluation.human_ratings import CSV_COLUMNS
    from tsr_assets_tests.defs.test_human_ratings import _store_samples

    home, lake = tmp_path / "home", tmp_path / "lake"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("TSR_DATA_DIR", str(lake))
    monkeypatch.delenv("TSR_LABEL_STUDIO_API_KEY", raising=False)
    _store_samples(lake)
    with pytest.raises(SystemExit) as refused:
        main(["rate", "export", "--openers", "0"])
    assert refused.value.code == 2
    assert capsys.readouterr().err.strip() == (
        "tsr: error: --openers: openers = 0: must be greater than or equal to 1 (rating_tasks)")
    main(["rate", "export", "--language", "hindi", "--openers", "2", "--models", "spm/tiny"])
    out = capsys.readouterr().out
    assert "2 stories to rate, 2 raters each" in out and "Labeling Interface" in out
    tasks = json.loads(next((lake / "rating_tasks" / "hindi").glob("*/tasks.json")).read_text())
    assert len(tasks) == 2
    ratings = tmp_path / "ratings.csv"
    ratings.write_text(",".join(CSV_COLUMNS) + "\nhindi,spm,tiny,opener-001,1,meera,overall,6\n"
                       "hindi,byte,tiny,opener-002,0,meera,overall,3\n", encoding="utf-8")
    main(["rate", "import", str(ratings)])
    assert "2 scores of 1 raters imported" in capsys.readouterr().out
    with duckdb.connect(str(lake / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("SELECT tokenizer, value FROM judge_scores WHERE judge = "
                           "'human:meera' ORDER BY tokenizer").fetchall() == [
            ("byte", 3.0), ("spm", 6.0)]
