"""English, the baseline language of the original TinyStories, runs the whole chain on the
offline defaults like the Indic languages."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb

from tsr_assets.definitions import build_definitions
from tsr_assets.defs.jobs import LANGUAGE_JOB, LANGUAGE_TOKENIZER_JOB
from tsr_assets.defs.partitions import language_tokenizer_key
from tsr_assets.stories.store import read_table
from tsr_assets_tests.defs.test_automation import SMALL_CHAIN


def test_english_chain_end_to_end(data_lake: Path, instance) -> None:
    defs = build_definitions(presets=["tiny"])
    stories = defs.resolve_job_def(LANGUAGE_JOB).execute_in_process(
        instance=instance, partition_key="english",
        run_config={"ops": {"prompts": {"config": {"count": 60}}}}, raise_on_error=False)
    assert stories.success
    table = read_table(data_lake / "stories" / "english")
    assert table.height == 60
    assert all(story.isascii() for story in table["story"])
    chain = defs.resolve_job_def(LANGUAGE_TOKENIZER_JOB).execute_in_process(
        instance=instance, partition_key=language_tokenizer_key("english", "spm"),
        run_config=SMALL_CHAIN, raise_on_error=False,
        asset_selection=[dg.AssetKey(a) for a in (
            "tokenizer", "token_bins", "tokenizer_stats", "checkpoint_tiny", "samples_tiny",
            "judge_scores_tiny")])
    assert chain.success
    failed = [c.check_name for c in chain.get_asset_check_evaluations() if not c.passed
              and c.severity == dg.AssetCheckSeverity.ERROR]
    assert failed == []
    with duckdb.connect(str(data_lake / "warehouse.duckdb"), read_only=True) as con:
        openers, purity = con.execute(
            "SELECT count(DISTINCT prompt_id), avg(value) FROM judge_scores "
            "WHERE language = 'english' AND metric = 'script_purity'").fetchone()
    assert openers == 5 and purity > 0.9  # the model writes Latin script
