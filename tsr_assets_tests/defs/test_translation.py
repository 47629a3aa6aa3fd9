"""`translated_stories` through Dagster with the LLM translator against a real HTTP server on
127.0.0.1, then the token bins built on the generated, translated or both corpora."""

from __future__ import annotations

import json
import re
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from tsr_assets.core.languages import get_language
from tsr_assets.definitions import build_definitions
from tsr_assets.defs.jobs import LANGUAGE_JOB, LANGUAGE_TOKENIZER_JOB, TRANSLATION_JOB
from tsr_assets.defs.partitions import language_tokenizer_key
from tsr_assets.stories.store import read_table
from tsr_assets.tokenizers.token_bins import read_meta
from tsr_assets_tests.chat_server import ENGLISH_BODY, HINDI_BODY, Reply, running_chat_server

NAMES = ["Asha", "Ravi", "Sita", "Mohan", "Gita", "Kiran", "Lata", "Vijay"]
HINDI_DIGITS = get_language("hindi").digits
BENGALI_TEXT = " ".join(
    line for line in (get_language("bengali").package_data_dir / "eval_openers.txt")
    .read_text(encoding="utf-8").splitlines()[1:5])


def english_source(tmp_path: Path) -> Path:
    path = tmp_path / "tinystories.jsonl"
    rows = [{"text": f"{name} and story number {i}. " + ENGLISH_BODY}
            for i, name in enumerate(NAMES)]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def translator_policy(prompt: str, call: int) -> Reply:
    """Good Hindi, except: Ravi comes back in English, Sita in Bengali, Mohan after a 429."""
    number = int(re.search(r"story number (\d+)", prompt).group(1))
    if "Ravi" in prompt:
        return Reply(json.dumps({"story": ENGLISH_BODY}))
    if "Sita" in prompt:
        return Reply(json.dumps({"story": BENGALI_TEXT}, ensure_ascii=False))
    if "Mohan" in prompt and call == 1:
        return Reply(status=429, headers={"Retry-After": "0.05"})
    story = f"कहानी {HINDI_DIGITS[number]}। {HINDI_BODY}"
    return Reply(json.dumps({"story": story}, ensure_ascii=False))


def _execute(instance, job_name: str, partition, run_config: dict, assets=None):
    job = build_definitions().resolve_job_def(job_name)
    return job.execute_in_process(
        instance=instance, partition_key=partition, run_config=run_config,
        raise_on_error=False,
        asset_selection=[dg.AssetKey(a) for a in assets] if assets else None)


def _failure(result) -> str:
    return str(next(e for e in result.all_events if e.is_step_failure)
               .event_specific_data.error)


def test_llm_translation_then_bins_on_each_corpus(tmp_path: Path, data_lake: Path,
                                                  instance) -> None:
    source = english_source(tmp_path)
    with running_chat_server(translator_policy) as server:
        llm = {"source": "openai", "base_url": server.base_url, "model": "test-model",
               "max_attempts": 2, "backoff_base_s": 0.01, "breaker_enabled": False}
        translation = {"translator": "llm", "source_path": str(source), "limit": 7}
        result = _execute(instance, TRANSLATION_JOB, "hindi", {
            "ops": {"translated_stories": {"config": translation}},
            "resources": {"llm": {"config": llm}}})
        assert result.success, _failure(result)
        # A rerun sends nothing new: translated and failed stories are both settled.
        calls = sum(server.calls.values())
        again = _execute(instance, TRANSLATION_JOB, "hindi", {
            "ops": {"translated_stories": {"config": translation}},
            "resources": {"llm": {"config": llm}}})
        assert again.success and sum(server.calls.values()) == calls
        prompts = list(server.calls)
    assert "Hindi" in prompts[0] and "Devanagari" in prompts[0] and "JSON" in prompts[0]
    store = data_lake / "translated_stories" / "hindi"
    table = read_table(store)
    assert table.height == 5  # 7 taken (limit), Ravi and Sita rejected
    assert table["source_chars"].min() > 300
    assert set(table["model"]) == {"test-model"}
    reasons = set(read_table(store, "rejection")["reason"])
    assert reasons == {"untranslated", "wrong_script"}
    assert set(read_table(store, "failure")["reason"]) == {"untranslated", "wrong_script"}
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert checks["translated_stories_no_duplicates"].passed
    assert checks["translated_stories_script_purity"].passed
    assert not checks["translated_stories_rejection_rate"].passed  # 2 of 7 > 20%: warns
    with duckdb.connect(str(data_lake / "warehouse.duckdb"), read_only=True) as con:
        stage, succeeded, rejected = con.execute(
            "SELECT stage, succeeded, rejected FROM generation_runs "
            "WHERE run_id = ?", [result.run_id]).fetchone()
    assert (stage, succeeded, rejected) == ("translated_stories", 5, 4)

    generated = _execute(instance, LANGUAGE_JOB, "hindi",
                         {"ops": {"prompts": {"config": {"count": 30}}}})
    assert generated.success
    bins = data_lake / "token_bins" / "hindi" / "byte"
    expected = {"generated": {"generated": 30},
                "translated": {"translated": 5, "translated_from": {"english": 5}},
                "both": {"generated": 30, "translated": 5, "translated_from": {"english": 5}}}
    for corpus, by_source in expected.items():
        config = {"corpus": corpus, "val_share": 0.2}
        chain = _execute(instance, LANGUAGE_TOKENIZER_JOB, language_tokenizer_key("hindi", "byte"),
                         {"ops": {"tokenizer": {"config": config},
                                  "token_bins": {"config": config}}},
                         ["tokenizer", "token_bins"])
        assert chain.success, (corpus, _failure(chain))
        meta = read_meta(bins)
        assert meta["corpus"] == corpus and meta["stories_by_source"] == by_source
        assert sum(s["stories"] for s in meta["splits"].values()) == \
            by_source.get("generated", 0) + by_source.get("translated", 0)
        checks = {c.check_name: c for c in chain.get_asset_check_evaluations()}
        assert checks["token_bins_round_trip"].passed


