"""Prompt templates that ask an LLM for one children's story, from plain to richly detailed.

Templates have the slots `{language}`, `{script}`, `{noun}`, `{verb}`, `{adjective}` and
`{feature}` (the original study's `{feature1}` and `{feature2}` are accepted for `{feature}`); a
brace block that is no slot, like a JSON example, is kept as written, and `{{`/`}}` are literal
braces (the rules: `tsr_assets/core/text_templates.py`). Each template is compiled once to a
`str.format` string. Every template asks for a JSON object with a single `story` field.
"""

from __future__ import annotations

import hashlib
import string
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from tsr_assets.core.languages import PACKAGE_DATA_DIR, Language
from tsr_assets.core.text_files import read_utf8_file
from tsr_assets.core.text_templates import (
    TemplateTextError,
    compile_template,
    placeholder_problems,
)

SLOTS = ("language", "script", "noun", "verb", "adjective", "feature")
WORD_SLOTS = ("noun", "verb", "adjective", "feature")
REQUIRED_SLOTS = ("noun", "verb", "adjective")
#: Other names accepted for a slot: the original study's templates call the feature `{feature1}`.
SLOT_ALIASES = {"feature1": "feature", "feature2": "feature"}
#: A template file in the original study's style (its placeholders, a JSON example as written).
ORIGINAL_STYLE_TEMPLATE_FILE = PACKAGE_DATA_DIR / "templates" / "original_style_story.txt"

_JSON_ANSWER = """
Answer with a JSON object only, exactly in this shape:
{{"story": "<the whole story here>"}}"""


#: Tokens per word of chat-model tokenizers on Indic scripts, at the high end (Devanagari and
#: Bengali take 2-3 tokens per word in large vocabularies, up to 6-8 in byte-fallback ones).
TOKENS_PER_WORD = 6
#: Room for the JSON wrapper and a short preamble.
ANSWER_OVERHEAD_TOKENS = 64


