"""A local OpenAI-compatible batch API on 127.0.0.1 for tests and benchmarks.

It speaks what the `openai` SDK's files and batches calls send: `POST /v1/files` (multipart,
`purpose: batch`), `GET /v1/files/{id}` and `/content`, `POST /v1/batches`,
`GET /v1/batches/{id}`, `POST /v1/batches/{id}/cancel`, and `POST /v1/chat/completions` for
online resends. A batch's status advances with time: `validating` for `validating_s`, then
`in_progress` (completed count rising) for `in_progress_s`, `finalizing` for `finalizing_s`,
then `completed` with an output file (answers from `policy(prompt, call)`, the chat server's
`Reply`) and an error file (replies with a status other than 200). `expire_share` makes a batch
`expired` with only that share of its lines answered.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from aiohttp import web

from tsr_assets_tests.chat_server import Reply, _answer, always_good, serving


@dataclass
class StoredBatch:
    """One batch's request and timing."""

    id: str
    input_file_id: str
    created: float
    lines: list[dict]
    status: str = "validating"
    output_file_id: str | None = None
    error_file_id: str | None = None
    cancelled_at: float | None = None
    completed: int = 0
    expire: bool = False


@dataclass
class BatchServer:
    """State of the stand-in: files, batches and counters a test can read."""

    policy: Callable[[str, int], Reply] = always_good
    validating_s: float = 0.05
    in_progress_s: float = 0.2
    finalizing_s: float = 0.05
    expire_share: float | None = None
    expire_batches: int = 1
    files: dict[str, bytes] = field(default_factory=dict)
    batches: dict[str, StoredBatch] = field(default_factory=dict)
    calls: Counter = field(default_factory=Counter)
    answered_ids: Counter = field(default_factory=Counter)
    online_requests: int = 0
    port: int = 0
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        """Base URL for clients, ending in /v1."""
        return f"http://127.0.0.1:{self.port}/v1"

    def _file_object(self, file_id: str, purpose: str = "batch") -> dict:
        return {"id": file_id, "object": "file", "bytes": len(self.files[file_id]),
                "created_at": int(time.time()), "filename": f"{file_id}.jsonl",
                "purpose": purpose, "status": "processed"}

    async def upload(self, request: web.Request) -> web.Response:
        reader = await request.multipart()
        purpose, data = "batch", b""
        async for part in reader:
            if part.name == "purpose":
                purpose = (await part.read()).decode()
            elif part.name == "file":
                data = await part.read()
        file_id = f"file-{next(self._ids)}"
        self.files[file_id] = data
        return web.json_response(self._file_object(file_id, purpose))

    async def file_info(self, request: web.Request) -> web.Response:
        return web.json_response(self._file_object(request.match_info["id"]))

    async def file_content(self, request: web.Request) -> web.Response:
        return web.Response(body=self.files[request.match_info["id"]],
                            content_type="application/octet-stream")

    async def create_batch(self, request: web.Request) -> web.Response:
        body = await request.json()
        lines = [json.loads(line) for line in
                 self.files[body["input_file_id"]].decode("utf-8").splitlines() if line]
        batch_id = f"batch-{next(self._ids)}"
        expire = self.expire_share is not None and self.expire_batches > 0
        if expire:
            self.expire_batches -= 1
        self.batches[batch_id] = StoredBatch(batch_id, body["input_file_id"], time.monotonic(),
                                             lines, expire=expire)
        return web.json_response(self._batch_object(self.batches[batch_id]))

    def _advance(self, batch: StoredBatch) -> None:
        if batch.status in ("completed", "expired", "cancelled"):
            return
        now = time.monotonic()
        if batch.cancelled_at is not None:
            batch.status = "cancelled" if now - batch.cancelled_at > 0.05 else "cancelling"
            return
        age = now - batch.created
        work = self.validating_s + self.in_progress_s
        if age < self.validating_s:
            batch.status = "validating"
        elif age < work:
            batch.status = "in_progress"
            batch.completed = int(len(batch.lines) * (age - self.validating_s)
                                  / self.in_progress_s)
        elif age < work + self.finalizing_s:
            batch.status, batch.completed = "finalizing", len(batch.lines)
        else:
            self._finish(batch)

    def _finish(self, batch: StoredBatch) -> None:
        lines = batch.lines
        if batch.expire:
            lines = lines[: int(len(lines) * (self.expire_share or 0))]
        outputs, errors = [], []
        for line in lines:
            prompt = line["body"]["messages"][-1]["content"]
            with self._lock:
                self.calls[prompt] += 1
                self.answered_ids[line["custom_id"]] += 1
                call = self.calls[prompt]
            reply = self.policy(prompt, call)
            if reply.status != 200:
                errors.append({"id": f"req-{next(self._ids)}", "custom_id": line["custom_id"],
                               "response": {"status_code": reply.status, "body": {
                                   "error": {"message": "scripted error"}}}, "error": None})
                continue
            content, finish = _answer(reply, line["body"].get("max_tokens"))
            prompt_tokens = sum(len(m["content"].split()) for m in line["body"]["messages"])
            outputs.append({"id": f"req-{next(self._ids)}", "custom_id": line["custom_id"],
                            "response": {"status_code": 200, "body": {
                                "id": "chatcmpl-batch", "object": "chat.completion",
                                "model": line["body"]["model"],
                                "choices": [{"index": 0, "finish_reason": finish, "message": {
                                    "role": "assistant", "content": content}}],
                                "usage": {"prompt_tokens": prompt_tokens,
                                          "completion_tokens": len(content.split()),
                                          "total_tokens": prompt_tokens
                                          + len(content.split())}}},
                            "error": None})
        for rows, attr in ((outputs, "output_file_id"), (errors, "error_file_id")):
            if rows:
                file_id = f"file-{next(self._ids)}"
                self.files[file_id] = "".join(json.dumps(r) + "\n" for r in rows).encode()
                setattr(batch, attr, file_id)
        batch.completed = len(outputs) + len(errors)
        batch.status = "expired" if batch.expire else "completed"

    def _batch_object(self, batch: StoredBatch) -> dict:
        return {"id": batch.id, "object": "batch", "endpoint": "/v1/chat/completions",
                "input_file_id": batch.input_file_id, "completion_window": "24h",
                "status": batch.status, "created_at": int(time.time()),
                "output_file_id": batch.output_file_id, "error_file_id": batch.error_file_id,
                "request_counts": {"total": len(batch.lines), "completed": batch.completed,
                                   "failed": 0}}

    async def get_batch(self, request: web.Request) -> web.Response:
        batch = self.batches[request.match_info["id"]]
        self._advance(batch)
        return web.json_response(self._batch_object(batch))

    async def cancel_batch(self, request: web.Request) -> web.Response:
        batch = self.batches[request.match_info["id"]]
        if batch.status not in ("completed", "expired", "cancelled"):
            batch.cancelled_at = time.monotonic()
            batch.status = "cancelling"
        return web.json_response(self._batch_object(batch))

    async def stats(self, request: web.Request) -> web.Response:
        """What was asked of the stand-in (for benchmarks in another process)."""
        return web.json_response({
            "batches": len(self.batches), "lines": sum(len(b.lines) for b in
                                                       self.batches.values()),
            "answered_ids": len(self.answered_ids),
            "answered_twice": sum(1 for n in self.answered_ids.values() if n > 1),
            "online_requests": self.online_requests})

    async def chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        prompt = body["messages"][-1]["content"]
        with self._lock:
            self.online_requests += 1
            self.calls[prompt] += 1
            call = self.calls[prompt]
        reply = self.policy(prompt, call)
        content, finish = _answer(reply, body.get("max_tokens"))
        return web.json_response({"id": "chatcmpl-online", "object": "chat.completion",
                                  "choices": [{"index": 0, "finish_reason": finish, "message": {
                                      "role": "assistant", "content": content}}],
                                  "usage": {"prompt_tokens": 10,
                                            "completion_tokens": len(content.split())}})


@contextmanager
def running_batch_server(policy: Callable[[str, int], Reply] = always_good,
                         **timing) -> Iterator[BatchServer]:
    """Start a `BatchServer` on 127.0.0.1 (free port) in a background thread."""
    server = BatchServer(policy, **timing)
    app = web.Application(client_max_size=1024**3)
    app.router.add_post("/v1/files", server.upload)
    app.router.add_get("/v1/files/{id}", server.file_info)
    app.router.add_get("/v1/files/{id}/content", server.file_content)
    app.router.add_post("/v1/batches", server.create_batch)
    app.router.add_get("/v1/batches/{id}", server.get_batch)
    app.router.add_post("/v1/batches/{id}/cancel", server.cancel_batch)
    app.router.add_post("/v1/chat/completions", server.chat)
    app.router.add_get("/stats", server.stats)
    with serving(app) as port:
        server.port = port
        yield server


if __name__ == "__main__":  # serve until killed, printing the port (for benchmarks)
    import sys

    from tsr_assets_tests.chat_server import good_story

    with running_batch_server(lambda p, c: Reply(good_story(p)),
                              in_progress_s=float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
                              ) as running:
        print(running.port, flush=True)
        threading.Event().wait()
