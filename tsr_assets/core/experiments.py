"""Experiment files: a study's `tsr run` settings and any extra Dagster run config in one YAML
file (`tsr run -c experiments/hindi_tokenizers.yaml`), so a study is repeatable and reviewable.

Top-level keys are the `tsr run` options (`language`, `tokenizers`, `presets`, `prompts`,
`train_seconds`, ...; dashes or underscores); `run_config` may hold run config merged into
what the command builds for each job: `language_job`, `language_tokenizer_job`, `reports_job`
(`{"ops": {...}, "resources": {...}}`). Flags given on the command line win over the file.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

RUN_CONFIG_KEY = "run_config"
JOBS = ("language_job", "language_tokenizer_job", "reports_job")


class ExperimentFileError(ValueError):
    """An experiment file that cannot be used; the message names the file and the keys."""


def load_experiment(path: str | Path, known: Iterable[str]) -> tuple[dict, dict]:
    """(settings by option name, extra run config by job) from the YAML file at `path`;
    every unknown option or job is named in one error."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ExperimentFileError(f"experiment file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ExperimentFileError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ExperimentFileError(f"{path}: the top level must be a mapping of options")
    extra = data.pop(RUN_CONFIG_KEY, None) or {}
    settings = {str(k).replace("-", "_"): v for k, v in data.items()}
    known = set(known)
    problems = [f"unknown option {k!r}" for k in settings if k not in known]
    if not isinstance(extra, dict):
        problems.append(f"`{RUN_CONFIG_KEY}` must be a mapping of job names")
        extra = {}
    problems += [f"`{RUN_CONFIG_KEY}` names unknown job {j!r}" for j in extra if j not in JOBS]
    if problems:
        raise ExperimentFileError(
            f"{path}: " + "; ".join(problems) + f". Options: {', '.join(sorted(known))}; "
            f"jobs under {RUN_CONFIG_KEY}: {', '.join(JOBS)}")
    return settings, extra


def merge_run_config(base: dict, extra: dict[str, Any] | None) -> dict:
    """`extra` merged into `base`, mappings key by key (extra wins), anything else replaced."""
    merged = dict(base)
    for key, value in (extra or {}).items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_run_config(merged[key], value)
        else:
            merged[key] = value
    return merged