@dataclass(frozen=True)
class PromptTemplate:
    """One named way of asking for a story; `max_words` is the longest story it asks for."""

    name: str
    summary: str
    text: str
    max_words: int = 300

    @property
    def max_tokens(self) -> int:
        """The answer-length limit that fits the longest story this template asks for."""
        return answer_token_limit(self.max_words)

    @property
    def text_hash(self) -> str:
        """A short hash of the template's text: which exact wording made a prompt."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()[:16]

    @cached_property
    def format_text(self) -> str:
        """The text compiled once to a `str.format` string over the canonical slots.

        Raises:
            TemplateError: the text has an unknown slot or unbalanced braces.
        """
        try:
            return compile_template(self.text, SLOTS, SLOT_ALIASES)
        except TemplateTextError as exc:
            raise TemplateError(f"template {self.name!r}: {exc}") from None


class TemplateError(ValueError):
    """A template file cannot be used; the message lists every problem found."""


def answer_token_limit(max_words: int) -> int:
    """`max_tokens` for answers that may hold a story of `max_words` words."""
    return max_words * TOKENS_PER_WORD + ANSWER_OVERHEAD_TOKENS


def check_template_text(text: str) -> list[str]:
    """Every problem of a template's text: unbalanced braces, unknown placeholders, and
    missing `{noun}`, `{verb}` or `{adjective}` (every story needs them)."""
    return placeholder_problems(text, SLOTS, REQUIRED_SLOTS, SLOT_ALIASES)


def load_template_file(path: str | Path, max_words: int = 300) -> PromptTemplate:
    """A prompt template from a UTF-8 text file, checked.

    Raises:
        TemplateError: naming the file and every problem (with line numbers).
    """
    path = Path(path).expanduser()
    text = read_utf8_file(path, TemplateError, "template", ["a .txt template file"])
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    problems = check_template_text(text)
    if problems:
        raise TemplateError(f"{path}: " + "; ".join(problems))
    return PromptTemplate(name=f"file:{path.name}", summary=f"your template {path}", text=text,
                          max_words=max_words)


TEMPLATES: dict[str, PromptTemplate] = {
    t.name: t
    for t in (
        PromptTemplate(
            name="basic",
            summary="Level 1: the four words and the length, nothing else.",
            text=(
                "Write a short story in {language}, using the {script} script, for children "
                "aged 5 to 7. Use the noun \"{noun}\", the verb \"{verb}\" and the adjective "
                "\"{adjective}\". The story should have {feature}. Keep it to 3-4 short "
                "paragraphs of simple words." + _JSON_ANSWER
            ),
        ),
        PromptTemplate(
            name="structured",
            summary=(
                "Level 2 (recommended default): clear beginning, middle and end; the tone is "
                "shown through what happens, never named."
            ),
            text=(
                "Write a short story in {language} (written in the {script} script) for children "
                "aged 5 to 7.\n"
                "Use only simple, everyday words a young child knows, in 3-4 short paragraphs "
                "(roughly 200-300 words).\n"
                "Give the story a clear beginning, middle and end.\n"
                "Work in the verb \"{verb}\", the noun \"{noun}\" and the adjective "
                "\"{adjective}\" so they feel natural.\n"
                "The story should carry this tone or ending: \"{feature}\". Show it through what "
                "the characters do and what happens to them; do not name the feeling or the tone "
                "outright.\n"
                "Keep the sentences short and the story simple." + _JSON_ANSWER
            ),
        ),
        PromptTemplate(
            name="detailed",
            summary="Level 3: as level 2, longer, with a named child hero and a small problem.",
            text=(
                "Write a story in {language} (in the {script} script) for 5- to 7-year-old "
                "children, 4 short paragraphs, about 300-350 words.\n"
                "Start by introducing a child or an animal with a name and a small wish or "
                "problem. In the middle, let them try something, fail once, and try again. End "
                "by solving the problem.\n"
                "Use the noun \"{noun}\", the verb \"{verb}\" and the adjective \"{adjective}\" "
                "naturally, each at least once.\n"
                "Let the story have {feature} (in {language}: \"{feature}\"), shown through "
                "events and actions rather than stated.\n"
                "Words must be simple and sentences short; no difficult or borrowed words when "
                "a simple {language} word exists." + _JSON_ANSWER
            ),
            max_words=350,
        ),
        PromptTemplate(
            name="dialogue_themes",
            summary="Level 4: short dialogues between characters and a gentle theme.",
            text=(
                "Write a children's story in {language} (using the {script} script) for ages 5 "
                "to 7, in 3-4 short paragraphs.\n"
                "Include a few lines of simple dialogue between two or three characters, with "
                "quotation marks.\n"
                "Touch gently on a theme such as friendship, honesty, sharing or courage, "
                "without preaching.\n"
                "Use the noun \"{noun}\", the verb \"{verb}\" and the adjective \"{adjective}\".\n"
                "The story should have {feature}; let the reader feel it from what the "
                "characters say and do, not from a label.\n"
                "Keep every word simple." + _JSON_ANSWER
            ),
        ),
        PromptTemplate(
            name="folk_tale",
            summary="Level 5: in the manner of an Indian folk tale or fable.",
            text=(
                "Write a short story in {language} (in the {script} script) in the manner of a "
                "traditional Indian folk tale or animal fable, for children aged 5 to 7.\n"
                "It can begin the way such tales often do, take place in a village, forest or "
                "riverbank, and may include a clever animal or a wise elder.\n"
                "Use the noun \"{noun}\", the verb \"{verb}\" and the adjective \"{adjective}\" "
                "naturally.\n"
                "Its tone or ending should be {feature}, shown through the events of the tale.\n"
                "3-4 short paragraphs, simple words, short sentences." + _JSON_ANSWER
            ),
        ),
        PromptTemplate(
            name="characters_nature",
            summary="Level 6: supporting characters and a vivid natural setting.",
            text=(
                "Write a story in {language} (in the {script} script) for children aged 5 to 7, "
                "in 3-4 short paragraphs.\n"
                "Besides the main character, include one or two helpers (a friend, a parent, an "
                "animal) who matter to how the story ends.\n"
                "Describe the natural setting in a few simple words (sky, trees, rain, river, "
                "birds) so a child can picture it.\n"
                "Use the noun \"{noun}\", the verb \"{verb}\" and the adjective \"{adjective}\".\n"
                "The story should have {feature}, shown through what happens, not said "
                "outright.\n"
                "Simple words only." + _JSON_ANSWER
            ),
        ),
    )
}

DEFAULT_TEMPLATE = "structured"


def get_template(name: str) -> PromptTemplate:
    """Look a template up by name, with an error that lists the choices."""
    try:
        return TEMPLATES[name]
    except KeyError:
        raise KeyError(
            f"unknown prompt template {name!r}; choose one of: {', '.join(TEMPLATES)}"
        ) from None


def render_prompt(
    template: PromptTemplate,
    language: Language,
    noun: str,
    verb: str,
    adjective: str,
    feature: str,
) -> str:
    """Fill one template for one combination."""
    return template.format_text.format(
        language=language.display_name,
        script=language.script,
        noun=noun,
        verb=verb,
        adjective=adjective,
        feature=feature,
    )


def template_pieces(template: PromptTemplate, language: Language) -> list[tuple[str, str | None]]:
    """The template as (literal text, word slot or None) pieces, language slots already filled.

    Lets a caller render millions of prompts column-wise (e.g. polars `concat_str`) with exactly
    the same result as `render_prompt`.
    """
    pieces: list[tuple[str, str | None]] = []
    for literal, field, spec, conversion in string.Formatter().parse(template.format_text):
        if field is None:
            pieces.append((literal, None))
            continue
        if spec or conversion:
            raise ValueError(f"template {template.name!r}: slot {{{field}}} may not use a format")
        if field == "language":
            pieces.append((literal + language.display_name, None))
        elif field == "script":
            pieces.append((literal + language.script, None))
        elif field in WORD_SLOTS:
            pieces.append((literal, field))
        else:
            raise ValueError(f"template {template.name!r}: unknown slot {{{field}}}")
    return pieces
