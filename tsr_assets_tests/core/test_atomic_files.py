"""Atomic writes' temporary files: named by their writer's pid, removed once no writer owns
them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tsr_assets.core.atomic_files import remove_stale_temp_files, temp_path_for, writer_pid


def test_only_files_no_live_writer_owns_are_removed_without_the_lock(tmp_path: Path) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_pid = int(gone.stdout)
    nested = tmp_path / "shards"
    nested.mkdir()
    dead = nested / f".part-0.parquet.tmp-{dead_pid}-0123abcd"
    mine = temp_path_for(tmp_path / "val.bin")
    live = tmp_path / f".meta.json.tmp-{os.getppid()}-89abcdef"
    other = tmp_path / ".notes.txt"
    for path in (dead, mine, live, other):
        path.write_bytes(b"x")
    assert writer_pid(dead) == dead_pid and writer_pid(mine) == os.getpid()
    assert writer_pid(other) is None

    assert remove_stale_temp_files(tmp_path, lock_held=False) == [dead]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [mine.name, live.name, other.name, "shards"])
    # Holding the partition's lock, every other writer's file is stale; this process's stays.
    assert remove_stale_temp_files(tmp_path) == [live]
    assert mine.exists() and other.exists()
    assert remove_stale_temp_files(tmp_path / "missing") == []
