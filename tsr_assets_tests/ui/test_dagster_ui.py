"""The Dagster UI in a real headless Chromium: `make ui`, the asset graph, partitions, metadata
and a model size declared in YAML.

Screenshots are kept in `<repo>/ui_screenshots/` (git-ignored) for a person to look at.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from pathlib import Path

import aiohttp
import dagster as dg
import pytest

from tsr_assets.core.lake import REPO_ROOT
from tsr_assets.core.languages import language_keys
from tsr_assets.definitions import build_definitions
from tsr_assets.defs.jobs import LANGUAGE_JOB, LANGUAGE_TOKENIZER_JOB
from tsr_assets.defs.partitions import language_tokenizer_key
from tsr_assets.tokenizers.registry import tokenizer_keys
from tsr_assets_tests.ui.headless_chromium import Browser, free_port

SCREENSHOTS = REPO_ROOT / "ui_screenshots"
CLICK_SKIP = """(() => {
  const b = [...document.querySelectorAll('button')].find(x => x.innerText.trim() === 'Skip');
  if (b) { b.click(); return true } return false })()"""


@pytest.fixture
def ui_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """`make ui` on a free port, against a home where hindi|byte has been materialized."""
    home, lake = tmp_path / "home", tmp_path / "lake"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO_ROOT / "dagster.yaml").read_text())
    monkeypatch.setenv("TSR_DATA_DIR", str(lake))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        defs = build_definitions()
        assert defs.resolve_job_def(LANGUAGE_JOB).execute_in_process(
            instance=instance, partition_key="hindi",
            run_config={"ops": {"prompts": {"config": {"count": 40}}}}).success
        assert defs.resolve_job_def(LANGUAGE_TOKENIZER_JOB).execute_in_process(
            instance=instance, partition_key=language_tokenizer_key("hindi", "byte"),
            asset_selection=[dg.AssetKey("tokenizer"), dg.AssetKey("token_bins")]).success
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "TSR_DATA_DIR": str(lake)}
    server = subprocess.Popen(["make", "--no-print-directory", "ui", f"UI_PORT={port}"],
                              cwd=REPO_ROOT, env=env, start_new_session=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        asyncio.run(_wait_until_up(port, server))
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(15)


async def _wait_until_up(port: int, server: subprocess.Popen, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise AssertionError(f"make ui exited: {server.stdout.read().decode()[-3000:]}")
            try:
                async with session.get(f"http://127.0.0.1:{port}/server_info") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.5)
    raise AssertionError("the Dagster UI did not answer within 120 s")


async def _dismiss_welcome(browser: Browser) -> None:
    for _ in range(10):  # the community dialog shows once per browser profile, a little late
        result = await browser.call("Runtime.evaluate", expression=CLICK_SKIP,
                                    returnByValue=True)
        if result["result"]["value"]:
            return
        await asyncio.sleep(0.3)


def test_ui_shows_the_graph_partitions_and_metadata(ui_server: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)

    async def drive() -> None:
        async with Browser() as browser:
            await browser.goto(f"{ui_server}/asset-groups")
            await browser.wait_for_text("Global asset lineage", "stories", "tokenizers",
                                        "training", "evaluation", "reports")
            await _dismiss_welcome(browser)
            await browser.screenshot(SCREENSHOTS / "asset_graph.png")

            await browser.goto(f"{ui_server}/assets/token_bins?view=partitions")
            missing = len(language_keys()) * len(tokenizer_keys()) - 1
            text = await browser.wait_for_text("Materialized (1)", f"Missing ({missing})")
            for key in (*language_keys(), *tokenizer_keys()):
                assert key in text
            await browser.screenshot(SCREENSHOTS / "token_bins_partitions.png")

            await browser.goto(f"{ui_server}/assets/token_bins")
            text = await browser.wait_for_text("train_tokens", "tokenizer_version",
                                               "first_story_decoded")
            assert "utf8-bytes-v1" in text and "language_tokenizer_job" in text
            await browser.screenshot(SCREENSHOTS / "token_bins_metadata.png")

            # Declarative Automation: the asset's condition, as the UI explains it.
            await browser.goto(f"{ui_server}/assets/tokenizer")
            text = await browser.wait_for_text("after new inputs, chained tokenizers")
            assert "Automation" in text
            await browser.screenshot(SCREENSHOTS / "tokenizer_automation.png")

            # A model size declared in YAML (defs/models/e512_l6/defs.yaml, a `ModelPreset`
            # component): its checkpoint's page shows the shape that file declares, the
            # component it came from and the file as its source.
            await browser.goto(f"{ui_server}/assets/checkpoint_e512_l6")
            text = await browser.wait_for_text("6 layers, 512 wide, 8 heads, context 1024",
                                               "dagster/component_origin")
            assert "ModelPreset" in text and "defs.yaml" in text
            await browser.screenshot(SCREENSHOTS / "checkpoint_e512_l6.png")

    asyncio.run(drive())
    for name in ("asset_graph.png", "token_bins_partitions.png", "token_bins_metadata.png",
                 "tokenizer_automation.png", "checkpoint_e512_l6.png"):
        assert (SCREENSHOTS / name).stat().st_size > 20_000