def test_english_is_not_a_target_and_missing_sources_are_named(data_lake: Path,
                                                                instance) -> None:
    result = _execute(instance, TRANSLATION_JOB, "english", {})
    assert not result.success
    assert "not a translation target" in _failure(result)
    assert _execute(instance, LANGUAGE_JOB, "marathi",
                    {"ops": {"prompts": {"config": {"count": 10}}}}).success
    config = {"corpus": "translated"}
    chain = _execute(instance, LANGUAGE_TOKENIZER_JOB, language_tokenizer_key("marathi", "byte"),
                     {"ops": {"tokenizer": {"config": config}}}, ["tokenizer"])
    assert not chain.success
    error = _failure(chain)
    assert "no translated stories" in error and "`translated_stories` for marathi" in error
    offline = _execute(instance, TRANSLATION_JOB, "marathi", {
        "ops": {"translated_stories": {"config": {"translator": "llm"}}}})
    assert not offline.success and "`llm` resource is offline" in _failure(offline)
    assert read_table(data_lake / "translated_stories" / "marathi").is_empty()


def _openers(language: str) -> list[str]:
    path = get_language(language).package_data_dir / "eval_openers.txt"
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")]


def _bengali_of(hindi_text: str, length: int) -> str:
    """A Bengali 'translation' about as long as its source, different per source."""
    bengali = _openers("bengali")
    start = sum(map(ord, hindi_text)) % len(bengali)
    out = []
    while sum(len(s) + 1 for s in out) < length:
        out.append(bengali[(start + len(out)) % len(bengali)])
    return " ".join(out)


def hindi_to_bengali_policy(prompt: str, call: int) -> Reply:
    """Openers: the Bengali opener of the same line, except the first, left in Hindi.
    Stories: Bengali text of the source's length."""
    text = prompt.split("Story:\n", 1)[1].strip()
    hindi = _openers("hindi")
    if text in hindi:
        index = hindi.index(text)
        answer = text if index == 0 else _openers("bengali")[index]
    else:
        answer = _bengali_of(text, len(text))
    return Reply(json.dumps({"story": answer}, ensure_ascii=False))


