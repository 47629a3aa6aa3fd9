"""samples -> judge_scores (automatic and LLM) -> reports, through Dagster, into DuckDB."""

from __future__ import annotations

import json
import re
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from tsr_assets.definitions import build_definitions
from tsr_assets.defs.jobs import LANGUAGE_JOB, LANGUAGE_TOKENIZER_JOB, REPORTS_JOB
from tsr_assets.defs.partitions import language_tokenizer_key
from tsr_assets.defs.tokenizers import TOKENIZER_ASSETS
from tsr_assets.evaluation.rubric import DEFAULT_RUBRIC
from tsr_assets_tests.batch_server import running_batch_server
from tsr_assets_tests.chat_server import Reply, running_chat_server

OPENERS = 8
SAMPLES = {"max_openers": OPENERS, "samples_per_opener": 2, "max_new_tokens": 40}


def _run(instance, assets, run_config=None, tokenizer="byte"):
    job = build_definitions().resolve_job_def(LANGUAGE_TOKENIZER_JOB)
    return job.execute_in_process(
        instance=instance, partition_key=language_tokenizer_key("hindi", tokenizer),
        asset_selection=[dg.AssetKey(a) for a in assets], run_config=run_config or {},
        raise_on_error=False,
    )


def _meta(result, asset: str) -> dict:
    event = next(m for m in result.get_asset_materialization_events()
                 if m.asset_key == dg.AssetKey(asset))
    return {k: v.value for k, v in event.materialization.metadata.items()}


def _judge_answer(prompt: str, call: int) -> Reply:
    # A judge that likes stories with more danda-terminated sentences, and is once garbage.
    if call == 1 and "opener-" not in prompt and len(prompt) % 5 == 0:
        return Reply("no scores today")
    sentences = min(10, 1 + len(re.findall("।", prompt)))
    return Reply(json.dumps({"context_awareness": sentences, "completeness": 5, "grammar": 6,
                             "fluency": 7, "creativity": 4, "overall": sentences}))


