"""One writer per partition: two runs of one stories partition at once, a SIGKILLed holder,
a blocking check that stops later runs, and compaction that keeps one row per prompt id."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import dagster as dg
import polars as pl

from tsr_assets.core.partition_lock import lock_file
from tsr_assets.definitions import build_definitions
from tsr_assets.defs.jobs import LANGUAGE_JOB, LANGUAGE_TOKENIZER_JOB
from tsr_assets.defs.partitions import language_tokenizer_key
from tsr_assets.stories.store import compact, read_table
from tsr_assets_tests.chat_server import HINDI_BODY, Reply, good_story, running_chat_server
from tsr_assets_tests.test_cli import BIN, _env, _home

COUNT = 40


def _materialize(tmp_path: Path, home: Path, lake: Path, base_url: str, lock_wait_s: float = 0,
                 ) -> subprocess.Popen:
    config = {"resources": {
        "llm": {"config": {"source": "openai", "base_url": base_url, "concurrency": 4}},
        "data_lake": {"config": {"lock_wait_s": lock_wait_s}}}}
    return subprocess.Popen(
        [str(BIN / "dagster"), "asset", "materialize", "-m", "tsr_assets.definitions", "--select",
         "stories", "--partition", "hindi", "--config-json", json.dumps(config)],
        cwd=tmp_path, env=_env(home, lake), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True)


def _prompts(tmp_path: Path, home: Path, lake: Path) -> None:
    proc = subprocess.run(
        [str(BIN / "dagster"), "asset", "materialize", "-m", "tsr_assets.definitions", "--select",
         "wordlists,prompts", "--partition", "hindi", "--config-json",
         json.dumps({"ops": {"prompts": {"config": {"count": COUNT}}}})],
        cwd=tmp_path, env=_env(home, lake), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:]


def test_two_runs_of_one_partition_at_once(tmp_path: Path) -> None:
    home, lake = _home(tmp_path), tmp_path / "lake"
    _prompts(tmp_path, home, lake)
    # Slow answers: the first run holds the partition for about ten seconds.
    with running_chat_server(lambda p, c: Reply(good_story(p), delay_s=1.0)) as server:
        first = _materialize(tmp_path, home, lake, server.base_url)
        holder = lock_file(lake, "stories", "hindi")
        deadline = time.monotonic() + 120
        while not (holder.is_file() and holder.read_text()) and time.monotonic() < deadline:
            time.sleep(0.1)
        second = _materialize(tmp_path, home, lake, server.base_url)
        second_out, _ = second.communicate(timeout=300)
        first_out, _ = first.communicate(timeout=300)
        # A third run that may wait queues behind the first and finds nothing left to do.
        waiter = _materialize(tmp_path, home, lake, server.base_url, lock_wait_s=120)
        waiter_out, _ = waiter.communicate(timeout=300)
    assert first.returncode == 0, first_out[-3000:]
    assert second.returncode != 0
    assert "partition hindi of stories is being written by run" in second_out
    assert waiter.returncode == 0, waiter_out[-3000:]
    table = read_table(lake / "stories" / "hindi")
    assert table.height == COUNT and table["prompt_id"].n_unique() == COUNT
    assert sum(server.calls.values()) == COUNT  # nobody generated a story twice


def test_a_killed_holder_does_not_block_the_next_run(tmp_path: Path) -> None:
    home, lake = _home(tmp_path), tmp_path / "lake"
    _prompts(tmp_path, home, lake)
    with running_chat_server(lambda p, c: Reply(good_story(p), delay_s=0.3)) as server:
        victim = _materialize(tmp_path, home, lake, server.base_url)
        deadline = time.monotonic() + 120
        while sum(server.calls.values()) < 8 and time.monotonic() < deadline:
            time.sleep(0.1)
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(timeout=30)
        again = _materialize(tmp_path, home, lake, server.base_url)
        out, _ = again.communicate(timeout=300)
    assert again.returncode == 0, out[-3000:]
    table = read_table(lake / "stories" / "hindi")
    assert table.height == COUNT and table["prompt_id"].n_unique() == COUNT


def test_a_failed_blocking_check_stops_the_tokenizer_stage(data_lake: Path, instance) -> None:
    same = json.dumps({"story": HINDI_BODY}, ensure_ascii=False)  # one story for every prompt
    defs = build_definitions()
    with running_chat_server(lambda p, c: Reply(same)) as server:
        stories = defs.resolve_job_def(LANGUAGE_JOB).execute_in_process(
            instance=instance, partition_key="hindi", raise_on_error=False,
            run_config={"ops": {"prompts": {"config": {"count": 6}}},
                        "resources": {"llm": {"config": {"source": "openai",
                                                         "base_url": server.base_url}}}})
    duplicates = next(c for c in stories.get_asset_check_evaluations()
                      if c.check_name == "stories_no_duplicates")
    assert not duplicates.passed and duplicates.metadata["duplicate_texts"].value == 5
    bins = defs.resolve_job_def(LANGUAGE_TOKENIZER_JOB).execute_in_process(
        instance=instance, partition_key=language_tokenizer_key("hindi", "byte"),
        asset_selection=[dg.AssetKey("tokenizer"), dg.AssetKey("token_bins")],
        raise_on_error=False)
    assert not bins.success
    error = str(next(e for e in bins.all_events if e.is_step_failure)
                .event_specific_data.error)
    assert "stories of hindi failed the blocking check(s) stories_no_duplicates" in error
    assert not (data_lake / "token_bins" / "hindi" / "byte").exists()


def test_compaction_keeps_one_row_per_prompt_id(tmp_path: Path) -> None:
    folder = tmp_path / "stories"
    rows = [{"prompt_id": f"{i:016x}", "story": f"कहानी {i}", "provider": "p", "model": "m",
             "attempts": 1, "latency_s": 0.1, "created_at": "2026-01-01T00:00:00+00:00"}
            for i in range(10)]
    for name in ("part-a.parquet", "part-b.parquet"):  # two writers that raced, before locks
        shard = folder / "shards" / name
        shard.parent.mkdir(parents=True, exist_ok=True)
        pl.DataFrame(rows).with_columns(pl.col("created_at").str.to_datetime(time_zone="UTC")
                                        ).write_parquet(shard)
    assert read_table(folder).height == 20
    compact(folder)
    table = read_table(folder)
    assert table.height == 10 and table["prompt_id"].n_unique() == 10
    compact(folder)  # idempotent
    assert read_table(folder).height == 10


WRITER = """
import sys, time
from pathlib import Path
from tsr_assets.core.atomic_files import atomic_path
from tsr_assets.defs.resources import DataLakeResource

