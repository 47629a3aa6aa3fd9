"""Materializing `tokenizer`, `token_bins` and `tokenizer_stats` for language x tokenizer."""

from __future__ import annotations

import math
import time
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pytest

from tsr_assets.definitions import build_definitions
from tsr_assets.defs.jobs import LANGUAGE_JOB, LANGUAGE_TOKENIZER_JOB
from tsr_assets.defs.partitions import language_tokenizer_key
from tsr_assets.defs.tokenizers import TOKENIZER_ASSETS
from tsr_assets.stories.store import read_table
from tsr_assets.tokenizers.morphscore import load_morph_gold, packaged_morph_gold
from tsr_assets.tokenizers.registry import load_tokenizer
from tsr_assets.tokenizers.token_bins import open_bins, read_meta
from tsr_assets_tests.tokenizers.hf_fixture import train_hf_tokenizer
from tsr_assets_tests.tokenizers.morph_reference import original_shaped_gold, reference_morphscore


def _stories(instance, language: str = "hindi", count: int = 120) -> None:
    job = build_definitions().resolve_job_def(LANGUAGE_JOB)
    result = job.execute_in_process(
        instance=instance, partition_key=language,
        run_config={"ops": {"prompts": {"config": {"count": count}}}},
    )
    assert result.success


def _tokenizer_chain(instance, language: str, tokenizer: str, run_config: dict | None = None,
                     assets=TOKENIZER_ASSETS):
    job = build_definitions().resolve_job_def(LANGUAGE_TOKENIZER_JOB)
    return job.execute_in_process(
        instance=instance, partition_key=language_tokenizer_key(language, tokenizer),
        run_config=run_config or {}, raise_on_error=False,
        asset_selection=[dg.AssetKey(a) for a in assets],
    )


def _metadata(result, asset: str) -> dict:
    event = next(m for m in result.get_asset_materialization_events()
                 if m.asset_key == dg.AssetKey(asset))
    return {k: v.value for k, v in event.materialization.metadata.items()}


