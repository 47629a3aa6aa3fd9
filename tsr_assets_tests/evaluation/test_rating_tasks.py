"""The blinded rating project: a stratified, seeded choice of samples, tasks that say nothing
about the model, a Label Studio labeling configuration with one 1-10 rating per criterion."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import polars as pl
import pytest

from tsr_assets.evaluation.rating_tasks import (
    RatingExportError,
    RatingSelection,
    about_export,
    label_config,
    read_keys,
    select_for_rating,
    story_sha256,
    write_export,
)
from tsr_assets.evaluation.rubric import LLM_METRICS

MODELS = [("spm", "tiny"), ("byte", "tiny"), ("spm", "e64_l2")]


def fake_samples(openers: int = 10, per_opener: int = 3, models=MODELS) -> pl.DataFrame:
    """Samples of several models, every model with the same openers."""
    rows = []
    for tokenizer, preset in models:
        for o in range(openers):
            for k in range(per_opener):
                rows.append({"language": "hindi", "tokenizer": tokenizer, "preset": preset,
                             "corpus": "generated", "prompt_id": f"opener-{o:03d}",
                             "sample_index": k, "opener": f"शुरुआत {o}",
                             "story": f"शुरुआत {o} कहानी {len(rows)}"})
    return pl.DataFrame(rows, schema_overrides={"sample_index": pl.Int32})


def test_every_model_gets_the_same_openers_and_the_order_is_shuffled() -> None:
    tasks = select_for_rating(fake_samples(), RatingSelection(openers=4, stories_per_opener=2,
                                                              seed=3))
    assert tasks.height == len(MODELS) * 4 * 2
    openers = {m: set(tasks.filter((pl.col("tokenizer") == m[0]) & (pl.col("preset") == m[1]))
                      ["prompt_id"]) for m in MODELS}
    assert len({frozenset(o) for o in openers.values()}) == 1 and len(openers[MODELS[0]]) == 4
    per_cell = tasks.group_by("tokenizer", "preset", "prompt_id").len()["len"].unique()
    assert per_cell.to_list() == [2]
    # Shuffled: the models are interleaved, not in blocks.
    first_model_rows = [i for i, t in enumerate(tasks["tokenizer"]) if t == "byte"]
    assert first_model_rows != list(range(first_model_rows[0], first_model_rows[0] + 8))
    assert tasks["rating_id"].n_unique() == tasks.height


def test_the_seed_fixes_the_choice_and_the_order() -> None:
    samples = fake_samples()
    a = select_for_rating(samples, RatingSelection(openers=5, seed=7))
    b = select_for_rating(samples, RatingSelection(openers=5, seed=7))
    c = select_for_rating(samples, RatingSelection(openers=5, seed=8))
    keys = ["tokenizer", "preset", "prompt_id", "sample_index"]
    assert a.select(keys).equals(b.select(keys))
    assert not a.select(keys).equals(c.select(keys))
    assert set(a["rating_id"]).isdisjoint(b["rating_id"])  # ids are fresh and opaque


def test_chosen_models_only_and_clear_errors() -> None:
    samples = fake_samples()
    tasks = select_for_rating(samples, RatingSelection(openers=3), [("byte", "tiny")])
    assert set(tasks["tokenizer"]) == {"byte"}
    with pytest.raises(RatingExportError, match="no samples of gpt2/tiny; models with samples"):
        select_for_rating(samples, RatingSelection(openers=3), [("gpt2", "tiny")])
    with pytest.raises(RatingExportError, match="20 openers asked for, but the models share 10"):
        select_for_rating(samples, RatingSelection(openers=20))
    with pytest.raises(RatingExportError, match="3 samples of opener-"):
        select_for_rating(samples, RatingSelection(openers=2, stories_per_opener=4))
    with pytest.raises(RatingExportError, match="no samples to rate"):
        select_for_rating(samples.head(0), RatingSelection())
    # Openers only some models have are never chosen.
    partial = pl.concat([samples, fake_samples(openers=15, models=[("gpt2", "tiny")])
                         .filter(pl.col("prompt_id") >= "opener-005")])
    assert set(select_for_rating(partial, RatingSelection(openers=5))["prompt_id"]) == {
        f"opener-{o:03d}" for o in range(5, 10)}


def test_the_label_config_has_a_1_to_10_rating_per_criterion() -> None:
    xml = label_config("Hindi")
    root = ET.fromstring(xml)
    ratings = root.findall("Rating")
    assert [r.get("name") for r in ratings] == list(LLM_METRICS)
    assert {r.get("maxRating") for r in ratings} == {"10"}
    assert {r.get("toName") for r in ratings} == {"story"}
    assert [t.get("value") for t in root.findall("Text")] == ["$opener", "$story"]
    headers = " ".join(h.get("value") for h in root.findall("Header"))
    assert "grammar: is the Hindi grammatically correct" in headers  # the rubric's question
    assert [r.get("name") for r in ET.fromstring(label_config("Hindi", ["overall"]))
            .findall("Rating")] == ["overall"]


def test_the_files_hide_the_model_and_the_key_keeps_it(tmp_path: Path) -> None:
    samples = fake_samples()
    tasks = select_for_rating(samples, RatingSelection(openers=3, seed=1))
    folder = tmp_path / "rating_tasks" / "hindi" / "x1"
    about = about_export("hindi", RatingSelection(openers=3, seed=1), MODELS, 2, tasks.height)
    export = write_export(folder, tasks, label_config("Hindi"), about)
    written = json.loads(export.tasks_file.read_text(encoding="utf-8"))
    assert len(written) == tasks.height
    assert {tuple(sorted(t["data"])) for t in written} == {("opener", "rating_id", "story")}
    text = export.tasks_file.read_text(encoding="utf-8")
    for secret in ("spm", "byte", "tiny", "e64_l2", "opener-0", "sample_index", "judge"):
        assert secret not in text, secret
    key = read_keys(tmp_path / "rating_tasks")
    assert key.height == tasks.height
    row = key.filter(pl.col("rating_id") == written[0]["data"]["rating_id"]).row(0, named=True)
    assert row["story_sha256"] == story_sha256(written[0]["data"]["story"])
    assert json.loads((folder / "export.json").read_text())["raters_per_story"] == 2
