"""Human ratings read back: a CSV or Label Studio's JSON export into `judge_scores` rows of
`human:<rater>`, and a bad file refused with every problem named at once."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from tsr_assets.evaluation.human_ratings import (
    CSV_COLUMNS,
    RatingsFileError,
    rater_name,
    read_ratings,
)
from tsr_assets.evaluation.rating_tasks import (
    RatingSelection,
    label_config,
    read_keys,
    select_for_rating,
    write_export,
)
from tsr_assets.evaluation.rubric import LLM_METRICS, MEAN_OF_CRITERIA
from tsr_assets_tests.evaluation.test_rating_tasks import fake_samples

HEADER = ",".join(CSV_COLUMNS)


def _csv(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "ratings.csv"
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return path


def _empty_key() -> pl.DataFrame:
    return read_keys(Path("/nonexistent"))


def test_a_csv_becomes_judge_rows_with_the_mean_of_criteria(tmp_path: Path) -> None:
    samples = fake_samples()
    lines = [f"hindi,spm,tiny,opener-001,2,asha,{c},{v}"
             for c, v in zip(LLM_METRICS, [7, 6, 8, 7, 5, 7], strict=True)]
    lines += ["hindi,byte,tiny,opener-003,0,ravi,overall,4",
              "hindi,byte,tiny,opener-003,0,asha,Overall,9.0"]
    rows = read_ratings(_csv(tmp_path, lines), samples, _empty_key())
    assert set(rows["judge"]) == {"human:asha", "human:ravi"}
    asha = rows.filter((pl.col("judge") == "human:asha") & (pl.col("tokenizer") == "spm"))
    values = dict(zip(asha["metric"], asha["value"], strict=True))
    assert values["grammar"] == 8 and values["overall"] == 7
    assert values[MEAN_OF_CRITERIA] == pytest.approx((7 + 6 + 8 + 7 + 5) / 5)
    # Only overall: no mean of criteria; a criterion in another spelling is the rubric's.
    ravi = rows.filter(pl.col("judge") == "human:ravi")
    assert ravi["metric"].to_list() == ["overall"] and ravi["corpus"].to_list() == ["generated"]
    assert "overall" in rows.filter((pl.col("judge") == "human:asha")
                                    & (pl.col("tokenizer") == "byte"))["metric"].to_list()


def test_every_problem_of_a_bad_csv_is_named_and_nothing_is_returned(tmp_path: Path) -> None:
    samples = fake_samples()
    path = _csv(tmp_path, [
        "hindi,spm,tiny,opener-001,0,asha,overall,7",       # row 2: fine
        "hindi,spm,tiny,opener-099,0,asha,overall,7",       # row 3: unknown opener
        "hindi,spm,tiny,opener-001,1,asha,overall,11",      # row 4: out of range
        "hindi,spm,tiny,opener-001,1,asha,humour,5",        # row 5: not in the rubric
        "hindi,spm,tiny,opener-001,0,asha,overall,6",       # row 6: asha again
        "hindi,gpt2,tiny,opener-001,0,ravi,overall,abc",    # row 7: unknown model, not a number
        "hindi,spm,tiny,opener-001,0,ravi,overall,0",       # row 8: below 1
    ])
    with pytest.raises(RatingsFileError) as refused:
        read_ratings(path, samples, _empty_key())
    problems = refused.value.problems
    assert problems == [
        "row 3: unknown sample hindi|spm|tiny|opener-099|0; check language, tokenizer, preset, "
        "prompt_id and sample_index against the samples table",
        "row 4: score '11' of overall is not a number from 1 to 10",
        "row 5: criterion 'humour' is not in the rubric; use one of "
        + ", ".join(LLM_METRICS),
        "row 6: rater asha rated hindi|spm|tiny|opener-001|0 (overall) again, as in row 2; "
        "keep one rating per rater and story",
        "row 7: unknown sample hindi|gpt2|tiny|opener-001|0; check language, tokenizer, "
        "preset, prompt_id and sample_index against the samples table",
        "row 7: score 'abc' of overall is not a number from 1 to 10",
        "row 8: score '0' of overall is not a number from 1 to 10",
    ]
    assert str(refused.value).startswith(f"{path}: 7 problem(s), nothing was imported:")


def test_a_csv_without_its_columns_is_named(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("language,tokenizer,score\nhindi,spm,5\n", encoding="utf-8")
    with pytest.raises(RatingsFileError, match="missing column.*preset, prompt_id, "
                       "sample_index, rater, criterion"):
        read_ratings(path, fake_samples(), _empty_key())
    with pytest.raises(RatingsFileError, match="no such file"):
        read_ratings(tmp_path / "missing.json", fake_samples(), _empty_key())


def _export_of(tmp_path: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    samples = fake_samples()
    tasks = select_for_rating(samples, RatingSelection(openers=2, seed=4))
    write_export(tmp_path / "rating_tasks" / "hindi" / "e1", tasks, label_config("Hindi"), {})
    return samples, tasks


def _annotation(user, scores: dict, cancelled: bool = False) -> dict:
    return {"completed_by": user, "was_cancelled": cancelled,
            "result": [{"from_name": k, "to_name": "story", "type": "rating",
                        "value": {"rating": v}} for k, v in scores.items()]}


def test_a_label_studio_export_maps_opaque_ids_back_to_samples(tmp_path: Path) -> None:
    samples, tasks = _export_of(tmp_path)
    first, second = tasks.row(0, named=True), tasks.row(1, named=True)
    export = [
        {"id": 11, "data": {"rating_id": first["rating_id"], "story": first["story"]},
         "annotations": [_annotation(2, {"overall": 8, "grammar": 7}),
                         _annotation({"id": 3, "email": "ravi@example.org"}, {"overall": 5}),
                         _annotation(4, {"overall": 1}, cancelled=True)]},
        {"id": 12, "data": {"rating_id": second["rating_id"]},
         "annotations": [_annotation(2, {"overall": 3})]},
    ]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(export), encoding="utf-8")
    rows = read_ratings(path, samples, read_keys(tmp_path / "rating_tasks"),
                        users={2: "asha@example.org"})
    assert sorted(set(rows["judge"])) == ["human:asha", "human:ravi"]  # the skip is left out
    got = rows.filter((pl.col("judge") == "human:asha") & (pl.col("metric") == "overall"))
    assert sorted(got.select("tokenizer", "preset", "prompt_id", "sample_index", "value")
                  .iter_rows()) == sorted([
        (first["tokenizer"], first["preset"], first["prompt_id"], first["sample_index"], 8.0),
        (second["tokenizer"], second["preset"], second["prompt_id"], second["sample_index"],
         3.0)])
    # Without the server's users, a rater is named by id.
    unnamed = read_ratings(path, samples, read_keys(tmp_path / "rating_tasks"))
    assert "human:user2" in set(unnamed["judge"])


def test_a_bad_label_studio_export_is_refused_whole(tmp_path: Path) -> None:
    samples, tasks = _export_of(tmp_path)
    first = tasks.row(0, named=True)
    resampled = samples.with_columns(
        story=pl.when((pl.col("tokenizer") == first["tokenizer"])
                      & (pl.col("preset") == first["preset"])
                      & (pl.col("prompt_id") == first["prompt_id"])
                      & (pl.col("sample_index") == first["sample_index"]))
        .then(pl.lit("a new story")).otherwise(pl.col("story")))
    export = [
        {"id": 1, "data": {"rating_id": first["rating_id"]},
         "annotations": [_annotation(2, {"overall": 8}), _annotation(2, {"overall": 6})]},
        {"id": 2, "data": {"rating_id": "rdeadbeef0000"},
         "annotations": [_annotation(2, {"overall": 8})]},
        {"id": 3, "data": {"rating_id": tasks["rating_id"][1]},
         "annotations": [_annotation(2, {"overall": 12})]},
    ]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(export), encoding="utf-8")
    with pytest.raises(RatingsFileError) as refused:
        read_ratings(path, resampled, read_keys(tmp_path / "rating_tasks"))
    text = "\n".join(refused.value.problems)
    assert f"task 1 ({first['rating_id']}): sample " in text
    assert "was sampled again after the export" in text
    assert "rater user2 rated" in text and "again, as in task 1" in text
    assert "task 2 (rdeadbeef0000): no export made this rating id" in text
    assert "score 12 of overall is not a number from 1 to 10" in text
    path.write_text(json.dumps({"tasks": []}), encoding="utf-8")
    with pytest.raises(RatingsFileError, match="not a Label Studio JSON export"):
        read_ratings(path, samples, read_keys(tmp_path / "rating_tasks"))


def test_rater_names() -> None:
    assert rater_name(5, {5: "meera@school.in"}) == "meera"
    assert rater_name({"id": 9, "email": "arun@x.org"}) == "arun"
    assert rater_name(7) == "user7"
