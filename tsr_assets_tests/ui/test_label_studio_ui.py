"""A rater's view: headless Chromium logs into the test's Label Studio server and opens one task
of a rating project made with the platform's labeling configuration; the screenshot is kept as
`ui_screenshots/label_studio_task.png` (and, with `TSR_UPDATE_DOCS_SCREENSHOTS=1`, as
`docs/label_studio_task.png`)."""

from __future__ import annotations

import asyncio
import os
import shutil

from tsr_assets.core.lake import REPO_ROOT
from tsr_assets.core.languages import get_language
from tsr_assets.evaluation.label_studio import LabelStudioClient
from tsr_assets.evaluation.openers import load_openers
from tsr_assets.evaluation.rating_tasks import label_config
from tsr_assets_tests.label_studio_server import ADMIN_EMAIL, ADMIN_PASSWORD
from tsr_assets_tests.ui.headless_chromium import Browser

#: Kept for a person to look at (git-ignored); `TSR_UPDATE_DOCS_SCREENSHOTS=1` also refreshes
#: the copy in docs/.
SCREENSHOT = REPO_ROOT / "ui_screenshots" / "label_studio_task.png"
DOCS_COPY = REPO_ROOT / "docs" / "label_studio_task.png"
LOG_IN = """(() => {{
  const form = document.querySelector('form');
  form.querySelector('input[name=email]').value = {email!r};
  form.querySelector('input[name=password]').value = {password!r};
  form.submit(); return true }})()"""


async def _open_task(url: str, project_id: int, task_id: int, story: str) -> str:
    async with Browser() as browser:
        await browser.goto(f"{url}/user/login/")
        await browser.wait_for_text("Log in", timeout_s=90)
        await browser.call("Runtime.evaluate", expression=LOG_IN.format(
            email=ADMIN_EMAIL, password=ADMIN_PASSWORD), returnByValue=True)
        await browser.wait_for_text("Projects", timeout_s=90)
        await browser.goto(f"{url}/projects/{project_id}/data?task={task_id}")
        text = await browser.wait_for_text("overall:", "grammar:", story[:20], timeout_s=120)
        await asyncio.sleep(1.0)  # let the stars finish drawing
        SCREENSHOT.parent.mkdir(exist_ok=True)
        await browser.screenshot(SCREENSHOT)
        if os.environ.get("TSR_UPDATE_DOCS_SCREENSHOTS"):
            shutil.copyfile(SCREENSHOT, DOCS_COPY)
        return text


def test_a_rater_sees_the_story_and_the_ten_point_ratings(label_studio) -> None:
    client = LabelStudioClient(label_studio.url, label_studio.token)
    hindi = get_language("hindi")
    opener = load_openers(hindi)[4].text
    story = (f"{opener} वह रोज़ बगीचे में खेलती थी। एक दिन उसे एक छोटा पक्षी मिला, जिसका पंख "
             "टूटा था। उसने पक्षी को पानी दिया और उसकी देखभाल की। कुछ दिनों बाद पक्षी फिर से "
             "उड़ने लगा और सब खुश हुए।")
    project = client.create_project("TSR Hindi ratings (UI test)", label_config("Hindi"), 2)
    client.import_tasks(project["id"], [{"data": {"rating_id": "r0ui0test0001",
                                                  "opener": opener, "story": story}}])
    task = client.tasks(project["id"])[0]
    text = asyncio.run(_open_task(label_studio.url, project["id"], task["id"], story))
    for criterion in ("context_awareness:", "completeness:", "fluency:", "creativity:"):
        assert criterion in text
    assert "spm" not in text and "tiny" not in text  # nothing names a model
    assert SCREENSHOT.stat().st_size > 20_000