def test_hindi_to_bengali_quality_first_then_a_corpus(data_lake: Path, instance) -> None:
    from tsr_assets.defs.jobs import TRANSLATION_QUALITY_JOB
    from tsr_assets.translation.translation_quality import chrf_pp

    assert _execute(instance, LANGUAGE_JOB, "hindi",
                    {"ops": {"prompts": {"config": {"count": 6}}}}).success
    translation = {"translator": "llm", "source_language": "hindi"}
    with running_chat_server(hindi_to_bengali_policy) as server:
        llm = {"source": "openai", "base_url": server.base_url, "model": "test-model",
               "backoff_base_s": 0.01}
        quality = _execute(instance, TRANSLATION_QUALITY_JOB, "bengali", {
            "ops": {"translation_quality": {"config": translation}},
            "resources": {"llm": {"config": llm}}})
        assert quality.success, _failure(quality)
        stories = _execute(instance, TRANSLATION_JOB, "bengali", {
            "ops": {"translated_stories": {"config": translation}},
            "resources": {"llm": {"config": llm}}})
        assert stories.success, _failure(stories)
        prompts = list(server.calls)
    assert all("from Hindi into Bengali" in p and "leave nothing in Hindi" in p for p in prompts)
    hindi, bengali = _openers("hindi"), _openers("bengali")
    with duckdb.connect(str(data_lake / "warehouse.duckdb"), read_only=True) as con:
        row = con.execute("SELECT source_language, translator, model, openers, translated, "
                          "chrf_pp, gate_pass_share FROM translation_quality WHERE language = "
                          "'bengali'").fetchone()
    assert row[:5] == ("hindi", "llm", "test-model", len(hindi), len(hindi))
    assert row[5] == pytest.approx(chrf_pp([hindi[0], *bengali[1:]], bengali))
    assert 90 < row[5] < 100
    assert row[6] == pytest.approx((len(hindi) - 1) / len(hindi))  # the Hindi one: untranslated

    table = read_table(data_lake / "translated_stories" / "bengali")
    assert table.height == 6 and set(table["source_language"]) == {"hindi"}
    assert all(p.startswith("hindi:") for p in table["prompt_id"])
    config = {"corpus": "translated", "val_share": 0.2}
    chain = _execute(instance, LANGUAGE_TOKENIZER_JOB, language_tokenizer_key("bengali", "byte"),
                     {"ops": {"tokenizer": {"config": config},
                              "token_bins": {"config": config}}}, ["tokenizer", "token_bins"])
    assert chain.success, _failure(chain)
    meta = read_meta(data_lake / "token_bins" / "bengali" / "byte")
    assert meta["stories_by_source"] == {"translated": 6, "translated_from": {"hindi": 6}}


def test_a_language_is_never_translated_from_itself(data_lake: Path, instance) -> None:
    result = _execute(instance, TRANSLATION_JOB, "hindi", {"ops": {"translated_stories": {
        "config": {"translator": "llm", "source_language": "hindi"}}}})
    assert not result.success and "not a translation target from 'hindi'" in _failure(result)


def test_quality_with_labse_and_comet_and_a_missing_model_named(
        data_lake: Path, instance, tiny_labse: Path, tiny_comet: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from tsr_assets.defs.jobs import TRANSLATION_QUALITY_JOB

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    translation = {"translator": "llm", "source_language": "hindi",
                   "labse_model": str(tiny_labse), "comet_model": str(tiny_comet)}
    with running_chat_server(hindi_to_bengali_policy) as server:
        llm = {"source": "openai", "base_url": server.base_url, "model": "test-model",
               "backoff_base_s": 0.01}
        quality = _execute(instance, TRANSLATION_QUALITY_JOB, "bengali", {
            "ops": {"translation_quality": {"config": translation}},
            "resources": {"llm": {"config": llm}}})
        assert quality.success, _failure(quality)
        missing = _execute(instance, TRANSLATION_QUALITY_JOB, "bengali", {
            "ops": {"translation_quality": {"config": {
                **translation, "labse_model": str(tmp_path / "no-labse")}}},
            "resources": {"llm": {"config": llm}}})
    assert not missing.success
    assert re.search(r"translation_quality: labse_model: '.*no-labse' is not a "
                     r"sentence-transformers folder.*set labse_model to the folder",
                     _failure(missing))
    with duckdb.connect(str(data_lake / "warehouse.duckdb"), read_only=True) as con:
        row = con.execute("SELECT labse_similarity, labse_model, comet_da, comet_model, chrf_pp "
                          "FROM translation_quality WHERE language = 'bengali'").fetchone()
    assert -1.0 <= row[0] <= 1.0 and row[1] == str(tiny_labse)
    assert row[2] is not None and row[3] == str(tiny_comet) and 90 < row[4] < 100
    materialization = instance.get_latest_materialization_event(
        dg.AssetKey("translation_quality")).asset_materialization
    assert {"labse_similarity", "comet_da", "chrf_pp"} <= set(materialization.metadata)
