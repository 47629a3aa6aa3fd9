"""The `wandb` resource and dagster-wandb's resources: wired only online, the key from
`$WANDB_API_KEY`, the host configurable, W&B's files under the Dagster home, and an
unreachable host costs seconds. No W&B server runs here: what needs one is not tested."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from tsr_assets.core.lake import Lake
from tsr_assets.definitions import build_definitions
from tsr_assets.defs.jobs import LANGUAGE_TOKENIZER_JOB
from tsr_assets.defs.partitions import language_tokenizer_key
from tsr_assets.defs.resources import WandbResource, wandb_resource_defs
from tsr_assets.tokenizers.byte_tokenizer import ByteTokenizer
from tsr_assets.tokenizers.token_bins import write_token_bins
from tsr_assets_tests.model.test_wandb_tracking import (
    FAKE_KEY,
    _files_holding,
    closed_port_url,
    isolated_homes,
)
from tsr_assets_tests.tokenizers.corpus import stories

DAGSTER_WANDB_KEYS = {"wandb_resource", "wandb_config", "wandb_artifacts_manager"}


@pytest.fixture
def homes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, Path]]:
    yield from isolated_homes(tmp_path, monkeypatch)


def _resolved(definition: dg.ResourceDefinition | dg.IOManagerDefinition) -> dict:
    result = definition.config_schema.resolve_config({})
    assert result.success, result.errors
    return result.value["config"]


def test_dagster_wandb_is_wired_only_online(homes, monkeypatch: pytest.MonkeyPatch) -> None:
    assert wandb_resource_defs(WandbResource(project="p")) == {}
    assert wandb_resource_defs(WandbResource(project="p", mode="offline")) == {}
    monkeypatch.setenv("WANDB_API_KEY", FAKE_KEY)
    assert wandb_resource_defs(WandbResource(project="p", mode="offline")) == {}
    assert set(wandb_resource_defs(WandbResource(project="p"))) == DAGSTER_WANDB_KEYS
    monkeypatch.delenv("WANDB_API_KEY")
    assert set(wandb_resource_defs(WandbResource(mode="online"))) == DAGSTER_WANDB_KEYS


def test_the_loaded_definitions_carry_dagster_wandb_only_with_a_key(
        homes, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    assert not DAGSTER_WANDB_KEYS & set(build_definitions(presets=["tiny"]).resources)
    monkeypatch.setenv("WANDB_API_KEY", FAKE_KEY)
    defs = build_definitions(presets=["tiny"])
    assert DAGSTER_WANDB_KEYS <= set(defs.resources)
    # The key stays an environment reference in the definitions, never the value.
    assert isinstance(defs.resources["wandb"].api_key, dg.EnvVar)
    assert FAKE_KEY not in repr(defs.resources["wandb"])


def test_the_key_comes_from_the_environment_and_the_host_from_the_settings(
        homes, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = WandbResource(project="p", entity="team", mode="online",
                             host="https://wandb.example.org")
    resources = wandb_resource_defs(settings)
    monkeypatch.setenv("WANDB_API_KEY", FAKE_KEY)
    assert _resolved(resources["wandb_resource"]) == {"api_key": FAKE_KEY,
                                                      "host": "https://wandb.example.org"}
    # The key is read from $WANDB_API_KEY when a run starts, not stored in the definitions.
    monkeypatch.delenv("WANDB_API_KEY")
    assert not resources["wandb_resource"].config_schema.resolve_config({}).success
    # No local copy of every model the IO manager uploads.
    assert _resolved(resources["wandb_artifacts_manager"]) == {"cache_duration_in_minutes": 0}
    # Entity and project are configured once, on the `wandb` resource.
    with dg.build_resources({"wandb": settings,
                             "wandb_config": resources["wandb_config"]}) as built:
        assert built.wandb_config == {"entity": "team", "project": "p"}


def test_the_trainer_environment_keeps_w_and_b_files_under_the_dagster_home(
        homes, monkeypatch: pytest.MonkeyPatch) -> None:
    _, dagster_home = homes
    env = WandbResource(project="p", host="https://wandb.example.org").subprocess_env()
    root = dagster_home / "wandb"
    assert env == {"NETRC": str(root / "netrc"), "WANDB_CONFIG_DIR": str(root / "config"),
                   "WANDB_CACHE_DIR": str(root / "cache"), "WANDB_DATA_DIR": str(root / "data"),
                   "WANDB_BASE_URL": "https://wandb.example.org"}
    with_key = WandbResource(project="p", entity="team", api_key=FAKE_KEY).subprocess_env()
    assert with_key["WANDB_API_KEY"] == FAKE_KEY and with_key["WANDB_ENTITY"] == "team"
    # The server: the resource's host, else $WANDB_BASE_URL, else W&B's cloud.
    assert with_key["WANDB_BASE_URL"] == "https://api.wandb.ai"
    monkeypatch.setenv("WANDB_BASE_URL", "https://wandb.internal")
    assert WandbResource().subprocess_env()["WANDB_BASE_URL"] == "https://wandb.internal"
    assert WandbResource(host="https://other").subprocess_env()["WANDB_BASE_URL"] == \
        "https://other"


def test_the_artifacts_io_manager_fails_in_seconds_when_w_and_b_is_unreachable(
        homes, monkeypatch: pytest.MonkeyPatch) -> None:
    home, _ = homes
    monkeypatch.setenv("WANDB_API_KEY", FAKE_KEY)
    host = closed_port_url()
    settings = WandbResource(project="p", host=host)

    @dg.asset(io_manager_key="wandb_artifacts_manager")
    def table() -> list[int]:
        return [1, 2, 3]

    resources = {"wandb": settings, **wandb_resource_defs(settings)}
    dg.Definitions.validate_loadable(dg.Definitions(assets=[table], resources=resources))
    started = time.monotonic()
    result = dg.materialize([table], resources=resources, raise_on_error=False)
    took = time.monotonic() - started
    assert not result.success and took < 10, took
    failure = next(e for e in result.all_events if e.is_failure)
    assert f"W&B unreachable at {host}" in str(failure.event_specific_data.error)
    assert not (home / ".netrc").exists()


def test_an_export_uploads_nothing_offline_and_warns_when_unreachable(
        homes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "hf_model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    log = logging.getLogger("test_export")
    assert WandbResource(project="p").upload_folder(log, folder, "m", "model", "r") == {}
    assert WandbResource().upload_folder(log, folder, "m", "model", "r") == {}
    host = closed_port_url()
    settings = WandbResource(project="p", host=host, api_key=FAKE_KEY)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING):
        meta = settings.upload_folder(log, folder, "m", "model", "r")
    assert time.monotonic() - started < 5
    assert meta["wandb_artifact"].value == "not uploaded: W&B unreachable"
    assert f"W&B unreachable at {host}: m was not uploaded" in caplog.text
    assert FAKE_KEY not in caplog.text


def test_the_checkpoint_asset_trains_on_with_a_key_and_no_w_and_b(
        homes, data_lake: Path, instance: dg.DagsterInstance, dagster_home: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    home, _ = homes
    texts = list(stories("hindi"))
    write_token_bins(ByteTokenizer(), [([f"{i:016x}" for i in range(len(texts))], texts)],
                     Lake(data_lake).bins_dir("hindi", "byte"), val_share=0.1)
    monkeypatch.setenv("WANDB_API_KEY", FAKE_KEY)
    host = closed_port_url()
    job = build_definitions().resolve_job_def(LANGUAGE_TOKENIZER_JOB)
    started = time.monotonic()
    result = job.execute_in_process(
        instance=instance, partition_key=language_tokenizer_key("hindi", "byte"),
        asset_selection=[dg.AssetKey("checkpoint_tiny")], raise_on_error=False,
        run_config={"ops": {"checkpoint_tiny": {"config": {
                        "max_steps": 4, "eval_every": 4, "eval_batches": 2, "batch_size": 4,
                        "block_size": 64}}},
                    "resources": {"wandb": {"config": {"project": "tsr-test", "host": host}}}})
    assert result.success and time.monotonic() - started < 60
    messages = [e.user_message for e in instance.all_logs(result.run_id)]
    assert any(f"W&B unreachable at {host}: logging offline" in m for m in messages)
    out = data_lake / "checkpoint" / "hindi" / "byte" / "tiny"
    assert len(list((out / "wandb").glob("offline-run-*"))) == 1
    # W&B's own files went to the instance's folder, the key to no file at all.
    assert (dagster_home / "wandb" / "cache").is_dir()
    assert not (home / ".netrc").exists()
    assert [p for p in home.rglob("*") if "wandb" in p.name] == []  # (matplotlib's cache is)
    for folder in (data_lake, dagster_home):
        assert _files_holding(FAKE_KEY, folder) == []
