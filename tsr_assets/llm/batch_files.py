"""The files of a partition's batches: `batches/state.json` (every batch created, with its file
and status, written before polling so a rerun resumes them) and the JSONL input files, split by
count and size and written to a temporary name first."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from tsr_assets.core.atomic_files import temp_path_for, write_json_atomic
from tsr_assets.llm.batch_settings import BatchSettings
from tsr_assets.llm.request_runner import RequestItem

CHAT_URL = "/v1/chat/completions"
STATE_FILE = "state.json"


class BatchState:
    """`batches/state.json`: every batch this partition created, with its file and status."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / STATE_FILE
        data = json.loads(self.path.read_text(encoding="utf-8")) if self.path.is_file() else {}
        self.batches: list[dict] = data.get("batches", [])

    def save(self) -> None:
        """Write the state atomically (a kill leaves the old or the new one)."""
        write_json_atomic(self.path, {"batches": self.batches})

    def unfinished(self) -> list[dict]:
        """Recorded batches whose answers were not processed yet."""
        return [b for b in self.batches if not b.get("processed")]

    def next_file(self, round_no: int) -> Path:
        """A new input file name for `round_no`, numbered after every input file there."""
        numbers = [int(p.stem.split("-")[1]) for p in self.folder.glob("round*-*.jsonl")
                   if p.stem.count("-") == 1 and p.stem.split("-")[1].isdigit()]
        return self.folder / f"round{round_no}-{max(numbers, default=0) + 1:05d}.jsonl"


def write_request_files(items: Iterable[tuple[RequestItem, dict]], state: BatchState,
                        round_no: int, settings: BatchSettings) -> Iterator[tuple[Path, int]]:
    """JSONL input files of (item, body) pairs, split by count and size; yields each finished
    file and its request count (written to a temporary name, then renamed)."""
    state.folder.mkdir(parents=True, exist_ok=True)
    handle, tmp, path, count, size = None, None, None, 0, 0
    for item, body in items:
        line = (json.dumps({"custom_id": item.prompt_id, "method": "POST", "url": CHAT_URL,
                            "body": body}, ensure_ascii=False) + "\n").encode("utf-8")
        if handle is not None and (count >= settings.max_requests_per_file
                                   or size + len(line) > settings.max_bytes_per_file):
            handle.close()
            os.replace(tmp, path)
            yield path, count
            handle = None
        if handle is None:
            path = state.next_file(round_no)
            tmp = temp_path_for(path)
            handle, count, size = tmp.open("wb"), 0, 0
        handle.write(line)
        count, size = count + 1, size + len(line)
    if handle is not None:
        handle.close()
        os.replace(tmp, path)
        yield path, count


def read_items(path: Path) -> dict[str, RequestItem]:
    """The requests of one input file, by custom_id (the prompt is the last user message)."""
    items = {}
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            request = json.loads(line)
            items[request["custom_id"]] = RequestItem(
                request["custom_id"], request["body"]["messages"][-1]["content"])
    return items
