"""Human ratings through a real Label Studio server: `rating_tasks` creates the blinded project
over the API (key from $TSR_LABEL_STUDIO_API_KEY), two raters annotate every task through the
API, `human_ratings` pulls the export into `judge_scores` as `human:<rater>`, and the existing
views take them; the same export as a file, and a bad CSV refused whole; without a server,
the import files."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from tsr_assets.core.languages import get_language
from tsr_assets.core.warehouse import query, replace_rows
from tsr_assets.definitions import build_definitions
from tsr_assets.defs.human_ratings import LABEL_STUDIO_KEY_ENV
from tsr_assets.defs.jobs import HUMAN_RATINGS_JOB
from tsr_assets.evaluation.human_ratings import CSV_COLUMNS
from tsr_assets.evaluation.label_studio import LabelStudioClient, rating_result
from tsr_assets.evaluation.openers import load_openers
from tsr_assets.evaluation.rubric import LLM_METRICS

MODELS = (("spm", "tiny"), ("byte", "tiny"))
#: What each rater gives every criterion of a story by model: the raters agree on the order.
SCORES = {"asha": {"spm": 8, "byte": 4}, "ravi": {"spm": 7, "byte": 3}}


def _store_samples(lake: Path) -> None:
    openers = load_openers(get_language("hindi"))[:4]
    for tokenizer, preset in MODELS:
        rows = [{"language": "hindi", "tokenizer": tokenizer, "preset": preset,
                 "corpus": "generated", "prompt_id": o.prompt_id, "opener_index": o.index,
                 "sample_index": k, "opener": o.text,
                 "story": f"{o.text} ({tokenizer} {k}) फिर सब खुश हुए।"}
                for o in openers for k in range(2)]
        replace_rows(lake / "warehouse.duckdb", "samples",
                     {"language": "hindi", "tokenizer": tokenizer, "preset": preset},
                     pl.DataFrame(rows, schema_overrides={"sample_index": pl.Int32,
                                                          "opener_index": pl.Int32}))


def _run(instance, asset: str, config: dict, resources: dict | None = None):
    job = build_definitions().resolve_job_def(HUMAN_RATINGS_JOB)
    return job.execute_in_process(
        instance=instance, raise_on_error=False, asset_selection=[dg.AssetKey(asset)],
        run_config={"ops": {asset: {"config": config}}, "resources": resources or {}})


def _failure(result) -> str:
    event = next(e for e in result.all_events if e.is_step_failure)
    return event.event_specific_data.user_failure_data.description


def _metadata(instance, asset: str) -> dict:
    return instance.get_latest_materialization_event(
        dg.AssetKey(asset)).asset_materialization.metadata


def _annotate(client: LabelStudioClient, project_id: int, key: pl.DataFrame) -> None:
    """Two raters (users made through the API) rate every task, all criteria."""
    users = {name: client.create_user(f"{name}@school.test", "rater-password-1")["id"]
             for name in SCORES}
    tokenizer_of = dict(zip(key["rating_id"], key["tokenizer"], strict=True))
    for task in client.tasks(project_id):
        tokenizer = tokenizer_of[task["data"]["rating_id"]]
        for name, user in users.items():
            score = SCORES[name][tokenizer]
            client.submit_annotation(task["id"], rating_result(
                {c: score for c in LLM_METRICS}), completed_by=user)


def test_ratings_round_trip_through_label_studio(label_studio, data_lake: Path, instance,
                                                 tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LABEL_STUDIO_KEY_ENV, label_studio.token)
    _store_samples(data_lake)
    server = {"label_studio": {"config": {"url": label_studio.url,
                                          "api_key": {"env": LABEL_STUDIO_KEY_ENV}}}}
    export = _run(instance, "rating_tasks", {"language": "hindi", "openers": 3,
                                             "raters_per_story": 2, "seed": 5}, server)
    assert export.success, _failure(export)
    meta = _metadata(instance, "rating_tasks")
    assert meta["tasks"].value == 6 and label_studio.token not in json.dumps(
        {k: str(v.value) for k, v in meta.items()})
    folder = Path(meta["key_file"].value).parent
    about = json.loads((folder / "export.json").read_text())
    project_id = about["project_id"]
    assert about["project_url"] == f"{label_studio.url}/projects/{project_id}/data"
    client = LabelStudioClient(label_studio.url, label_studio.token)
    tasks = client.tasks(project_id)
    assert len(tasks) == 6
    assert {tuple(sorted(t["data"])) for t in tasks} == {("opener", "rating_id", "story")}
    key = pl.read_parquet(folder / "key.parquet")
    _annotate(client, project_id, key)

    pulled = _run(instance, "human_ratings", {"project_id": project_id}, server)
    assert pulled.success, _failure(pulled)
    scores = query(data_lake / "warehouse.duckdb",
                   "SELECT judge, tokenizer, metric, value, prompt_id, sample_index "
                   "FROM judge_scores WHERE judge LIKE 'human:%'")
    assert sorted(set(scores["judge"])) == ["human:asha", "human:ravi"]
    assert scores.height == 2 * 6 * (len(LLM_METRICS) + 1)  # + mean_of_criteria
    for name, by_model in SCORES.items():
        for tokenizer, value in by_model.items():
            got = scores.filter((pl.col("judge") == f"human:{name}")
                                & (pl.col("tokenizer") == tokenizer))["value"]
            assert set(got) == {float(value)} and got.len() == 3 * (len(LLM_METRICS) + 1)
    rated = set(scores.select("tokenizer", "prompt_id", "sample_index").iter_rows())
    assert rated == set(key.select("tokenizer", "prompt_id", "sample_index").iter_rows())
    # The existing views take them like any judge.
    summary = query(data_lake / "warehouse.duckdb",
                    "SELECT tokenizer, n, mean FROM judge_summary WHERE judge = 'human:asha' "
                    "AND metric = 'overall' ORDER BY tokenizer")
    assert summary.rows() == [("byte", 3, 4.0), ("spm", 3, 8.0)]
    agreement = query(data_lake / "warehouse.duckdb",
                      "SELECT judge_a, judge_b, n FROM judge_agreement WHERE metric = "
                      "'overall' AND tokenizer = 'spm'")
    assert agreement.rows() == [("human:asha", "human:ravi", 3)]

    # The export as a file gives the same rows (names from the server's users); a second
    # import replaces, never doubles.
    export_file = tmp_path / "project.json"
    export_file.write_text(json.dumps(client.export_annotations(project_id)), encoding="utf-8")
    again = _run(instance, "human_ratings", {"path": str(export_file)}, server)
    assert again.success, _failure(again)
    assert query(data_lake / "warehouse.duckdb", "SELECT count(*) AS n FROM judge_scores "
                 "WHERE judge LIKE 'human:%'")["n"][0] == scores.height

    # A bad CSV: every problem named, nothing written.
    bad = tmp_path / "bad.csv"
    bad.write_text(",".join(CSV_COLUMNS) + "\n"
                   "hindi,spm,tiny,opener-000,0,meera,overall,7\n"
                   "hindi,spm,tiny,opener-999,0,meera,overall,7\n"
                   "hindi,spm,tiny,opener-000,0,meera,overall,12\n", encoding="utf-8")
    refused = _run(instance, "human_ratings", {"path": str(bad)})
    assert not refused.success
    message = _failure(refused)
    assert "3 problem(s), nothing was imported" in message
    assert "row 3: unknown sample hindi|spm|tiny|opener-999|0" in message
    assert "row 4: score '12' of overall is not a number from 1 to 10" in message
    assert "row 4: rater meera rated hindi|spm|tiny|opener-000|0 (overall) again" in message
    assert query(data_lake / "warehouse.duckdb", "SELECT count(*) AS n FROM judge_scores "
                 "WHERE judge = 'human:meera'")["n"][0] == 0


def test_without_a_server_the_import_files_are_written(data_lake: Path, instance,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(LABEL_STUDIO_KEY_ENV, raising=False)
    _store_samples(data_lake)
    result = _run(instance, "rating_tasks", {"language": "hindi", "openers": 2,
                                             "models": ["spm/tiny"], "seed": 1})
    assert result.success, _failure(result)
    meta = _metadata(instance, "rating_tasks")
    tasks = json.loads(Path(meta["tasks_file"].value).read_text(encoding="utf-8"))
    assert len(tasks) == 2 and "project_url" not in meta
    assert Path(meta["label_config"].value).read_text().count("<Rating ") == len(LLM_METRICS)
    refused = _run(instance, "rating_tasks", {"language": "hindi", "models": ["gpt2/tiny"]})
    assert "no samples of gpt2/tiny; models with samples: byte/tiny, spm/tiny" in \
        _failure(refused)
    pulled = _run(instance, "human_ratings", {"project_id": 3})
    assert "project_id needs the label_studio resource's url" in _failure(pulled)
    keyless = _run(instance, "rating_tasks", {"language": "hindi"},
                   {"label_studio": {"config": {"url": "http://127.0.0.1:9"}}})
    assert f"set ${LABEL_STUDIO_KEY_ENV}" in _failure(keyless)