lake = DataLakeResource(root=sys.argv[1])
with lake.writing("token_bins", "hindi|byte", "killed-run") as data:
    with atomic_path(data.bins_dir("hindi", "byte") / "train.bin") as tmp:
        with open(tmp, "wb") as out:
            out.write(b"\\0" * 65536)
            out.flush()
            print("mid-file", flush=True)
            time.sleep(600)
"""


def test_a_killed_writer_leaves_nothing_after_the_next_run(tmp_path: Path) -> None:
    from tsr_assets.defs.resources import DataLakeResource

    lake = tmp_path / "lake"
    bins = lake / "token_bins" / "hindi" / "byte"
    bins.mkdir(parents=True)
    (bins / "train.bin").write_bytes(b"intact")
    writer = subprocess.Popen([str(BIN / "python"), "-c", WRITER, str(lake)],
                              stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert writer.stdout.readline().strip() == "mid-file"
        left = [p for p in bins.iterdir() if p.name.startswith(".train.bin.tmp-")]
        assert [p.stat().st_size for p in left] == [65536]
        assert left[0].name.startswith(f".train.bin.tmp-{writer.pid}-")
    finally:
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(timeout=30)
    assert writer.returncode == -signal.SIGKILL
    assert left[0].exists()  # the kill left it behind

    logged: list[str] = []
    with DataLakeResource(root=str(lake)).writing("token_bins", "hindi|byte", "next-run",
                                                  logged.append):
        assert sorted(p.name for p in bins.iterdir()) == ["train.bin"]
    assert (bins / "train.bin").read_bytes() == b"intact"
    assert logged == [f"removed 1 temporary file(s) a killed run left: {left[0].name}"]
