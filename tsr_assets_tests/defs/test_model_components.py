"""The defs folder as a `dg` project: `dg check defs` and `dg list defs` from the repository
root, model sizes and imported models as component instances (one YAML file each), and every
automated asset carrying its own condition."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from tsr_assets.core.lake import PRESET_STAGES
from tsr_assets.definitions import build_definitions
from tsr_assets.defs.automation import NOT_AUTOMATED
from tsr_assets.defs.jobs import LANGUAGE_JOB, LANGUAGE_TOKENIZER_JOB
from tsr_assets.defs.partitions import language_tokenizer_key
from tsr_assets_tests.defs.test_publishing import SAMPLES, _nanogpt_checkpoint

REPO = Path(__file__).resolve().parents[2]
DEFS = REPO / "tsr_assets" / "defs"
DG = Path(sys.executable).with_name("dg")


def _dg(*args: str, cwd: Path = REPO, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "VIRTUAL_ENV": str(Path(sys.executable).parents[1]),
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "DAGSTER_HOME": str(home)}
    env.pop("TSR_PRESETS", None)
    env.pop("TSR_IMPORTED_MODELS", None)
    return subprocess.run([str(DG), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture
def defs_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A `dg` project in a temporary folder whose defs folder is a copy of the platform's
    (its modules under a package name of their own), for adding instances to."""
    for name in ("TSR_PRESETS", "TSR_IMPORTED_MODELS"):
        monkeypatch.delenv(name, raising=False)
    package = f"tsr_defs_copy_{uuid.uuid4().hex[:8]}"
    project = tmp_path / "project"
    shutil.copytree(DEFS, project / package / "defs",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (project / package / "__init__.py").write_text("")
    (project / "pyproject.toml").write_text(
        f'[tool.dg]\ndirectory_type = "project"\n\n[tool.dg.project]\n'
        f'root_module = "{package}"\ndefs_module = "{package}.defs"\n'
        'registry_modules = ["tsr_assets.defs.model_components"]\n')
    monkeypatch.syspath_prepend(str(project))
    yield project
    for module in [m for m in sys.modules if m.startswith(package)]:
        del sys.modules[module]


def _add_instance(project: Path, folder: str, text: str) -> None:
    defs_folder = next(project.glob("tsr_defs_copy_*/defs"))
    (defs_folder / "models" / folder).mkdir(parents=True)
    (defs_folder / "models" / folder / "defs.yaml").write_text(text)


def test_dg_checks_and_lists_every_asset(tmp_path: Path) -> None:
    checked = _dg("check", "defs", home=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "All definitions loaded successfully" in checked.stdout + checked.stderr
    listed = _dg("list", "defs", "--json", home=tmp_path)
    assert listed.returncode == 0, listed.stderr
    shown = {a["asset_key"]: a for a in json.loads(listed.stdout)["assets"]}
    loaded = {k.to_user_string() for k in build_definitions().resolve_all_asset_keys()}
    assert set(shown) == loaded
    # The shipped sizes come from their YAML files, the stages from their modules.
    assert shown["checkpoint_tiny"]["source"].startswith("tsr_assets/defs/models/tiny/defs.yaml")
    assert {f"{stage}_{m}" for stage in PRESET_STAGES for m in ("tiny", "e512_l6")} <= set(shown)


def test_a_copied_preset_instance_is_a_model_of_its_own(defs_copy: Path) -> None:
    _add_instance(defs_copy, "e64_l3", "type: tsr_assets.defs.model_components.ModelPreset\n"
                  "attributes:\n  name: e64_l3\n  n_layer: 3\n  n_embd: 64\n  n_head: 4\n"
                  "  block_size: 128\n  learning_rate: 0.002\n  batch_size: 8\n")
    defs = build_definitions(project=defs_copy)
    keys = {k.to_user_string() for k in defs.resolve_all_asset_keys()}
    assert {f"{stage}_e64_l3" for stage in PRESET_STAGES} <= keys
    assert "checkpoint_tiny" in keys and "checkpoint_e512_l6" in keys
    checkpoint = defs.resolve_assets_def("checkpoint_e64_l3")
    assert "3 layers, 64 wide, 4 heads, context 128" in checkpoint.descriptions_by_key[
        dg.AssetKey("checkpoint_e64_l3")]
    assert checkpoint.automation_conditions_by_key[dg.AssetKey("checkpoint_e64_l3")] is not None
    # The reports and the rating tasks compare it with the others.
    reports = defs.resolve_assets_def("reports")
    assert dg.AssetKey("judge_scores_e64_l3") in reports.asset_deps[dg.AssetKey("reports")]
    # The platform's own folder is untouched.
    assert "checkpoint_e64_l3" not in {
        k.to_user_string() for k in build_definitions().resolve_all_asset_keys()}


def test_dg_scaffold_writes_a_size_as_one_yaml_file(defs_copy: Path) -> None:
    home = defs_copy / "home"
    home.mkdir()
    component = "tsr_assets.defs.model_components.ModelPreset"
    seed = _dg("scaffold", "defs", component, "models/e64_l6", cwd=defs_copy, home=home)
    assert seed.returncode == 0, seed.stdout + seed.stderr
    shaped = _dg("scaffold", "defs", component, "models/e96_l3", "--json-params",
                 '{"n_layer": 3, "n_embd": 96, "n_head": 4}', cwd=defs_copy, home=home)
    assert shaped.returncode == 0, shaped.stdout + shaped.stderr
    unknown = _dg("scaffold", "defs", component, "models/e9_l9", cwd=defs_copy, home=home)
    assert unknown.returncode != 0
    assert "'e9_l9' is not a seed size" in unknown.stdout + unknown.stderr
    written = next(defs_copy.glob("tsr_defs_copy_*/defs/models/e96_l3/defs.yaml")).read_text()
    assert f"type: {component}" in written and "n_embd: 96" in written

    defs = build_definitions(project=defs_copy)
    descriptions = {name: defs.resolve_assets_def(f"checkpoint_{name}").descriptions_by_key[
        dg.AssetKey(f"checkpoint_{name}")] for name in ("e64_l6", "e96_l3")}
    assert "6 layers, 64 wide, 8 heads, context 1024" in descriptions["e64_l6"]
    assert "3 layers, 96 wide, 4 heads, context 1024" in descriptions["e96_l3"]


def test_a_wrong_instance_names_its_file_and_field(defs_copy: Path) -> None:
    _add_instance(defs_copy, "odd", "type: tsr_assets.defs.model_components.ModelPreset\n"
                  "attributes:\n  name: odd\n  n_layer: 2\n  n_embd: 60\n  n_head: 8\n")
    with pytest.raises(ValueError) as raised:
        build_definitions(project=defs_copy)
    assert str(raised.value).startswith("models/odd/defs.yaml under the defs folder")
    assert "n_embd 60 is not a multiple of n_head 8" in str(raised.value)


def test_an_unknown_preset_says_how_to_declare_it() -> None:
    with pytest.raises(ValueError, match="dg scaffold defs tsr_assets.defs.model_components"
                                         ".ModelPreset models/e9_l9"):
        build_definitions(extra_presets=["e9_l9"])


def test_every_automated_asset_names_its_condition() -> None:
    defs = build_definitions(presets=["tiny"], imports={"outside": "/x.pt"})
    graph = defs.resolve_asset_graph()
    imported = {f"{stage}_outside" for stage in PRESET_STAGES}
    waiting = set(NOT_AUTOMATED) | imported
    missing = [k.to_user_string() for k in graph.get_all_asset_keys()
               if graph.get(k).automation_condition is None
               and k.to_user_string() not in waiting]
    assert not missing, f"assets without an automation condition: {missing}"
    automated = [name for name in waiting
                 if graph.get(dg.AssetKey(name)).automation_condition is not None]
    assert not automated, f"assets that wait for a person but are automated: {automated}"


def test_an_imported_model_instance_imports_and_samples(defs_copy: Path, data_lake: Path,
                                                        instance, tmp_path: Path) -> None:
    published = _nanogpt_checkpoint(tmp_path / "ckpt.pt", vocab=258)
    _add_instance(defs_copy, "outside", "type: tsr_assets.defs.model_components.ImportedModel\n"
                  f"attributes:\n  name: outside\n  source: {published}\n")
    defs = build_definitions(project=defs_copy)
    assert defs.resolve_job_def(LANGUAGE_JOB).execute_in_process(
        instance=instance, partition_key="hindi",
        run_config={"ops": {"prompts": {"config": {"count": 40}}}}).success
    result = defs.resolve_job_def(LANGUAGE_TOKENIZER_JOB).execute_in_process(
        instance=instance, partition_key=language_tokenizer_key("hindi", "byte"),
        asset_selection=[dg.AssetKey(a) for a in ("tokenizer", "token_bins",
                                                  "checkpoint_outside", "samples_outside")],
        run_config={"ops": {"samples_outside": {"config": SAMPLES}}}, raise_on_error=False)
    assert result.success
    with duckdb.connect(str(data_lake / "warehouse.duckdb"), read_only=True) as con:
        runs = con.execute("SELECT preset, stop_reason FROM training_runs").fetchall()
        samples = con.execute("SELECT count(*) FROM samples WHERE preset = 'outside'"
                              ).fetchone()[0]
    assert runs == [("outside", "imported")]
    assert samples == SAMPLES["max_openers"] * SAMPLES["samples_per_opener"]
