"""The LLM judge against a real OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tsr_assets.evaluation.llm_judging import StoryToJudge, judge_stories
from tsr_assets.llm.request_runner import RunnerSettings
from tsr_assets.llm.sources import GenerationControls, OpenAICompatibleSource
from tsr_assets_tests.chat_server import Reply, running_chat_server

SETTINGS = RunnerSettings(concurrency=4, max_attempts=3, backoff_base_s=0.01,
                          progress_every_s=60)


def _scores(value) -> str:
    return json.dumps({m: value for m in ("context_awareness", "completeness", "grammar",
                                         "fluency", "creativity", "overall")})


def _story_number(prompt: str) -> int:
    return int(re.search(r"कहानी (\d+)", prompt).group(1))


def _stories(n: int) -> list[StoryToJudge]:
    return [StoryToJudge(f"opener-{i:03d}#0", f"कहानी {i} शुरू", f"कहानी {i} शुरू हुई।")
            for i in range(n)]


def test_good_garbage_out_of_range_missing_and_429(tmp_path: Path) -> None:
    def policy(prompt: str, call: int) -> Reply:
        n = _story_number(prompt)
        if n == 0:
            return Reply(_scores(8))
        if n == 1:  # garbage first, then a good answer
            return Reply("the story is lovely" if call == 1 else _scores(6))
        if n == 2:  # out of range first
            return Reply(_scores(12) if call == 1 else _scores("5"))
        if n == 3:  # missing keys every time: fails after max_attempts
            return Reply('{"overall": 7}')
        if n == 4:  # rate limited once
            return Reply(status=429, headers={"Retry-After": "0.05"}) if call == 1 else \
                Reply(_scores(9))
        return Reply(_scores(4))

    with running_chat_server(policy) as server:
        source = OpenAICompatibleSource(server.base_url, "test-judge",
                                        controls=GenerationControls(temperature=0.0))
        report = judge_stories(_stories(6), "Hindi", source, SETTINGS, tmp_path / "j.jsonl")
    assert report.scores["opener-000#0"]["overall"] == 8.0
    assert report.scores["opener-001#0"]["grammar"] == 6.0
    assert report.scores["opener-002#0"]["fluency"] == 5.0
    assert report.scores["opener-004#0"]["overall"] == 9.0
    assert report.failures == {"opener-003#0": "missing_keys"}
    assert report.rejections == {"no_json": 1, "out_of_range": 1, "missing_keys": 3}
    assert sum(server.calls.values()) == 1 + 2 + 2 + 3 + 2 + 1


def test_judged_stories_are_never_judged_again_after_a_crash(tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    with running_chat_server(lambda p, c: Reply(_scores(_story_number(p) % 10 + 1))) as server:
        source = OpenAICompatibleSource(server.base_url, "test-judge")
        judge_stories(_stories(5), "Hindi", source, SETTINGS, journal)
        # Simulate a crash mid-write: a torn last line, and two more stories to judge.
        with journal.open("a") as handle:
            handle.write('{"key": "opener-005#0", "repeat": 0, "sco')
        source = OpenAICompatibleSource(server.base_url, "test-judge")
        report = judge_stories(_stories(7), "Hindi", source, SETTINGS, journal)
    assert report.judged_before == 5 and report.requests == 2
    assert all(count == 1 for count in server.calls.values())
    assert len(report.scores) == 7 and report.scores["opener-006#0"]["overall"] == 7.0


def test_repeated_judgments_are_averaged(tmp_path: Path) -> None:
    with running_chat_server(lambda p, call: Reply(_scores(4 if call == 1 else 8))) as server:
        source = OpenAICompatibleSource(server.base_url, "test-judge")
        report = judge_stories(_stories(2), "Hindi", source, SETTINGS, tmp_path / "j.jsonl",
                               repeats=2)
    assert report.scores["opener-001#0"]["overall"] == 6.0


def test_the_original_style_rubric_file_judges_over_http(tmp_path: Path) -> None:
    """The original study's kind of judge prompt, as it is: the server sees the story, the
    opener where `{prompt}` was and the JSON example as written, and answers with spaced keys
    and string scores, which are stored under our metric names."""
    from tsr_assets.evaluation.rubric import ORIGINAL_STYLE_RUBRIC_FILE, load_rubric

    rubric = load_rubric(ORIGINAL_STYLE_RUBRIC_FILE)
    example = ORIGINAL_STYLE_RUBRIC_FILE.read_text(encoding="utf-8").strip()
    example = example[example.rindex("{"):]

    def policy(prompt: str, call: int) -> Reply:
        n = _story_number(prompt)
        assert prompt.startswith(f"कहानी {n} शुरू हुई।\n") and f'"कहानी {n} शुरू"' in prompt
        assert "The Hindi short story" in prompt and prompt.endswith(example)
        answer = {key.replace("_", " "): str(n + 2) for key in ("context_awareness",
                  "completeness", "grammar", "fluency", "creativity", "overall")}
        return Reply("```json\n" + json.dumps(answer, ensure_ascii=False, indent=1) + "\n```")

    with running_chat_server(policy) as server:
        source = OpenAICompatibleSource(server.base_url, "test-judge")
        report = judge_stories(_stories(3), "Hindi", source, SETTINGS, tmp_path / "j.jsonl",
                               rubric=rubric)
    assert report.failures == {} and report.requests == 3
    assert report.scores["opener-002#0"] == {
        "context_awareness": 4.0, "completeness": 4.0, "grammar": 4.0, "fluency": 4.0,
        "creativity": 4.0, "overall": 4.0, "mean_of_criteria": 4.0}
