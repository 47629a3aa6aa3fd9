"""The Celery deployment, run for real on one machine: Redis as broker, PostgreSQL as the Dagster
instance, two `dagster-celery` workers, the platform's deploy/celery/ files as they ship.

Runs are launched the way a researcher would without the UI: `dagster job execute -f
deploy/celery/definitions.py`. Each test reads what happened from the Postgres event log and the
warehouse, not from the processes' output.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from tsr_assets.core.lake import REPO_ROOT
from tsr_assets.defs.jobs import LANGUAGE_JOB, LANGUAGE_TOKENIZER_JOB
from tsr_assets.defs.partitions import language_tokenizer_key
from tsr_assets.defs.pools import POOL_LIMITS
from tsr_assets.stories.store import read_table
from tsr_assets_tests.chat_server import Reply, good_story, running_chat_server
from tsr_assets_tests.local_services import (
    BIN,
    CeleryWorker,
    PostgresServer,
    RedisServer,
)

DEPLOY = REPO_ROOT / "deploy" / "celery"
LAUNCH_TAG = "tsr/test_launch"
#: Short leases, so a killed worker's step comes back within seconds (the default is 120 s).
LEASE_S = 12
#: How long Redis is stopped in the outage test.
OUTAGE_S = 5


@dataclass
class Cluster:
    """The running deployment and how to launch runs on it."""

    env: dict[str, str]
    home: Path
    lake: Path
    folder: Path
    redis: RedisServer
    workers: list[CeleryWorker]

    def launch(self, job: str, partition: str, config: dict, name: str) -> subprocess.Popen:
        """`dagster job execute` of `job` for `partition`, tagged `name`."""
        tags = {"dagster/partition": partition, LAUNCH_TAG: name}
        if "|" in partition:  # a multi-partition key: Dagster also wants each dimension's key
            language, tokenizer = partition.split("|")
            tags |= {"dagster/partition/language": language,
                     "dagster/partition/tokenizer": tokenizer}
        config_file = self.folder / f"{name}.json"
        config_file.write_text(json.dumps(config))
        log = open(self.folder / f"{name}.log", "w")  # noqa: SIM115 (closed by the process)
        return subprocess.Popen(
            [str(BIN / "dagster"), "job", "execute", "-f", str(DEPLOY / "definitions.py"),
             "-a", "defs", "-j", job, "-c", str(config_file), "--tags",
             json.dumps(tags)],
            cwd=self.folder, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)

    def output(self, name: str) -> str:
        """What a launch printed."""
        return (self.folder / f"{name}.log").read_text(errors="replace")

    def run(self, instance: dg.DagsterInstance, name: str) -> dg.DagsterRun:
        """The one run launched as `name`."""
        runs = instance.get_runs(filters=dg.RunsFilter(tags={LAUNCH_TAG: name}))
        assert len(runs) == 1, f"{len(runs)} runs tagged {name}"
        return runs[0]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Redis, PostgreSQL and two workers, up for the module's tests."""
    folder = tmp_path_factory.mktemp("celery")
    home, lake = folder / "home", folder / "lake"
    home.mkdir()
    lake.mkdir()
    shutil.copy(DEPLOY / "dagster.yaml", home / "dagster.yaml")
    redis = RedisServer(folder)
    postgres = PostgresServer()
    workers: list[CeleryWorker] = []
    try:
        redis.start()
        postgres.start()
        env = {**os.environ, **postgres.env(), "DAGSTER_HOME": str(home),
               "TSR_DATA_DIR": str(lake), "TSR_CELERY_BROKER": redis.url,
               "TSR_CELERY_LEASE_S": str(LEASE_S), "TSR_PRESETS": "tiny"}
        with pytest.MonkeyPatch.context() as patch:
            for key in ("DAGSTER_HOME", "DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_USER",
                        "DAGSTER_PG_PASSWORD", "TSR_DATA_DIR"):
                patch.setenv(key, env[key])
            for pool, limit in POOL_LIMITS.items():  # once per deployment (see defs/pools.py)
                subprocess.run([str(BIN / "dagster"), "instance", "concurrency", "set", pool,
                                str(limit)], env=env, check=True, capture_output=True,
                               timeout=120)
            workers = [CeleryWorker(name, env, folder / f"{name}.log") for name in ("w1", "w2")]
            for worker in workers:
                worker.start()
            yield Cluster(env, home, lake, folder, redis, workers)
    finally:
        for worker in workers:
            worker.stop()
        redis.stop()
        postgres.stop()


