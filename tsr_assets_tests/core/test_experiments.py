"""Experiment files: options and extra run config from YAML, every mistake named at once, the
shipped studies parse, and `tsr run -c` runs what a file says with flags winning."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tsr_assets.cli import build_parser, main
from tsr_assets.core.experiments import ExperimentFileError, load_experiment, merge_run_config
from tsr_assets.core.lake import REPO_ROOT
from tsr_assets.stories.store import read_table
from tsr_assets_tests.test_cli import BIN, _env, _home

KNOWN = {"language", "prompts", "tokenizers", "presets"}


def test_options_and_run_config_come_from_the_file(tmp_path: Path) -> None:
    path = tmp_path / "study.yaml"
    path.write_text("language: [marathi]\nprompts: 50\ntrain-steps: 3\nrun_config:\n"
                    "  language_job: {ops: {prompts: {config: {seed: 7}}}}\n")
    settings, extra = load_experiment(path, KNOWN | {"train_steps"})
    assert settings == {"language": ["marathi"], "prompts": 50, "train_steps": 3}
    assert extra == {"language_job": {"ops": {"prompts": {"config": {"seed": 7}}}}}


def test_every_mistake_is_named_with_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("languages: [hindi]\npresetz: [tiny]\nrun_config: {tokenizer_job: {}}\n")
    with pytest.raises(ExperimentFileError) as error:
        load_experiment(path, KNOWN)
    message = str(error.value)
    assert str(path) in message and "unknown option 'languages'" in message
    assert "unknown option 'presetz'" in message and "unknown job 'tokenizer_job'" in message
    assert "Options: language, presets, prompts, tokenizers" in message
    path.write_text("- just a list\n")
    with pytest.raises(ExperimentFileError, match="top level must be a mapping"):
        load_experiment(path, KNOWN)
    with pytest.raises(ExperimentFileError, match="does not exist"):
        load_experiment(tmp_path / "none.yaml", KNOWN)


def test_run_config_merges_mapping_by_mapping() -> None:
    base = {"ops": {"prompts": {"config": {"count": 10, "seed": 0}}}, "resources": {}}
    extra = {"ops": {"prompts": {"config": {"seed": 7}}, "stories": {"config": {"limit": 5}}}}
    assert merge_run_config(base, extra) == {"ops": {
        "prompts": {"config": {"count": 10, "seed": 7}}, "stories": {"config": {"limit": 5}}},
        "resources": {}}


@pytest.mark.parametrize("study", sorted((REPO_ROOT / "experiments").glob("*.yaml")),
                         ids=lambda p: p.stem)
def test_the_shipped_studies_parse(study: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = {}
    monkeypatch.setattr("tsr_assets.cli.cmd_run", lambda args: seen.update(vars(args)))
    parser = build_parser()
    parser._subparsers._group_actions[0].choices["run"].set_defaults(
        func=lambda args: seen.update(vars(args)))
    monkeypatch.setattr("tsr_assets.cli.build_parser", lambda: parser)
    main(["run", "-c", str(study)])
    data = yaml.safe_load(study.read_text())
    assert seen["language"] == data["language"] and seen["presets"] == data["presets"]
    assert seen["extra_run_config"] == data.get("run_config", {})


def test_tsr_run_with_an_experiment_file_and_a_flag_that_wins(tmp_path: Path) -> None:
    home, lake = _home(tmp_path), tmp_path / "lake"
    study = tmp_path / "study.yaml"
    study.write_text("language: [hindi]\nprompts: 6\ntokenizers: []\n"
                     "run_config:\n  language_job: {ops: {stories: {config: {max_prompts: 4}}}}\n")
    proc = subprocess.run([str(BIN / "tsr"), "run", "-c", str(study), "--prompts", "8"],
                          cwd=tmp_path, env=_env(home, lake), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert read_table(lake / "stories" / "hindi").height == 4  # the file's extra run config
    import polars as pl
    assert pl.read_parquet(lake / "prompts" / "hindi" / "prompts.parquet").height == 8  # flag
    bad = tmp_path / "bad.yaml"
    bad.write_text("tokenizers: [wordpiece]\n")
    proc = subprocess.run([str(BIN / "tsr"), "run", "-c", str(bad)], cwd=tmp_path,
                          env=_env(home, lake), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "invalid choice: 'wordpiece'" in proc.stderr
