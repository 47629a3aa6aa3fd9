"""The batch client's pieces against the local stand-in: input files split by count and by
size, interrupting a run cancels its batches, and the request cache's occurrence keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tsr_assets.core.languages import get_language
from tsr_assets.llm.batch_api import run_batches
from tsr_assets.llm.batch_files import BatchState, write_request_files
from tsr_assets.llm.batch_settings import BatchSettings
from tsr_assets.llm.request_cache import RequestCache
from tsr_assets.llm.request_runner import RequestItem, RunnerSettings
from tsr_assets.llm.sources import OpenAICompatibleSource
from tsr_assets.stories.parsing import snippet, validate_story
from tsr_assets_tests.batch_server import running_batch_server
from tsr_assets_tests.chat_server import Reply, good_story

HINDI = get_language("hindi")


def _validate(raw: str, item=None):
    story, reason = validate_story(raw, HINDI)
    return story, reason, snippet(raw)


def _items(n: int) -> list[RequestItem]:
    return [RequestItem(f"id{i}", f'write about the noun "घर{i}"') for i in range(n)]


def test_input_files_split_by_count_and_by_size(tmp_path: Path) -> None:
    pairs = [(item, {"model": "m", "messages": [{"role": "user", "content": item.prompt}]})
             for item in _items(25)]
    state = BatchState(tmp_path / "b")
    files = list(write_request_files(iter(pairs), state, 1,
                                     BatchSettings(max_requests_per_file=10)))
    assert [(p.name, n) for p, n in files] == [("round1-00001.jsonl", 10),
                                               ("round1-00002.jsonl", 10),
                                               ("round1-00003.jsonl", 5)]
    line = json.loads(files[0][0].read_text().splitlines()[0])
    assert line == {"custom_id": "id0", "method": "POST", "url": "/v1/chat/completions",
                    "body": pairs[0][1]}
    size = len(files[0][0].read_text().splitlines()[0].encode()) + 1
    state = BatchState(tmp_path / "c")
    by_size = []
    for path, count in write_request_files(iter(pairs), state, 1,
                                           BatchSettings(max_bytes_per_file=size * 4 + 10)):
        by_size.append(count)
        assert path.stat().st_size <= size * 4 + 10
    assert sum(by_size) == 25 and max(by_size) == 4
    assert not list((tmp_path / "c").glob(".*tmp*"))


def test_interrupting_a_run_cancels_its_batches(tmp_path: Path) -> None:
    def interrupt(batches: list[dict]) -> None:
        raise KeyboardInterrupt

    with running_batch_server(lambda p, c: Reply(good_story(p)), in_progress_s=60) as server:
        source = OpenAICompatibleSource(server.base_url, "m")
        settings = RunnerSettings(batch=BatchSettings(poll_initial_s=0.05))
        with pytest.raises(KeyboardInterrupt):
            run_batches(_items(12), source, _validate, settings, settings.batch, tmp_path,
                        total=12, on_outcome=lambda o: None, log=lambda line: None,
                        on_progress=interrupt)
        assert [b.status for b in server.batches.values()] == ["cancelling"]
    assert BatchState(tmp_path).batches[0]["status"] == "cancelling"


def test_cache_keys_count_occurrences(tmp_path: Path) -> None:
    cache = RequestCache(tmp_path / "cache.sqlite")
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    first, second = cache.next_key(body), cache.next_key(body)
    assert first.endswith(":1") and second.endswith(":2") and first[:-2] == second[:-2]
    assert cache.next_key({**body, "model": "other"}).endswith(":1")
    cache.put(first, "m", '{"choices": []}')
    again = RequestCache(tmp_path / "cache.sqlite")  # a rerun starts counting afresh
    assert again.peek_key(body) == first and again.get(again.next_key(body)) is not None
    assert again.get(again.next_key(body)) is None and len(again) == 1
