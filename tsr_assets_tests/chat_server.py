"""A real OpenAI-compatible HTTP server on 127.0.0.1 for tests and benchmarks.

It speaks `POST /v1/chat/completions` and `GET /v1/models`. What it answers is decided by a
`policy(prompt, call_number)` function returning a `Reply`, so a test can script good stories,
non-JSON, wrong script, empty answers, 429 with Retry-After, 500s and slow answers per prompt.
Like a real server it honours `max_tokens` (a token is a whitespace-separated word here): a
longer answer is cut and ends with `finish_reason: length`; a `runaway` reply never stops on
its own. It reports `usage` (words of the messages and of the answer) unless told not to.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from aiohttp import web

HINDI_BODY = (
    "एक छोटे से गाँव में मीरा नाम की एक लड़की रहती थी। उसे सुबह-सुबह बगीचे में घूमना बहुत "
    "अच्छा लगता था। एक दिन उसे पेड़ के नीचे कुछ चमकता हुआ दिखाई दिया।\n\n"
    "मीरा ने पास जाकर देखा और मुस्कुरा दी। उसने अपने दोस्त को बुलाया और दोनों ने मिलकर "
    "उस चीज़ को ध्यान से उठाया।\n\n"
    "शाम को दोनों घर लौटे और माँ को सारी बात बताई। माँ ने दोनों को प्यार से गले लगा लिया।"
)
ENGLISH_BODY = (
    "Once upon a time a little girl named Meera lived in a small village. She loved walking "
    "in the garden every morning, and one day she found something shiny under a tree. " * 2
)


@dataclass
class Reply:
    """One scripted answer: HTTP status, chat content (or raw body), headers, delay."""

    content: str | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    raw_body: str | None = None
    usage: bool = True
    runaway: bool = False


#: What a model that never stops writes, until `max_tokens` (or this many words) ends it.
RUNAWAY_WORDS = 20_000


def prompt_noun(prompt: str) -> str:
    """The noun a prompt asks for (templates say: the noun "X")."""
    match = re.search(r'noun "([^"]+)"', prompt)
    return match.group(1) if match else "कहानी"


def good_story(prompt: str, index: int = 0) -> str:
    """A valid Hindi story answer, made unique per prompt (it names every quoted word of the
    prompt, and prompts differ in at least one), wrapped in JSON."""
    quoted = [q for q in re.findall(r'"([^"]+)"', prompt) if not q.isascii()]
    quoted = quoted or [prompt_noun(prompt)]
    story = f"{' '.join(dict.fromkeys(quoted))} की कहानी। {HINDI_BODY}"
    return json.dumps({"story": story}, ensure_ascii=False)


def always_good(prompt: str, call: int) -> Reply:
    """Policy: every call gets a good story."""
    return Reply(good_story(prompt))


class ChatServer:
    """The server state: policy, counters of calls per prompt, request log."""

    def __init__(self, policy: Callable[[str, int], Reply] = always_good) -> None:
        self.policy = policy
        self.calls: Counter[str] = Counter()
        self.model_listings = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.request_times: list[float] = []
        self.auth_headers: list[str | None] = []
        self.bodies: list[dict] = []
        self.port = 0

    @property
    def base_url(self) -> str:
        """Base URL for clients, ending in /v1."""
        return f"http://127.0.0.1:{self.port}/v1"

    async def _models(self, request: web.Request) -> web.Response:
        self.model_listings += 1
        return web.json_response({"object": "list", "data": [{"id": "test-model",
                                                              "object": "model"}]})

    async def _chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.bodies.append(body)
        prompt = body["messages"][-1]["content"]
        self.calls[prompt] += 1
        self.request_times.append(time.monotonic())
        self.auth_headers.append(request.headers.get("Authorization"))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            reply = self.policy(prompt, self.calls[prompt])
            if reply.delay_s:
                await asyncio.sleep(reply.delay_s)
        finally:
            self.in_flight -= 1
        if reply.raw_body is not None:
            return web.Response(text=reply.raw_body, status=reply.status, headers=reply.headers)
        if reply.status != 200:
            return web.json_response({"error": {"message": "scripted error"}},
                                     status=reply.status, headers=reply.headers)
        content, finish = _answer(reply, body.get("max_tokens"))
        response = {
            "id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", "test-model"),
            "choices": [{"index": 0, "finish_reason": finish,
                         "message": {"role": "assistant", "content": content}}],
        }
        if reply.usage:
            prompt_tokens = sum(len(m["content"].split()) for m in body["messages"])
            completion_tokens = len(content.split())
            response["usage"] = {"prompt_tokens": prompt_tokens,
                                 "completion_tokens": completion_tokens,
                                 "total_tokens": prompt_tokens + completion_tokens}
        return web.json_response(response, headers=reply.headers)


def _answer(reply: Reply, max_tokens: int | None) -> tuple[str, str]:
    """The reply's content cut at `max_tokens` words, and why it ended."""
    words = ("सोनू बगीचे में खेलता रहा और खेलता रहा। " * (RUNAWAY_WORDS // 6)).split() \
        if reply.runaway else (reply.content or "").split(" ")
    limit = min(max_tokens or RUNAWAY_WORDS, RUNAWAY_WORDS)
    if len(words) > limit or reply.runaway:
        return " ".join(words[:limit]), "length"
    return reply.content or "", "stop"


@contextmanager
def serving(app: web.Application, backlog: int = 1024) -> Iterator[int]:
    """Serve `app` on 127.0.0.1 (a free port) from a background thread; yields the port."""
    ready = threading.Event()
    loop = asyncio.new_event_loop()
    box: dict = {}

    async def start() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=backlog)
        await site.start()
        box["port"] = site._server.sockets[0].getsockname()[1]
        box["runner"] = runner
        ready.set()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    if not ready.wait(10):
        raise RuntimeError("test server did not start")
    try:
        yield box["port"]
    finally:
        asyncio.run_coroutine_threadsafe(box["runner"].cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


@contextmanager
def running_chat_server(
    policy: Callable[[str, int], Reply] = always_good,
) -> Iterator[ChatServer]:
    """Start a `ChatServer` on 127.0.0.1 (free port) in a background thread; stop it after."""
    server = ChatServer(policy)
    app = web.Application()
    app.router.add_get("/v1/models", server._models)
    app.router.add_post("/v1/chat/completions", server._chat)
    with serving(app) as port:
        server.port = port
        yield server