def test_samples_judges_and_report(data_lake: Path, instance, monkeypatch,
                                   tmp_path: Path) -> None:
    language_job = build_definitions().resolve_job_def(LANGUAGE_JOB)
    assert language_job.execute_in_process(
        instance=instance, partition_key="hindi",
        run_config={"ops": {"prompts": {"config": {"count": 60}}}}).success
    for tokenizer in ("byte", "spm"):
        assert _run(instance, [*TOKENIZER_ASSETS, "checkpoint_tiny"], {"ops": {
            "checkpoint_tiny": {"config": {"max_steps": 20, "eval_every": 10,
                                           "eval_batches": 2, "batch_size": 4}}}},
            tokenizer).success

    result = _run(instance, ["samples_tiny", "judge_scores_tiny", "judge_probes_tiny"],
                  {"ops": {"samples_tiny": {"config": SAMPLES}}})
    assert result.success
    samples_meta = _meta(result, "samples_tiny")
    assert samples_meta["samples"] == OPENERS * 2 and samples_meta["tokens_per_s"] > 0
    samples = pl.read_parquet(data_lake / "samples" / "hindi" / "byte" / "tiny" /
                              "samples.parquet")
    assert samples.height == OPENERS * 2
    assert (samples["tokens"] <= 40).all()
    assert (samples["story"] == samples["opener"] + samples["continuation"]).all()
    judge_meta = _meta(result, "judge_scores_tiny")
    assert judge_meta["judge"] == "automatic" and judge_meta["judged_stories"] == OPENERS * 2
    assert "judge: **automatic**" in judge_meta["means"]
    probes_meta = _meta(result, "judge_probes_tiny")
    assert probes_meta["judge"] == "automatic" and probes_meta["stories"] == OPENERS * 2
    assert "| completeness |" in probes_meta["probes"]

    # The same partition judged by an LLM over HTTP adds rows under its own judge name.
    monkeypatch.setenv("JUDGE_KEY", "sk-judge-secret")
    with running_chat_server(_judge_answer) as server:
        llm = _run(instance, ["judge_scores_tiny"], {"resources": {"judge": {"config": {
            "source": "openai", "base_url": server.base_url, "model": "test-judge",
            "api_key_env_var": "JUDGE_KEY", "concurrency": 4, "backoff_base_s": 0.01}}}})
    assert llm.success
    assert _meta(llm, "judge_scores_tiny")["judge"] == "llm:test-judge"
    assert set(server.auth_headers) == {"Bearer sk-judge-secret"}
    logs = " ".join(str(e.user_message) for e in instance.all_logs(llm.run_id))
    assert "sk-judge-secret" not in logs
    # The judge's requests, tokens and outcome are recorded like the stories'.
    with duckdb.connect(str(data_lake / "warehouse.duckdb"), read_only=True) as con:
        judge_run = con.execute(
            "SELECT requested, succeeded, completion_tokens, outcome, model FROM generation_runs "
            "WHERE stage = 'judge'").fetchall()
    (requested, succeeded, completion_tokens, outcome, model), = judge_run
    assert (requested, succeeded, outcome, model) == (OPENERS * 2, OPENERS * 2, "succeeded",
                                                      "test-judge")
    assert completion_tokens >= OPENERS * 2 * 12  # twelve words per six-score answer
    assert {b["max_tokens"] for b in server.bodies} == {200}

    # The same judge probed over HTTP: every story as it is, again, and broken; recorded as
    # its own stage, beside the automatic judge's probes.
    with running_chat_server(_judge_answer) as server:
        probes = _run(instance, ["judge_probes_tiny"], {"resources": {"judge": {"config": {
            "source": "openai", "base_url": server.base_url, "model": "test-judge",
            "api_key_env_var": "JUDGE_KEY", "backoff_base_s": 0.01}}}})
    assert probes.success and _meta(probes, "judge_probes_tiny")["judge"] == "llm:test-judge"
    with duckdb.connect(str(data_lake / "warehouse.duckdb"), read_only=True) as con:
        probed = dict(con.execute("SELECT judge, count(DISTINCT probe) FROM judge_probes "
                                  "GROUP BY judge").fetchall())
        probe_run = con.execute("SELECT requested, outcome FROM generation_runs WHERE stage = "
                                "'judge_probes'").fetchall()
    assert probed == {"automatic": 4, "llm:test-judge": 4}
    assert probe_run and probe_run[0][1] == "succeeded"

    # A rubric of the researcher's own, with its own score keys, end to end over HTTP.
    rubric = tmp_path / "rubric.txt"
    rubric.write_text("Rate this {language} story for warmth and clarity, 1-10.\n"
                      "Opening: {opener}\nStory: {story}\n"
                      'Answer {{"warmth": n, "clarity": n, "overall": n}}', encoding="utf-8")

    def rubric_answer(prompt: str, call: int) -> Reply:
        assert prompt.startswith("Rate this Hindi story") and "Opening: " in prompt
        return Reply(json.dumps({"Warmth": 8, "clarity": "6", "overall": 7}))

    with running_chat_server(rubric_answer) as server:
        custom = _run(instance, ["judge_scores_tiny"], {"resources": {"judge": {"config": {
            "source": "openai", "base_url": server.base_url, "model": "test-judge",
            "rubric_path": str(rubric), "rubric_keys": ["warmth", "clarity", "overall"],
            "backoff_base_s": 0.01}}}})
    assert custom.success
    custom_meta = _meta(custom, "judge_scores_tiny")
    assert custom_meta["judge"].startswith("llm:test-judge+rubric-")
    assert custom_meta["judge"].endswith(custom_meta["rubric_hash"][:8])
    with duckdb.connect(str(data_lake / "warehouse.duckdb"), read_only=True) as con:
        means = dict(con.execute(
            "SELECT metric, avg(value) FROM judge_scores WHERE judge = ? GROUP BY metric",
            [custom_meta["judge"]]).fetchall())
    assert means == {"warmth": 8.0, "clarity": 6.0, "overall": 7.0, "mean_of_criteria": 7.0}

    # The LLM judge through a batch API: one batch file, nothing sent online.
    with running_batch_server(_judge_answer) as server:
        batch = _run(instance, ["judge_scores_tiny"], {"resources": {"judge": {"config": {
            "source": "openai", "base_url": server.base_url, "model": "test-judge-batch",
            "mode": "batch", "batch_poll_s": 0.05, "backoff_base_s": 0.01}}}})
        # The judge's one garbage answer per unlucky prompt is asked again in a second batch.
        first, *rest = server.batches.values()
        garbage = [line["custom_id"] for line in first.lines
                   if len(line["body"]["messages"][-1]["content"]) % 5 == 0]
        assert batch.success and server.online_requests == 0
        assert len(first.lines) == OPENERS * 2 and len(server.answered_ids) == OPENERS * 2
        assert [sorted(line["custom_id"] for line in b.lines) for b in rest] == \
            ([sorted(garbage)] if garbage else [])
    batch_meta = _meta(batch, "judge_scores_tiny")
    assert batch_meta["mode"] == "batch" and "| completed |" in batch_meta["batches"]

    # spm samples with the automatic judge, so tokenizers can be compared.
    assert _run(instance, ["samples_tiny", "judge_scores_tiny", "judge_probes_tiny"],
                {"ops": {"samples_tiny": {"config": SAMPLES}}}, "spm").success

    with duckdb.connect(str(data_lake / "warehouse.duckdb"), read_only=True) as con:
        per_judge = con.execute(
            "SELECT tokenizer, judge, count(*) FROM judge_scores GROUP BY ALL ORDER BY ALL"
        ).fetchall()
        # Six LLM scores and their mean of criteria; three keys and their mean for the rubric.
        # The automatic judge's six metrics and the two fluency ones.
        assert per_judge == [("byte", "automatic", OPENERS * 2 * 8),
                             ("byte", "llm:test-judge", OPENERS * 2 * 7),
                             ("byte", custom_meta["judge"], OPENERS * 2 * 4),
                             ("byte", "llm:test-judge-batch", OPENERS * 2 * 7),
                             ("spm", "automatic", OPENERS * 2 * 8)]
        assert con.execute("SELECT count(*) FROM samples").fetchone() == (OPENERS * 2 * 2,)
        comparison = con.execute(
            "SELECT tokenizer, n, val_loss, parameters, fertility FROM tokenizer_comparison "
            "WHERE judge = 'automatic' AND metric = 'length_words' ORDER BY tokenizer"
        ).fetchall()
    assert [r[0] for r in comparison] == ["byte", "spm"]
    assert all(r[1] == OPENERS * 2 and r[2] > 0 and r[3] > 0 and r[4] > 0 for r in comparison)

    # Re-materializing replaces the partition's rows for that judge.
    assert _run(instance, ["judge_scores_tiny"]).success
    with duckdb.connect(str(data_lake / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM judge_scores WHERE judge = 'automatic' AND "
                           "tokenizer = 'byte'").fetchone() == (OPENERS * 2 * 8,)

    report = build_definitions().resolve_job_def(REPORTS_JOB).execute_in_process(
        instance=instance)
    assert report.success
    meta = _meta(report, "reports")
    text = (data_lake / "reports" / "report.md").read_text()
    assert "Tokenizer comparison, preset tiny, judge automatic" in text
    assert f"LLM judge `llm:test-judge`, rubric {DEFAULT_RUBRIC.text_hash}, scores 1-10" in text
    assert f"rubric {custom_meta['rubric_hash']}" in text
    assert "hindi: generated 60 from offline-template" in text  # what the models learned from
    assert text.index("## Data") < text.index("Tokenizer comparison")
    assert "near-duplicates (Jaccard >= 0.8)" in text and "evaluation openers appear" in text
    # Both LLM judges rated every byte sample: their agreement and length bias are reported.
    assert "## Judge agreement" in text and "## Judge length bias" in text
    assert f"llm:test-judge vs {custom_meta['judge']}" in text or \
        f"{custom_meta['judge']} vs llm:test-judge" in text
    assert meta["partitions_compared"] == 2
    assert meta["tokenizers_automatic_tiny"].count("data:image/png;base64,") == 1
    # The original study's other tables: MorphScore and Rényi in nats, paired comparisons of
    # the two models on the same openers, and what training and data cost.
    assert "## Tokenizers: MorphScore and Rényi entropy" in text
    assert "## Is model A really better than model B?" in text and "2,000 resamples" in text
    assert "| hindi | automatic | length_words | byte/tiny/generated | spm/tiny/generated |" \
        in text
    assert "## Costs" in text and "Prices used: 2.00 USD per GPU-hour, 0.10 USD" in text
    # Is the judge right? No human ratings yet: the report says how to add them. The probes
    # of both judges on byte, of the automatic judge on spm.
    assert "No human ratings in the warehouse yet" in text and "`tsr rate import FILE`" in text
    assert "## Does the judge notice a broken story? Judge probes" in text
    for model in ("hindi|byte|tiny (generated), judge automatic",
                  "hindi|byte|tiny (generated), judge llm:test-judge",
                  "hindi|spm|tiny (generated), judge automatic"):
        assert f"### {model}: {OPENERS * 2} stories from the samples" in text
    with duckdb.connect(str(data_lake / "warehouse.duckdb"), read_only=True) as con:
        pairs = con.execute("SELECT judge, model_a, model_b, openers, n_a, n_b FROM "
                            "model_comparison").fetchall()
        costs = con.execute("SELECT tokenizer, device_kind, device_hours, cost, wall_hours "
                            "FROM training_costs ORDER BY tokenizer").fetchall()
        stages = {r[0] for r in con.execute("SELECT stage FROM data_costs").fetchall()}
    assert {p[0] for p in pairs} == {"automatic"}  # one model per LLM judge: nothing to pair
    assert all(p[1:] == ("byte/tiny/generated", "spm/tiny/generated", OPENERS, OPENERS * 2,
                         OPENERS * 2) for p in pairs) and len(pairs) == 8
    assert [c[:2] for c in costs] == [("byte", "cpu"), ("spm", "cpu")]
    assert all(c[3] == pytest.approx(c[2] * 0.10) and c[2] == pytest.approx(c[4]) for c in costs)
    assert {"stories", "judge"} <= stages
    assert (data_lake / "reports" / "loss_hindi_byte.png").stat().st_size > 1000

    # No openers: the samples step fails and the stored samples and scores stay as they were.
    samples_file = data_lake / "samples" / "hindi" / "byte" / "tiny" / "samples.parquet"
    stored = samples_file.read_bytes()
    empty = tmp_path / "no_openers.txt"
    empty.write_text("# nothing here\n", encoding="utf-8")
    failed = _run(instance, ["samples_tiny"], {"ops": {"samples_tiny": {"config": {
        **SAMPLES, "openers_path": str(empty)}}}})
    assert not failed.success and samples_file.read_bytes() == stored

    def byte_rows(table: str) -> int:
        with duckdb.connect(str(data_lake / "warehouse.duckdb"), read_only=True) as con:
            return con.execute(f"SELECT count(*) FROM {table} WHERE tokenizer = 'byte'"
                               ).fetchone()[0]

    assert byte_rows("judge_scores") == OPENERS * 2 * (8 + 7 + 4 + 7)
    assert byte_rows("judge_probes") == 8 * 4 + 7 * 4  # automatic and llm, metric x probe
    # New samples: the old samples' scores (every judge) go in the same step; spm's stay.
    assert _run(instance, ["samples_tiny"], {"ops": {"samples_tiny": {"config": {
        **SAMPLES, "seed": 1}}}}).success
    assert samples_file.read_bytes() != stored and byte_rows("samples") == OPENERS * 2
    assert byte_rows("judge_scores") == 0 and byte_rows("judge_probes") == 0
    assert not (data_lake / "judge_probes" / "hindi" / "byte" / "tiny" /
                "probe_scores.parquet").exists()
    assert not (data_lake / "judge_scores" / "hindi" / "byte" / "tiny" /
                "judge_scores.parquet").exists()
    with duckdb.connect(str(data_lake / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM judge_scores WHERE tokenizer = 'spm'"
                           ).fetchone() == (OPENERS * 2 * 8,)

    # Two raters rate the spm samples (rows as `tsr rate import` stores them): the next report
    # sets the automatic judge against them, and the raters against each other.
    spm = pl.read_parquet(data_lake / "samples" / "hindi" / "spm" / "tiny" / "samples.parquet")
    ratings = pl.DataFrame([
        {"language": "hindi", "tokenizer": "spm", "preset": "tiny", "corpus": "generated",
         "judge": f"human:{rater}", "metric": "overall", "value": float(1 + (3 * i + lag) % 10),
         "prompt_id": row["prompt_id"], "sample_index": row["sample_index"]}
        for i, row in enumerate(spm.iter_rows(named=True)) for rater, lag in (("asha", 0),
                                                                             ("ravi", 1))])
    with duckdb.connect(str(data_lake / "warehouse.duckdb")) as con:
        con.register("ratings", ratings.to_arrow())
        con.execute("INSERT INTO judge_scores BY NAME SELECT * FROM ratings")
    assert build_definitions().resolve_job_def(REPORTS_JOB).execute_in_process(
        instance=instance).success
    text = (data_lake / "reports" / "report.md").read_text()
    assert "## Is the judge right? Judges against human raters" in text
    assert "No human ratings" not in text
    assert f"| automatic | length_words vs overall | 2 | {OPENERS * 2} |" in text
    assert f"| humans (among themselves) | overall | 2 | {OPENERS * 2} |" in text
    with duckdb.connect(str(data_lake / "warehouse.duckdb"), read_only=True) as con:
        calibrated = con.execute("SELECT judge, count(*), min(n), max(raters) FROM "
                                 "judge_calibration GROUP BY judge ORDER BY judge").fetchall()
    assert calibrated == [("automatic", 8, OPENERS * 2, 2), ("humans", 1, OPENERS * 2, 2)]


def test_samples_without_a_checkpoint_fail_with_the_fix(data_lake: Path, instance) -> None:
    result = _run(instance, ["samples_tiny"])
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "materialize the `tokenizer` asset" in str(failure.event_specific_data.error)
