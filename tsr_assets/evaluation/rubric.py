"""The LLM judge's rubric prompt and the strict parser of its answers."""

from __future__ import annotations

import json
import math
import re

LLM_METRICS = ("context_awareness", "completeness", "grammar", "fluency", "creativity",
               "overall")

RUBRIC = """You are grading a short story written by a small language model for children aged \
five to seven. The story is in {language}. It had to continue the opening sentence below.

Opening sentence:
{opener}

Story (the opening followed by the model's continuation):
{story}

Give each quality a whole number from 1 (very poor) to 10 (excellent):
- context_awareness: does the story follow on from the opening (same characters, place, \
situation)?
- completeness: does it reach a clear ending, or does it stop in the middle?
- grammar: is the {language} grammatically correct (agreement, word order, spelling)?
- fluency: does it read naturally, without repeated or meaningless phrases?
- creativity: is it imaginative and interesting for a young child?
- overall: your overall judgement of the story for a five- to seven-year-old.

Judge only what is written; do not reward length. Answer with one JSON object and nothing \
else, for example:
{{"context_awareness": 7, "completeness": 6, "grammar": 8, "fluency": 7, "creativity": 5, \
"overall": 7}}"""


class JudgeAnswerError(ValueError):
    """An answer that cannot be used; `reason` is short and countable."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


def judge_prompt(language_name: str, opener: str, story: str) -> str:
    """The rubric filled in for one story."""
    return RUBRIC.format(language=language_name, opener=opener, story=story)


_OBJECT = re.compile(r"\{[^{}]*\}", re.DOTALL)


def _number(value) -> float:
    if isinstance(value, bool):
        raise ValueError("boolean")
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        number = float(value.strip())
    else:
        raise ValueError(type(value).__name__)
    if not math.isfinite(number):
        raise ValueError("not finite")
    return number


def parse_scores(raw: str) -> dict[str, float]:
    """The six scores of an answer: numbers or numeric strings, each within 1-10.

    Accepts the JSON object alone, in a code fence or with text around it. Raises
    `JudgeAnswerError` with reason no_json, missing_keys, not_numeric or out_of_range.
    """
    candidates = [raw.strip(), *(m.group(0) for m in _OBJECT.finditer(raw))]
    data = None
    for candidate in candidates:
        try:
            parsed = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(parsed, dict):
            data = parsed
            break
    if data is None:
        raise JudgeAnswerError("no_json", raw[:120])
    normalized = {str(k).strip().lower().replace(" ", "_"): v for k, v in data.items()}
    missing = [m for m in LLM_METRICS if m not in normalized]
    if missing:
        raise JudgeAnswerError("missing_keys", ", ".join(missing))
    scores = {}
    for metric in LLM_METRICS:
        try:
            scores[metric] = _number(normalized[metric])
        except ValueError as exc:
            raise JudgeAnswerError("not_numeric", f"{metric}={normalized[metric]!r}") from exc
        if not 1 <= scores[metric] <= 10:
            raise JudgeAnswerError("out_of_range", f"{metric}={scores[metric]}")
    return scores
