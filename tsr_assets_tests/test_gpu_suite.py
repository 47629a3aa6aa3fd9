"""`benchmarks/gpu_suite.sh` works: its CPU dry run trains both recipes, samples at batch 1 and
64, runs DDP and prints one JSON line (the GPU figures need a lent GPU; see the README)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tsr_assets.core.lake import REPO_ROOT


def test_gpu_suite_dry_run_reports_every_stage() -> None:
    env = {**os.environ, "PYTHON": sys.executable}
    proc = subprocess.run([str(REPO_ROOT / "benchmarks" / "gpu_suite.sh"), "--dry-run"],
                          capture_output=True, text=True, timeout=240, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["dry_run"] and result["errors"] == [] and result["meets_bar"]
    assert set(result["trainer"]) == set(result["sampler"]) == {"nanogpt", "modern"}
    for recipe in ("nanogpt", "modern"):
        assert result["trainer"][recipe]["tokens_per_s"] > 0
        assert set(result["sampler"][recipe]) == {"batch_1", "batch_64"}
        assert result["sampler"][recipe]["batch_64"]["tokens"] == 64 * 16
    assert result["ddp"]["world_size"] == 2 and result["ddp"]["tokens_per_s"] > 0
