"""Who answers a batch: an OpenAI-format batch API through the `openai` SDK (files, batches),
or a local command such as vLLM's `run-batch` that answers an input file at once."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from tsr_assets.core.atomic_files import temp_path_for
from tsr_assets.llm.batch_files import CHAT_URL
from tsr_assets.llm.sources import OpenAICompatibleSource


class BatchClient:
    """Files and batches through the `openai` SDK (its own retries handle flaky HTTP)."""

    def __init__(self, source: OpenAICompatibleSource) -> None:
        from openai import OpenAI

        self.client = OpenAI(base_url=source.base_url, api_key=source.api_key or "not-needed",
                             max_retries=5, timeout=600)

    def submit(self, path: Path, window: str) -> tuple[str, str]:
        """Upload one input file and create its batch; (file id, batch id)."""
        with path.open("rb") as handle:
            uploaded = self.client.files.create(file=(path.name, handle), purpose="batch")
        batch = self.client.batches.create(input_file_id=uploaded.id, endpoint=CHAT_URL,
                                           completion_window=window,
                                           metadata={"tsr_file": path.name})
        return uploaded.id, batch.id

    def retrieve(self, batch_id: str) -> Any:
        """The batch's current state."""
        return self.client.batches.retrieve(batch_id)

    def cancel(self, batch_id: str) -> None:
        """Ask the provider to stop the batch."""
        self.client.batches.cancel(batch_id)

    def download(self, file_id: str, path: Path) -> Path:
        """A result file, streamed to disk."""
        tmp = temp_path_for(path)
        with self.client.files.with_streaming_response.content(file_id) as response:
            response.stream_to_file(tmp)
        os.replace(tmp, path)
        return path


class LocalBatchClient:
    """Batches answered by a local command (vLLM's `run-batch`): each input file is run at
    once and its output file is the batch's answer; the ids name the files."""

    def __init__(self, command: str, model: str, folder: Path) -> None:
        self.command, self.model, self.folder = command, model, folder

    def submit(self, path: Path, window: str) -> tuple[str, str]:
        """Run the command on `path`; (input name, output name) stand for the ids."""
        output = path.with_suffix(".answers.jsonl")
        tmp = temp_path_for(output)
        argv = [part.format(input=path, output=tmp, model=self.model)
                for part in shlex.split(self.command)]
        done = subprocess.run(argv, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"batch command {argv[0]} failed on {path.name} (exit "
                               f"{done.returncode}): {done.stderr[-500:]}")
        os.replace(tmp, output)
        return f"local:{path.name}", f"local:{output.name}"

    def retrieve(self, batch_id: str) -> Any:
        """A local batch is complete once submitted."""
        return SimpleNamespace(status="completed", output_file_id=batch_id, error_file_id=None,
                               request_counts=None)

    def cancel(self, batch_id: str) -> None:
        """Nothing runs in the background to cancel."""

    def download(self, file_id: str, path: Path) -> Path:
        """The command's output file is the answer."""
        return self.folder / file_id.removeprefix("local:")
