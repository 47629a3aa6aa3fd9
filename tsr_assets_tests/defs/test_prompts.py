"""Materializing `wordlists` and `prompts` in process, for every language, and a new one."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from tsr_assets.core.languages import Language, register_language, unregister_language
from tsr_assets.definitions import build_definitions
from tsr_assets.defs.jobs import LANGUAGE_JOB
from tsr_assets.prompts.wordlists import MIN_COUNTS


def _run(defs: dg.Definitions, instance: dg.DagsterInstance, language: str, **prompts_config):
    return defs.resolve_job_def(LANGUAGE_JOB).execute_in_process(
        instance=instance,
        partition_key=language,
        run_config={"ops": {"prompts": {"config": {"count": 150, **prompts_config}}}},
        raise_on_error=False,
        asset_selection=[dg.AssetKey("wordlists"), dg.AssetKey("prompts")],
    )


@pytest.mark.parametrize("language", ["hindi", "marathi", "bengali"])
def test_packaged_lists_materialize(
    language: str, data_lake: Path, instance: dg.DagsterInstance
) -> None:
    result = _run(build_definitions(), instance, language)
    assert result.success
    checks = result.get_asset_check_evaluations()
    assert [c.check_name for c in checks] == ["wordlists_valid"]
    assert checks[0].passed, checks[0].metadata["details"].value

    materializations = {
        m.asset_key.to_user_string(): m for m in result.get_asset_materialization_events()
    }
    wordlists_meta = materializations["wordlists"].materialization.metadata
    for name, minimum in MIN_COUNTS.items():
        assert wordlists_meta[f"{name}_count"].value >= minimum
    assert wordlists_meta["combinations"].value >= 150**3 * 15

    prompts = pl.read_parquet(data_lake / "prompts" / language / "prompts.parquet")
    assert prompts.height == 150 and prompts["prompt_id"].n_unique() == 150
    prompts_meta = materializations["prompts"].materialization.metadata
    assert prompts_meta["count"].value == 150
    assert "| prompt_id |" in prompts_meta["preview"].value
    run = instance.get_run_by_id(result.run_id)
    assert run is not None and run.tags["dagster/partition"] == language


def test_bad_user_folder_fails_with_file_and_line(
    tmp_path: Path, data_lake: Path, instance: dg.DagsterInstance
) -> None:
    folder = tmp_path / "my_lists"
    folder.mkdir()
    packaged = Path(__file__).resolve().parents[2] / "tsr_assets" / "data" / "hindi"
    for name in ("verbs.txt", "adjectives.txt", "features.txt", "features_en.txt"):
        (folder / name).write_bytes((packaged / name).read_bytes())
    (folder / "nouns.txt").write_text("घर\nपानी\nhouse\n", encoding="utf-8")
    result = build_definitions().resolve_job_def(LANGUAGE_JOB).execute_in_process(
        instance=instance,
        partition_key="hindi",
        run_config={"ops": {"wordlists": {"config": {"source_dir": str(folder)}}}},
        raise_on_error=False,
        asset_selection=[dg.AssetKey("wordlists"), dg.AssetKey("prompts")],
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = str(failure.step_failure_data.user_failure_data.description)
    assert "nouns.txt, line 3" in message and "'house'" in message
    assert not (data_lake / "prompts" / "hindi").exists()


GUJARATI_LISTS = {
    "nouns.txt": "# a small test list\nઘર\nપાણી\nફૂલ\nઝાડ\nબિલાડી\nકૂતરો\n",
    "verbs.txt": "રમવું\r\nદોડવું\r\nગાવું\r\nખાવું\r\n",
    "adjectives.txt": "\ufeffમોટું\nનાનું\nલાલ\nસુંદર\nહોશિયાર\n",
    "features.txt": "સુખદ અંત\nનૈતિક બોધ\n",
    "features_en.txt": "a happy ending\na moral lesson\n",
}


def test_a_fourth_language_is_one_entry_and_one_folder(
    tmp_path: Path, data_lake: Path, instance: dg.DagsterInstance
) -> None:
    folder = tmp_path / "gujarati"
    folder.mkdir()
    for name, text in GUJARATI_LISTS.items():
        (folder / name).write_text(text, encoding="utf-8")
    register_language(
        Language(
            key="gujarati",
            display_name="Gujarati",
            native_name="ગુજરાતી",
            script="Gujarati",
            script_ranges=((0x0A80, 0x0AFF),),
            sentence_terminators=(".", "?", "!"),
            digits="૦૧૨૩૪૫૬૭૮૯",
            data_dir=folder,
        )
    )
    try:
        defs = build_definitions()
        result = _run(defs, instance, "gujarati", count=6 * 4 * 5 * 2)
    finally:
        unregister_language("gujarati")
    assert result.success
    # Short lists pass the script and duplicate rules and only warn about the minimum counts.
    check = result.get_asset_check_evaluations()[0]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    prompts = pl.read_parquet(data_lake / "prompts" / "gujarati" / "prompts.parquet")
    assert prompts.height == 240 and prompts["prompt_id"].n_unique() == 240
    assert prompts["prompt"][0].count("Gujarati") >= 2
    assert set(prompts["noun"]) == {"ઘર", "પાણી", "ફૂલ", "ઝાડ", "બિલાડી", "કૂતરો"}
