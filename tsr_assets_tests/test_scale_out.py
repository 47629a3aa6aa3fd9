"""The scale-out configurations in deploy/ load: Kubernetes instance, Celery definitions."""

from __future__ import annotations

import importlib
import os
import runpy
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from dagster._config import process_config
from dagster._core.instance.config import dagster_instance_config

from tsr_assets.core.lake import REPO_ROOT
from tsr_assets.defs.jobs import LANGUAGE_TOKENIZER_JOB

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
