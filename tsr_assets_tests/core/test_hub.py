"""Pushing to the Hugging Face Hub, tested against a stand-in server on 127.0.0.1 (never the
Hub): the first request is the repository creation with the token and the private flag; a
refusal or no network is a clear error within seconds, and the local export is kept."""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from aiohttp import web

from tsr_assets.core.hub import HubUnavailable, push_folder
from tsr_assets_tests.chat_server import serving
from tsr_assets_tests.ui.headless_chromium import free_port


@contextmanager
def refusing_hub():
    """A server that records every request and answers 503 (the Hub refusing)."""
    requests: list[dict] = []

    async def handler(request: web.Request) -> web.Response:
        body = await request.read()
        requests.append({"method": request.method, "path": request.path,
                         "auth": request.headers.get("Authorization"), "body": body})
        return web.json_response({"error": "not today"}, status=503)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    with serving(app) as port:
        yield f"http://127.0.0.1:{port}", requests


def _export(tmp_path: Path) -> Path:
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "README.md").write_text("# card\n")
    return folder


def test_the_first_call_creates_the_repo_with_the_token(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _export(tmp_path)
    with refusing_hub() as (endpoint, requests):
        monkeypatch.setenv("HF_ENDPOINT", endpoint)
        monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
        with pytest.raises(HubUnavailable, match="pushing team/tsr-hindi failed"):
            push_folder(folder, "team/tsr-hindi", "dataset", "hf_secret_token", True,
                        "export from run r1")
    first = requests[0]
    assert first["method"] == "POST" and first["path"] == "/api/repos/create"
    assert first["auth"] == "Bearer hf_secret_token"
    body = json.loads(first["body"])
    assert body["name"] == "tsr-hindi" and body["organization"] == "team"
    assert body["type"] == "dataset" and body["visibility"] == "private"
    assert (folder / "README.md").is_file()  # nothing local is lost


def test_offline_or_without_a_token_fails_at_once(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _export(tmp_path)
    with pytest.raises(HubUnavailable, match=r"no Hugging Face token: set \$HF_TOKEN"):
        push_folder(folder, "tsr-hindi", "model", None, True, "m")
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{free_port()}")  # nothing listens
    started = time.monotonic()
    with pytest.raises(HubUnavailable, match="cannot be reached.*stays in"):
        push_folder(folder, "tsr-hindi", "model", "token", True, "m")
    assert time.monotonic() - started < 10
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HubUnavailable, match="HF_HUB_OFFLINE is set"):
        push_folder(folder, "tsr-hindi", "model", "token", True, "m")
