"""The scale-out configurations in deploy/ load, and agree: Kubernetes and Celery instances,
their definitions, pools, tags and retry policy."""

from __future__ import annotations

import importlib
import os
import runpy
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._config import process_config
from dagster._core.instance.config import dagster_instance_config

from tsr_assets.core.lake import REPO_ROOT
from tsr_assets.defs.jobs import DEPLOYED_RETRY_POLICY, LANGUAGE_TOKENIZER_JOB, build_jobs
from tsr_assets.defs.pools import POOL_LIMITS

DEPLOY = REPO_ROOT / "deploy"
K8S_ENV = {"DAGSTER_PG_HOST": "postgres", "DAGSTER_PG_USER": "dagster",
           "DAGSTER_PG_PASSWORD": "secret", "TSR_IMAGE": "registry.example/tsr:1"}


def _validate_class_config(section: dict) -> type:
    cls = getattr(importlib.import_module(section["module"]), section["class"])
    result = process_config(cls.config_type(), section.get("config", {}))
    assert result.success, [e.message for e in result.errors]
    return cls


def test_kubernetes_instance_config_loads_and_its_classes_accept_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key, value in K8S_ENV.items():
        monkeypatch.setenv(key, value)
    config, _ = dagster_instance_config(str(DEPLOY / "kubernetes"))
    launcher = _validate_class_config(config["run_launcher"])
    coordinator = _validate_class_config(config["run_coordinator"])
    assert launcher.__name__ == "K8sRunLauncher"
    assert coordinator.__name__ == "QueuedRunCoordinator"
    from dagster_postgres import PostgresRunStorage

    postgres = config["storage"]["postgres"]
    assert process_config(PostgresRunStorage.config_type(), postgres).success
    limits = config["concurrency"]["runs"]["tag_concurrency_limits"]
    assert {"key": "tsr/gpu", "value": "1", "limit": 8} in limits


def test_a_broken_launcher_config_is_caught() -> None:
    section = {"module": "dagster_k8s", "class": "K8sRunLauncher",
               "config": {"job_image": "x", "no_such_setting": 1}}
    with pytest.raises(AssertionError, match="no_such_setting"):
        _validate_class_config(section)


def test_celery_definitions_load_with_the_celery_executor(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TSR_CELERY_BROKER", "redis://127.0.0.1:6379/0")
    defs = runpy.run_path(str(DEPLOY / "celery" / "definitions.py"))["defs"]
    assert isinstance(defs, dg.Definitions)
    job = defs.resolve_job_def(LANGUAGE_TOKENIZER_JOB)
    assert job.executor_def.name == "tsr_celery"
    home = tmp_path / "home"
    home.mkdir()
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "definitions", "validate",
         "-w", str(DEPLOY / "celery" / "workspace.yaml")],
        env={**os.environ, "DAGSTER_HOME": str(home)}, capture_output=True, text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Validation successful" in proc.stdout + proc.stderr


def test_celery_instance_config_loads_against_postgres_storage(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key, value in {**K8S_ENV, "DAGSTER_PG_PORT": "5433"}.items():
        monkeypatch.setenv(key, value)
    config, _ = dagster_instance_config(str(DEPLOY / "celery"))
    from dagster_postgres import PostgresRunStorage

    postgres = config["storage"]["postgres"]
    assert process_config(PostgresRunStorage.config_type(), postgres).success
    assert postgres["postgres_db"]["scheme"] == "postgresql+psycopg2"
    assert _validate_class_config(config["run_coordinator"]).__name__ == "QueuedRunCoordinator"


def test_kubernetes_and_celery_share_pools_tag_limits_and_run_retries() -> None:
    celery, k8s = ({**yaml.safe_load((DEPLOY / d / "dagster.yaml").read_text())}
                   for d in ("celery", "kubernetes"))
    assert celery["concurrency"] == k8s["concurrency"]
    assert celery["run_retries"] == k8s["run_retries"]
    assert celery["storage"]["postgres"]["postgres_db"]["scheme"] == \
        k8s["storage"]["postgres"]["postgres_db"]["scheme"]
    # A fresh deployment's pools get the limits defs/pools.py declares.
    assert set(POOL_LIMITS.values()) == {celery["concurrency"]["pools"]["default_limit"]}


def test_deployed_definitions_retry_every_job_under_one_policy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TSR_CELERY_BROKER", "redis://127.0.0.1:6379/0")
    names = [job.name for job in build_jobs()]
    for deployment in ("celery", "kubernetes"):
        defs = runpy.run_path(str(DEPLOY / deployment / "definitions.py"))["defs"]
        for name in names:
            assert defs.resolve_job_def(name).op_retry_policy == DEPLOYED_RETRY_POLICY, name
    local = importlib.import_module("tsr_assets.definitions").build_definitions()
    assert all(local.resolve_job_def(name).op_retry_policy is None for name in names)