@pytest.fixture
def instance(cluster: Cluster) -> Iterator[dg.DagsterInstance]:
    """The deployment's Postgres-backed instance, as the workers see it."""
    with dg.DagsterInstance.from_config(str(cluster.home)) as inst:
        yield inst


def _wait(procs: dict[str, subprocess.Popen], cluster: Cluster, timeout_s: float = 600) -> None:
    deadline = time.monotonic() + timeout_s
    for name, proc in procs.items():
        try:
            proc.wait(timeout=max(1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for other in procs.values():
                other.kill()
            pytest.fail(f"{name} did not finish in {timeout_s}s: {cluster.output(name)[-3000:]}")


def _engine_events(instance: dg.DagsterInstance, run_id: str) -> list[dg.EventLogEntry]:
    return [e for e in instance.all_logs(run_id)
            if e.dagster_event is not None and e.dagster_event.is_engine_event]


def _worker_of_steps(instance: dg.DagsterInstance, run_id: str) -> list[tuple[str, str, float]]:
    """(step, Celery worker, time) of every time a worker began a step of the run."""
    found = []
    for entry in _engine_events(instance, run_id):
        data = entry.dagster_event.engine_event_data
        worker = data.metadata.get("Celery worker") if data and data.metadata else None
        if worker is not None:
            found.append((entry.step_key, worker.value, entry.timestamp))
    return found


def _step_windows(instance: dg.DagsterInstance, run_ids: list[str],
                  steps: set[str]) -> list[tuple[float, float, str]]:
    """(start, end, run:step) of the successful `steps` of the runs."""
    windows = []
    for run_id in run_ids:
        starts: dict[str, float] = {}
        for entry in instance.all_logs(run_id):
            event = entry.dagster_event
            if event is None or entry.step_key not in steps:
                continue
            if event.event_type == dg.DagsterEventType.STEP_START:
                starts[entry.step_key] = entry.timestamp
            elif event.event_type == dg.DagsterEventType.STEP_SUCCESS:
                windows.append((starts[entry.step_key], entry.timestamp,
                                f"{run_id[:8]}:{entry.step_key}"))
    return sorted(windows)


def _assert_no_overlap(windows: list[tuple], what: str) -> None:
    for (_, end, first), (start, _, second) in zip(windows, windows[1:], strict=False):
        assert start >= end, f"{what}: {second} began before {first} ended"


def _steps_up_for_retry(instance: dg.DagsterInstance, name: str) -> list[str]:
    """Steps of the run launched as `name` that failed and were put up for retry."""
    runs = instance.get_runs(filters=dg.RunsFilter(tags={LAUNCH_TAG: name}))
    return [e.step_key for e in instance.all_logs(runs[0].run_id)
            if e.dagster_event is not None
            and e.dagster_event.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY] \
        if runs else []


def _lake_leftovers(lake: Path) -> list[str]:
    """Temporary files a writer left (atomic writes go through *.tmp names)."""
    return [str(p.relative_to(lake)) for p in lake.rglob("*")
            if ".tmp" in p.name or p.name.endswith(".partial")]


TOKENIZERS = ("byte", "spm", "gpt2")


def _tokenizer_config() -> dict:
    training = {"max_steps": 10, "eval_every": 10, "eval_batches": 1, "batch_size": 4}
    return {"ops": {"checkpoint_tiny": {"config": training},
                    "samples_tiny": {"config": {"samples_per_opener": 1, "max_openers": 4}}}}


def test_language_then_three_tokenizer_runs_spread_over_both_workers(
    cluster: Cluster, instance: dg.DagsterInstance,
) -> None:
    started = time.monotonic()
    # Another process holds the warehouse as the run starts: the first step that writes to it
    # gives up after 1 s, and the deployed retry policy runs it again once the file is free.
    blocker = duckdb.connect(str(cluster.lake / "warehouse.duckdb"))
    try:
        language = cluster.launch(LANGUAGE_JOB, "marathi", {
            "ops": {"prompts": {"config": {"count": 60}}},
            "resources": {"warehouse": {"config": {"lock_wait_s": 1}}}}, "language-marathi")
        _wait_for(lambda: _steps_up_for_retry(instance, "language-marathi"),
                  "a step up for retry", language, cluster, "language-marathi")
    finally:
        blocker.close()
    _wait({"language-marathi": language}, cluster)
    language_s = time.monotonic() - started
    assert language.returncode == 0, cluster.output("language-marathi")[-3000:]

    started = time.monotonic()
    launches = {f"bins-{t}": cluster.launch(LANGUAGE_TOKENIZER_JOB,
                                             language_tokenizer_key("marathi", t),
                                             _tokenizer_config(), f"bins-{t}")
                for t in TOKENIZERS}
    _wait(launches, cluster)
    tokenizer_s = time.monotonic() - started
    for name, proc in launches.items():
        assert proc.returncode == 0, cluster.output(name)[-3000:]

    runs = [cluster.run(instance, name) for name in ("language-marathi", *launches)]
    assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
    retried = _steps_up_for_retry(instance, "language-marathi")
    began = [step for step, _, _ in _worker_of_steps(instance, runs[0].run_id)]
    assert len(retried) == 1 and began.count(retried[0]) == 2, (retried, began)
    placements = [p for r in runs for p in _worker_of_steps(instance, r.run_id)]
    workers = {worker for _, worker, _ in placements}
    assert workers == {w.hostname for w in cluster.workers}, placements
    tokenizer_runs = [r.run_id for r in runs[1:]]
    # The pools held: one DuckDB-pool step and one training-pool step at a time, across runs.
    _assert_no_overlap(_step_windows(instance, tokenizer_runs, {"tokenizer_stats"}), "duckdb")
    _assert_no_overlap(_step_windows(instance, tokenizer_runs,
                                     {"checkpoint_tiny", "samples_tiny"}), "training")

    with duckdb.connect(str(cluster.lake / "warehouse.duckdb"), read_only=True) as con:
        stats = con.execute("SELECT tokenizer, split, count(*) FROM tokenizer_stats "
                        "GROUP BY ALL").fetchall()
        trained = con.execute("SELECT tokenizer, count(*) FROM training_runs "
                              "GROUP BY ALL").fetchall()
        judged = con.execute("SELECT count(*), count(DISTINCT (tokenizer, judge, metric, "
                             "prompt_id, sample_index)) FROM judge_scores").fetchone()
        writes = con.execute("SELECT began_at, finished_at, table_name, partition_key "
                         "FROM warehouse_writes ORDER BY began_at").fetchall()
    assert sorted({t for t, _, _ in stats}) == sorted(TOKENIZERS)
    assert all(count == 1 for _, _, count in stats), stats
    assert sorted(trained) == sorted((t, 1) for t in TOKENIZERS)
    # 3 tokenizers x 4 openers x 1 sample, 8 automatic metrics each, every row once.
    assert judged == (96, 96)
    _assert_no_overlap([(b.timestamp(), f.timestamp(), f"{t} {p}") for b, f, t, p in writes],
                       "warehouse writes")
    assert _lake_leftovers(cluster.lake) == []
    print(f"\n[celery] language_job {language_s:.1f}s ({retried[0]} retried); "
          f"3 tokenizer runs at once "
          f"{tokenizer_s:.1f}s; steps per worker: "
          f"{ {w: sum(1 for _, x, _ in placements if x == w) for w in sorted(workers)} }")


def _wait_for(condition, what: str, proc: subprocess.Popen, cluster: Cluster, name: str,
              timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"{name} ended before {what}: {cluster.output(name)[-3000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {timeout_s}s")
        time.sleep(0.2)


def _launch_hindi_stories(cluster: Cluster, server, count: int, name: str,
                          wait_for_requests: int) -> subprocess.Popen:
    """`language_job` for Hindi with `count` prompts answered by `server` (2 at once);
    returns once the server has seen `wait_for_requests` story requests."""
    config = {"ops": {"prompts": {"config": {"count": count}}},
              "resources": {"llm": {"config": {"source": "openai", "concurrency": 2,
                                               "base_url": server.base_url}}}}
    proc = cluster.launch(LANGUAGE_JOB, "hindi", config, name)
    _wait_for(lambda: sum(server.calls.values()) >= wait_for_requests,
              f"{wait_for_requests} story requests", proc, cluster, name)
    return proc


def test_a_worker_killed_mid_stories_step_hands_the_step_to_the_other(
    cluster: Cluster, instance: dg.DagsterInstance,
) -> None:
    count, name = 40, "kill-hindi"
    with running_chat_server(lambda p, c: Reply(good_story(p), delay_s=0.5)) as server:
        proc = _launch_hindi_stories(cluster, server, count, name, wait_for_requests=10)
        run_id = cluster.run(instance, name).run_id
        holder = next(w for step, w, _ in _worker_of_steps(instance, run_id)
                      if step == "stories")
        victim = next(w for w in cluster.workers if w.hostname == holder)
        calls_before = sum(server.calls.values())
        killed_at = time.time()
        victim.kill()
        try:
            _wait({name: proc}, cluster)
        finally:
            victim.start()  # the next test gets two workers again
        calls_total = sum(server.calls.values())
    assert proc.returncode == 0, cluster.output(name)[-3000:]
    run = cluster.run(instance, name)
    assert run.status == dg.DagsterRunStatus.SUCCESS
    stories_on = [(w, t) for step, w, t in _worker_of_steps(instance, run_id)
                  if step == "stories"]
    survivor = next(w.hostname for w in cluster.workers if w is not victim)
    assert [w for w, _ in stories_on] == [holder, survivor], stories_on
    handed_over_s = stories_on[1][1] - killed_at
    assert handed_over_s < 3 * LEASE_S
    table = read_table(cluster.lake / "stories" / "hindi")
    assert table.height == count and table["prompt_id"].n_unique() == count
    journaled_before = table.filter(
        pl.col("created_at") < pl.lit(killed_at * 1e6).cast(pl.Datetime("us", "UTC"))).height
    print(f"\n[celery] killed {holder} after {calls_before} requests ({journaled_before} "
          f"stories stored); stories resumed on {survivor} {handed_over_s:.1f}s later (lease "
          f"{LEASE_S}s); {calls_total} requests for {count} stories")
    # Stories stored before the kill were not asked for again.
    assert calls_total <= count + (calls_before - journaled_before)


def test_a_broker_outage_shorter_than_the_retry_window_is_ridden_out(
    cluster: Cluster, instance: dg.DagsterInstance,
) -> None:
    # 80 Hindi prompts: whatever the previous test stored stays, the rest is asked for now.
    name, count = "outage-hindi", 80
    # Slow answers: the stories step outlasts a lease (about 40 stories x 0.8 s / 2 at once).
    with running_chat_server(lambda p, c: Reply(good_story(p), delay_s=0.8)) as server:
        proc = _launch_hindi_stories(cluster, server, count, name, wait_for_requests=4)
        down_at = time.time()
        cluster.redis.stop()
        time.sleep(OUTAGE_S)
        cluster.redis.start()
        up_at = time.time()
        _wait({name: proc}, cluster)
    run = cluster.run(instance, name)
    stats = instance.get_run_stats(run.run_id)
    assert stats.start_time < down_at and stats.end_time > up_at  # the run spanned the outage
    for worker in cluster.workers:
        assert "Connection to broker lost" in worker.log.read_text(errors="replace")
    assert _lake_leftovers(cluster.lake) == []
    stories_s = [end - start for start, end, _ in
                 _step_windows(instance, [run.run_id], {"stories"})]
    print(f"\n[celery] Redis down {OUTAGE_S}s during stories: run {run.status.value} "
          f"{stats.end_time - stats.start_time:.1f}s, stories step "
          f"{', '.join(f'{x:.1f}' for x in stories_s)}s")
    # Longer than a lease, yet started once: its worker kept renewing the lease.
    assert stories_s and stories_s[0] > LEASE_S
    assert [step for step, _, _ in _worker_of_steps(instance, run.run_id)
            if step == "stories"] == ["stories"]
    # docs/scale_out.md: an outage shorter than TSR_CELERY_OUTAGE_S is waited out and the run
    # succeeds, every prompt's story stored once.
    assert run.status == dg.DagsterRunStatus.SUCCESS, cluster.output(name)[-3000:]
    assert proc.returncode == 0
    table = read_table(cluster.lake / "stories" / "hindi")
    assert table.height == count and table["prompt_id"].n_unique() == count
