"""Drive Debian's headless Chromium over the DevTools protocol (CDP) with aiohttp.

Enough for UI tests: open a page, wait until its text contains what we expect, read the text,
click, and take a screenshot. No Selenium or Playwright needed.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import aiohttp

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=1600,1000",
]


def chromium_path() -> str:
    """The Chromium binary (Debian's package `chromium`, which `make test` installs)."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        raise RuntimeError("chromium is not installed: `apt-get install -y chromium` "
                           "(`make test` does this when it is missing)")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Browser:
    """One headless Chromium process and a CDP session on its first page."""

    def __init__(self) -> None:
        self.port = free_port()
        self.profile = tempfile.mkdtemp(prefix="tsr-chromium-")
        self.process = subprocess.Popen(
            [chromium_path(), *CHROMIUM_FLAGS, f"--remote-debugging-port={self.port}",
             f"--user-data-dir={self.profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        self._ids = itertools.count(1)
        self._session: aiohttp.ClientSession | None = None
        self._ws = None

    async def __aenter__(self) -> Browser:
        self._session = aiohttp.ClientSession()
        deadline = time.monotonic() + 30
        while True:
            try:
                async with self._session.get(f"http://127.0.0.1:{self.port}/json") as r:
                    pages = [p for p in await r.json() if p.get("type") == "page"]
                if pages:
                    break
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("chromium did not open its DevTools port within 30 s")
            await asyncio.sleep(0.2)
        self._ws = await self._session.ws_connect(pages[0]["webSocketDebuggerUrl"],
                                                  max_msg_size=0)
        return self

    async def __aexit__(self, *exc) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._session is not None:
            await self._session.close()
        self.process.kill()
        self.process.wait(10)
        shutil.rmtree(self.profile, ignore_errors=True)

    async def call(self, method: str, **params) -> dict:
        """Send one CDP command and return its result."""
        message_id = next(self._ids)
        await self._ws.send_str(json.dumps({"id": message_id, "method": method,
                                            "params": params}))
        while True:
            message = json.loads((await self._ws.receive()).data)
            if message.get("id") == message_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    async def goto(self, url: str) -> None:
        """Navigate to `url`."""
        await self.call("Page.enable")
        await self.call("Page.navigate", url=url)

    async def text(self) -> str:
        """The page's visible text."""
        result = await self.call("Runtime.evaluate", expression="document.body.innerText",
                                 returnByValue=True)
        return result.get("result", {}).get("value") or ""

    async def wait_for_text(self, *needles: str, timeout_s: float = 60.0) -> str:
        """Poll the page text until it contains every needle; return it."""
        deadline = time.monotonic() + timeout_s
        while True:
            text = await self.text()
            if all(n in text for n in needles):
                return text
            if time.monotonic() > deadline:
                missing = [n for n in needles if n not in text]
                raise AssertionError(f"page never showed {missing}; it shows: {text[:1500]!r}")
            await asyncio.sleep(0.5)

    async def screenshot(self, path: Path) -> Path:
        """Save a PNG of the viewport."""
        result = await self.call("Page.captureScreenshot", format="png")
        path.write_bytes(base64.b64decode(result["data"]))
        return path