def test_offline_tokenizers_materialize_end_to_end(data_lake: Path, instance,
                                                    tmp_path: Path) -> None:
    _stories(instance)
    config = {"ops": {"tokenizer": {"config": {"val_share": 0.1}},
                      "token_bins": {"config": {"val_share": 0.1}}}}
    stories_total = read_table(data_lake / "stories" / "hindi").height
    for tok in ("spm", "byte", "gpt2"):
        result = _tokenizer_chain(instance, "hindi", tok, config)
        assert result.success, tok
        checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
        assert checks["token_bins_round_trip"].passed, checks["token_bins_round_trip"].metadata
        meta = read_meta(data_lake / "token_bins" / "hindi" / tok)
        assert meta["dtype"] == "uint16"
        assert sum(s["stories"] for s in meta["splits"].values()) == stories_total
        train = open_bins(data_lake / "token_bins" / "hindi" / tok, "train")
        assert int(train[0]) == meta["tokenizer"]["bos_id"]
        assert int(train[-1]) == meta["tokenizer"]["eos_id"]
        bins_meta = _metadata(result, "token_bins")
        assert bins_meta["train_tokens"] == meta["splits"]["train"]["tokens"]
        assert (data_lake / "tokenizer" / "hindi" / tok / "tsr_tokenizer.json").is_file()
    assert (data_lake / "tokenizer" / "hindi" / "spm" / "spm.model").is_file()

    db = data_lake / "warehouse.duckdb"
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "SELECT tokenizer, fertility, renyi_efficiency, fallback_rate, stories "
            "FROM tokenizer_stats WHERE language = 'hindi' ORDER BY tokenizer").fetchall()
    by_tok = {r[0]: r for r in rows}
    assert set(by_tok) == {"byte", "gpt2", "spm"}
    # SentencePiece trained on Hindi needs far fewer tokens per word than bytes or GPT-2.
    assert by_tok["spm"][1] < by_tok["gpt2"][1] < by_tok["byte"][1]
    assert by_tok["spm"][3] < 0.01 and by_tok["gpt2"][3] > 0.5
    assert all(0 < r[2] <= 1 for r in rows)

    # As the original publishes it: Rényi in nats over train+val without bos/eos, and
    # MorphScore on the packaged Hindi gold list.
    with duckdb.connect(str(db), read_only=True) as con:
        study = {r[0]: r[1:] for r in con.execute(
            "SELECT tokenizer, renyi_nats_2_5, renyi_nats_1, morphscore, morph_words_scored, "
            "morph_words_single_token, morph_gold FROM tokenizer_stats").fetchall()}
    for tok, (nats, shannon, morph, scored, single, gold) in study.items():
        folder = data_lake / "token_bins" / "hindi" / tok
        meta = read_meta(folder)
        ids = np.concatenate([open_bins(folder, s) for s in ("train", "val")]).astype(np.int64)
        counts = np.bincount(ids, minlength=meta["tokenizer"]["vocab_size"])
        stories = sum(s["stories"] for s in meta["splits"].values())
        counts[meta["tokenizer"]["bos_id"]] -= stories
        counts[meta["tokenizer"]["eos_id"]] -= stories
        p = counts[counts > 0] / counts.sum()
        assert nats == pytest.approx(math.log(np.sum(p ** 2.5)) / -1.5), tok
        assert shannon == pytest.approx(float(-np.sum(p * np.log(p)))), tok
        assert gold.endswith("hindi/morph_gold.csv") and scored + single >= 160
        assert 0.0 <= morph <= 1.0
    # Bytes split everywhere, but their pieces are named in GPT-2's byte alphabet, which never
    # spells Devanagari: 0 as the original defines it, 1 on decoded text.
    assert study["byte"][2] == 0.0 and study["byte"][4] == 0
    assert study["spm"][4] > 0  # frequent words are one SentencePiece token
    with duckdb.connect(str(db), read_only=True) as con:
        decoded = {r[0]: r[1:] for r in con.execute(
            "SELECT tokenizer, morphscore_decoded, morph_words_scored_decoded FROM "
            "tokenizer_stats").fetchall()}
    assert decoded["byte"] == (1.0, study["byte"][3]) and 0.0 < decoded["spm"][0] <= 1.0

    # A gold list shaped like the original's (an unnamed index column, rows whose pt1 + rest
    # does not spell the word, trailing spaces) is used as it is: both MorphScores and the
    # counts, the unmatchable rows listed by line.
    gold = original_shaped_gold(tmp_path / "gold.csv")
    result = _tokenizer_chain(instance, "hindi", "spm", {"ops": {"tokenizer_stats": {
        "config": {"morph_gold_path": str(gold)}}}}, ["tokenizer_stats"])
    assert result.success
    with duckdb.connect(str(db), read_only=True) as con:
        row = con.execute(
            "SELECT morphscore, morph_words_scored, morph_words_single_token, "
            "morph_words_unmatchable, morphscore_decoded, morph_words_scored_decoded, "
            "morph_gold FROM tokenizer_stats WHERE tokenizer = 'spm'").fetchone()
    fast = load_tokenizer(data_lake / "tokenizer" / "hindi" / "spm").to_transformers()
    score, scored, single = reference_morphscore(fast, gold)
    assert row[:4] == (pytest.approx(score), scored, single, 5) and row[6] == str(gold)
    # The decoded variant scores the rows that spell their word: the packaged list again and
    # বোনকে, which this Hindi model spells in byte pieces that decode to বোন | কে.
    packaged_matched = round(decoded["spm"][0] * decoded["spm"][1])
    assert row[5] == decoded["spm"][1] + 1
    assert row[4] == pytest.approx((packaged_matched + 1) / row[5])
    meta = _metadata(result, "tokenizer_stats")
    assert meta["morph_words_unmatchable"] == 5
    assert meta["morphscore"] == pytest.approx(score)
    assert meta["morphscore_decoded"] == pytest.approx(row[4])
    listed = meta["morph_unmatchable_rows"]
    words = len(load_morph_gold(packaged_morph_gold("hindi")))
    assert f"| {words + 2} | मनोहर | मनो | रम | pt1 + rest is मनोरम |" in listed
    assert f"| {words + 4} | लड़कों | लड़क | ों | space around pt1 |" in listed
    assert "বোনকে" not in listed  # spells its word

    # Re-materializing a partition replaces its row.
    _tokenizer_chain(instance, "hindi", "spm", config)
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM tokenizer_stats").fetchone() == (3,)


def test_hub_tokenizer_from_a_local_folder(data_lake: Path, instance, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    _stories(instance, "marathi", 60)
    texts = read_table(data_lake / "stories" / "marathi")["story"].to_list()
    folder = train_hf_tokenizer(texts, tmp_path / "sarvam_like")
    monkeypatch.setenv("TSR_SARVAM_TOKENIZER", str(folder))
    result = _tokenizer_chain(instance, "marathi", "sarvam",
                              {"ops": {"token_bins": {"config": {"val_share": 0.2}}}})
    assert result.success
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert checks["token_bins_round_trip"].passed, checks["token_bins_round_trip"].metadata
    stored = data_lake / "tokenizer" / "marathi" / "sarvam" / "hf"
    assert (stored / "tokenizer.json").is_file()
    train = open_bins(data_lake / "token_bins" / "marathi" / "sarvam", "train")
    # The tokenizer adds <s> itself, yet every story starts with exactly one bos.
    assert int(np.count_nonzero(np.asarray(train) == 1)) == read_meta(
        data_lake / "token_bins" / "marathi" / "sarvam")["splits"]["train"]["stories"]


def test_hub_tokenizer_without_a_source_fails_fast_and_says_how(
    data_lake: Path, instance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _stories(instance, "bengali", 30)
    monkeypatch.delenv("TSR_SUTRA_TOKENIZER", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty_hf_home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    started = time.monotonic()
    result = _tokenizer_chain(instance, "bengali", "sutra")
    assert not result.success and time.monotonic() - started < 30
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    message = str(failure.event_specific_data.error)
    assert "bengali|sutra" in message and "TSR_SUTRA_TOKENIZER" in message
    assert not (data_lake / "token_bins" / "bengali" / "sutra").exists()
