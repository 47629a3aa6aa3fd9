"""The LLM judge's rubric: the packaged one or a user's file, and the strict parser of answers.

A rubric is a prompt with the placeholders `{story}`, `{opener}` (or `{prompt}`, the original
study's name for the beginning the model was given) and `{language}`, and the list of score keys
its answer must hold (each a number from 1 to 10). A brace block that is no placeholder, like the
JSON example of the answer, is kept as written (rules: `tsr_assets/core/text_templates.py`).
Keys are compared in one spelling: `Context Awareness`, `context-awareness` and
`context_awareness` are the same key. Besides the keys, every judgment gets `mean_of_criteria`:
the mean of the keys other than `overall` (published tables report both).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from tsr_assets.core.languages import PACKAGE_DATA_DIR
from tsr_assets.core.text_files import read_utf8_file
from tsr_assets.core.text_templates import (
    TemplateTextError,
    compile_template,
    placeholder_problems,
)

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


MEAN_OF_CRITERIA = "mean_of_criteria"
RUBRIC_SLOTS = ("story", "opener", "language")
#: The original study's judge prompt calls the opener `{prompt}`.
RUBRIC_ALIASES = {"prompt": "opener"}
#: A rubric file in the original study's style (spaced keys, `{prompt}`, a JSON example).
ORIGINAL_STYLE_RUBRIC_FILE = PACKAGE_DATA_DIR / "rubrics" / "original_style_judge.txt"

_KEY_SEPARATORS = re.compile(r"[\s\-]+")


def normalize_key(key: object) -> str:
    """A score key in the one spelling used everywhere: `Context Awareness`,
    `context-awareness` and `context_awareness` are all `context_awareness`."""
    return _KEY_SEPARATORS.sub("_", str(key).strip().lower())


class RubricError(ValueError):
    """A rubric file cannot be used; the message lists every problem found."""


@dataclass(frozen=True)
class Rubric:
    """A judge prompt and the score keys its answers must hold."""

    text: str
    keys: tuple[str, ...]
    source: str = "packaged"

    def __post_init__(self) -> None:
        object.__setattr__(self, "keys", tuple(normalize_key(k) for k in self.keys))

    @cached_property
    def _format_text(self) -> str:
        try:
            return compile_template(self.text, RUBRIC_SLOTS, RUBRIC_ALIASES)
        except TemplateTextError as exc:
            raise RubricError(f"rubric ({self.source}): {exc}") from None

    @property
    def text_hash(self) -> str:
        """A short hash of the prompt and keys: which exact rubric made a score."""
        payload = self.text + "\n" + ",".join(self.keys)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]

    def prompt(self, language_name: str, opener: str, story: str) -> str:
        """The rubric filled in for one story."""
        return self._format_text.format(language=language_name, opener=opener, story=story)

    def parse(self, raw: str) -> dict[str, float]:
        """The answer's scores (see `parse_scores`), plus `mean_of_criteria`."""
        scores = parse_scores(raw, self.keys)
        criteria = [v for k, v in scores.items() if k != "overall"] or list(scores.values())
        return {**scores, MEAN_OF_CRITERIA: sum(criteria) / len(criteria)}


DEFAULT_RUBRIC = Rubric(RUBRIC, LLM_METRICS)


def load_rubric(path: str | Path, keys: Sequence[str] = LLM_METRICS) -> Rubric:
    """A rubric from a UTF-8 text file with `{story}`, `{opener}` (or `{prompt}`) and
    `{language}`; `keys` in any spelling (`context awareness` is `context_awareness`).

    Raises:
        RubricError: naming the file and every problem (unbalanced braces, unknown
            placeholders, no `{story}`, no keys).
    """
    path = Path(path).expanduser()
    text = read_utf8_file(path, RubricError, "rubric", ["a .txt rubric file"])
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    problems = placeholder_problems(text, RUBRIC_SLOTS, ("story",), RUBRIC_ALIASES)
    normalized = tuple(normalize_key(k) for k in keys if k.strip())
    if not normalized:
        problems.append("no score keys: list the keys the judge must answer with")
    if problems:
        raise RubricError(f"{path}: " + "; ".join(problems))
    return Rubric(text, normalized, f"file {path.name}")


def judge_prompt(language_name: str, opener: str, story: str) -> str:
    """The packaged rubric filled in for one story."""
    return DEFAULT_RUBRIC.prompt(language_name, opener, story)


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


def parse_scores(raw: str, keys: Sequence[str] = LLM_METRICS) -> dict[str, float]:
    """The scores of an answer for `keys` (default the six): numbers or numeric strings, each
    within 1-10.

    Accepts the JSON object alone, in a code fence or with text around it, and its keys in any
    spelling (`"context awareness"` answers `context_awareness`); the scores are keyed by
    `keys` as normalized. Raises `JudgeAnswerError` with reason no_json, missing_keys,
    not_numeric or out_of_range.
    """
    keys = tuple(normalize_key(k) for k in keys)
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
    normalized = {normalize_key(k): v for k, v in data.items()}
    missing = [m for m in keys if m not in normalized]
    if missing:
        raise JudgeAnswerError("missing_keys", ", ".join(missing))
    scores = {}
    for metric in keys:
        try:
            scores[metric] = _number(normalized[metric])
        except ValueError as exc:
            raise JudgeAnswerError("not_numeric", f"{metric}={normalized[metric]!r}") from exc
        if not 1 <= scores[metric] <= 10:
            raise JudgeAnswerError("out_of_range", f"{metric}={scores[metric]}")
    return scores
