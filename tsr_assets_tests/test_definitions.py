"""A snapshot of the graph's shape: assets, partitions, deps, groups, checks, jobs, schedules and
sensors. A change to the shape shows up as a diff of `definitions_snapshot.json`; after an
intended change, rewrite it with `TSR_UPDATE_SNAPSHOT=1 .venv/bin/python -m pytest
tsr_assets_tests/test_definitions.py` and commit the diff."""

from __future__ import annotations

import json
import os
from pathlib import Path

import dagster as dg
import pytest

from tsr_assets.core.lake import PRESET_STAGES
from tsr_assets.definitions import build_definitions

SNAPSHOT = Path(__file__).with_name("definitions_snapshot.json")


def _partitions(definition: dg.PartitionsDefinition | None) -> object:
    if definition is None:
        return None
    if isinstance(definition, dg.MultiPartitionsDefinition):
        return {d.name: d.partitions_def.get_partition_keys()
                for d in definition.partitions_defs}
    return definition.get_partition_keys()


def graph_shape(defs: dg.Definitions) -> dict:
    """Everything about the graph a user or a job depends on, as plain JSON."""
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "partitions": _partitions(node.partitions_def),
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
            "kinds": sorted(node.kinds),
            "pools": sorted(node.pools or []),
            "checks": {c.name: {"blocking": graph.get_check_spec(c).blocking}
                       for c in sorted(node.check_keys, key=lambda c: c.name)},
            "has_description": bool(node.description),
            "code_version": node.code_version,
            "automation": (node.automation_condition.get_label()
                           if node.automation_condition else None),
        }
    jobs = {job.name: sorted(k.to_user_string() for k in
                             job.asset_layer.selected_asset_keys)
            for job in defs.resolve_all_job_defs() if not job.name.startswith("__")}
    schedules = {s.name: {"cron": s.cron_schedule, "job": s.job_name}
                 for s in defs.get_repository_def().schedule_defs}
    sensors = {s.name: {"type": type(s).__name__, "jobs": sorted(
        t.job_name for t in s.targets)} for s in defs.get_repository_def().sensor_defs}
    return {"assets": assets, "jobs": jobs, "schedules": schedules, "sensors": sensors,
            "resources": sorted(defs.resources)}


def test_the_graph_matches_its_snapshot(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith(("TSR_CRON", "TSR_PRESETS"))]:
        monkeypatch.delenv(name)
    shape = graph_shape(build_definitions(presets=["tiny", "e512_l6"]))
    text = json.dumps(shape, indent=1, ensure_ascii=False, sort_keys=True) + "\n"
    if os.environ.get("TSR_UPDATE_SNAPSHOT"):
        SNAPSHOT.write_text(text, encoding="utf-8")
    assert SNAPSHOT.is_file(), f"{SNAPSHOT} is missing: run with TSR_UPDATE_SNAPSHOT=1"
    assert json.loads(SNAPSHOT.read_text(encoding="utf-8")) == shape, (
        "the graph's shape changed; if intended, rewrite the snapshot (see the module docstring)")


def test_every_asset_has_a_code_version_the_ui_compares() -> None:
    shape = graph_shape(build_definitions(presets=["tiny", "e512_l6"],
                                          imports={"outside": "/x.pt"}))
    missing = [name for name, asset in shape["assets"].items() if not asset["code_version"]]
    assert not missing, f"assets without a code_version: {missing}"
    # Each model's assets come from its stage's factory, so they share the stage's version.
    for stage in PRESET_STAGES:
        versions = {shape["assets"][f"{stage}_{m}"]["code_version"]
                    for m in ("tiny", "e512_l6", "outside")}
        assert len(versions) == 1, (stage, versions)
    assert shape["assets"]["stories"]["code_version"] == "2"
