"""Shared fixtures: a temporary data lake and a real (temporary) Dagster instance."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from tsr_assets.core.lake import REPO_ROOT


@pytest.fixture
def data_lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh data lake folder, set as $TSR_DATA_DIR for the test."""
    lake = tmp_path / "lake"
    lake.mkdir()
    monkeypatch.setenv("TSR_DATA_DIR", str(lake))
    return lake


@pytest.fixture(scope="session")
def dagster_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real DAGSTER_HOME folder holding the repository's dagster.yaml."""
    home = tmp_path_factory.mktemp("dagster_home")
    (home / "dagster.yaml").write_text((REPO_ROOT / "dagster.yaml").read_text())
    return home


@pytest.fixture(scope="session")
def instance(dagster_home: Path) -> Iterator[dg.DagsterInstance]:
    """A persistent sqlite-backed Dagster instance in the temporary home (shared by tests)."""
    with dg.DagsterInstance.from_config(str(dagster_home)) as inst:
        yield inst


@pytest.fixture(scope="session")
def tiny_labse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random sentence-transformers folder in LaBSE's shape (built offline)."""
    from tsr_assets_tests.translation.tiny_metric_models import build_tiny_sentence_transformer

    return build_tiny_sentence_transformer(tmp_path_factory.mktemp("tiny_labse"))


@pytest.fixture(scope="session")
def tiny_comet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random COMET regression checkpoint folder, built by the COMET environment
    (`make comet`) offline."""
    from tsr_assets.translation.semantic_metrics import DEFAULT_COMET_PYTHON
    from tsr_assets_tests.translation.tiny_metric_models import build_tiny_comet

    assert DEFAULT_COMET_PYTHON.exists(), (
        f"{DEFAULT_COMET_PYTHON} is missing: `make comet` builds the COMET environment "
        "(`make test` does)")
    return build_tiny_comet(tmp_path_factory.mktemp("tiny_comet"), DEFAULT_COMET_PYTHON)


@pytest.fixture(scope="session")
def label_studio() -> Iterator:
    """A real Label Studio server on 127.0.0.1 for the session (`.venv-label-studio`)."""
    from tsr_assets_tests.label_studio_server import running_label_studio

    with running_label_studio() as server:
        print(f"[label studio] {server.url} started in {server.start_seconds:.1f}s")
        yield server
