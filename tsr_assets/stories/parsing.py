"""Getting a clean story out of an LLM answer, and deciding whether to keep it.

Prompts ask for `{"story": "..."}`, but answers arrive wrapped in code fences, with chatter
around the JSON, with trailing commas, single or smart quotes, raw newlines or a cut-off end.
`extract_story` first tries a strict JSON parse at each `"story"` key and falls back to a
tolerant scan of the string value. Every step is linear in the input (which is capped at
`MAX_INPUT_CHARS`), so a pathological answer cannot stall a run.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from tsr_assets.core.languages import JOINERS, Language, get_language
from tsr_assets.stories.lexicon import lexicon_for
from tsr_assets.stories.quality_gates import (
    REJECT_REPETITIVE,
    REJECT_UNKNOWN_WORDS,
    gate_rejection,
    gate_scores,
)

REJECT_NO_JSON = "no_json"
REJECT_EMPTY = "empty"
REJECT_TOO_SHORT = "too_short"
REJECT_TOO_LONG = "too_long"
REJECT_WRONG_SCRIPT = "wrong_script"
REJECT_STARTS_WITH_MARK = "starts_with_mark"
REJECT_TRUNCATED = "truncated"  # decided by the request runner (finish_reason "length")


#: Every reason a story can be rejected for.
REJECT_REASONS = (REJECT_NO_JSON, REJECT_EMPTY, REJECT_WRONG_SCRIPT, REJECT_STARTS_WITH_MARK,
                  REJECT_TOO_SHORT, REJECT_TOO_LONG, REJECT_REPETITIVE, REJECT_UNKNOWN_WORDS,
                  REJECT_TRUNCATED)

# Answers longer than this are cut before parsing; a real story is a few thousand characters.
MAX_INPUT_CHARS = 400_000
# How many `story` keys are tried; more than a handful means the answer is garbage anyway.
MAX_KEY_CANDIDATES = 5

_QUOTES = "\"'\u201c\u201d\u2018\u2019"
_KEY = re.compile(
    rf"(?P<prefix>[{{,]\s*)?(?P<open>[{_QUOTES}])?story(?P<close>[{_QUOTES}])?\s*:",
    re.IGNORECASE,
)
# Closing quote characters accepted for each opening quote of a string value.
_CLOSERS = {
    '"': '"\u201d',
    "'": "'\u2019",
    "\u201c": '\u201d"',
    "\u201d": '\u201d"',
    "\u2018": "\u2019'",
    "\u2019": "\u2019'",
}
_STOPS = {
    opener: re.compile("[\\\\" + re.escape(closers) + "]") for opener, closers in _CLOSERS.items()
}
# What may follow the closing quote of the story value: the end of the object, another key,
# a code fence, or the end of the (cut-off) answer. Key names are bounded so this stays linear.
_AFTER_VALUE = re.compile(
    rf"\s*(?:[}}\]]|```|$|,\s*(?:[}}\]]|$|[{_QUOTES}]?[A-Za-z_][A-Za-z0-9_ \-]{{0,40}}"
    rf"[{_QUOTES}]?\s*:))"
)
_SIMPLE_ESCAPES = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "b": "\b",
    "f": "\f",
    '"': '"',
    "'": "'",
    "\\": "\\",
    "/": "/",
}
_HEX4 = re.compile(r"[0-9a-fA-F]{4}")
_SURROGATE = re.compile("[\ud800-\udfff]")
_JSON = json.JSONDecoder(strict=False)  # strict=False accepts raw newlines inside strings


def _story_value(value: object) -> str | None:
    """The story as text, from a parsed JSON value (a string, a list of paragraphs or null)."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return "\n\n".join(value)
    return None


def _find_story_field(obj: object) -> str | None:
    """The `story` field of a parsed object, looking one level into nested objects."""
    if not isinstance(obj, dict):
        return None
    for key, value in obj.items():
        if isinstance(key, str) and key.strip().lower() == "story":
            story = _story_value(value)
            if story is not None:
                return story
    for value in obj.values():
        if isinstance(value, dict):
            story = _find_story_field(value)
            if story is not None:
                return story
    return None


def _strict_story(text: str, key_start: int) -> str | None:
    """Parse the JSON object around the key at `key_start` exactly, or return None."""
    brace = text.rfind("{", 0, key_start + 1)
    if brace < 0:
        return None
    try:
        obj, _ = _JSON.raw_decode(text, brace)
    except (ValueError, RecursionError):
        return None
    return _find_story_field(obj)


def _decode_escape(text: str, pos: int) -> tuple[str, int]:
    """Decode the backslash escape at `text[pos]`; return (characters, position after it)."""
    if pos + 1 >= len(text):
        return "", pos + 1
    char = text[pos + 1]
    if char in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[char], pos + 2
    if char == "u" and _HEX4.fullmatch(text, pos + 2, pos + 6):
        code = int(text[pos + 2 : pos + 6], 16)
        end = pos + 6
        if 0xD800 <= code <= 0xDBFF and text.startswith("\\u", end):
            if _HEX4.fullmatch(text, end + 2, end + 6):
                low = int(text[end + 2 : end + 6], 16)
                if 0xDC00 <= low <= 0xDFFF:
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    end += 6
        return chr(code), end
    # An unknown escape: keep the character, drop the backslash.
    return char, pos + 2


def _lenient_story(text: str, value_start: int) -> tuple[str, int] | None:
    """Read a quoted string value starting at or after `value_start`, tolerating breakage.

    Unescaped inner quotes are kept as text unless what follows them looks like the end of the
    value (see `_AFTER_VALUE`); a value that runs to the end of the answer is taken whole.
    Returns the value and the position after it, or None when no quoted value starts there.
    """
    pos = value_start
    while pos < len(text) and text[pos].isspace():
        pos += 1
    if pos >= len(text) or text[pos] not in _CLOSERS:
        return None
    opener = text[pos]
    stops = _STOPS[opener]
    pos += 1
    parts: list[str] = []
    while True:
        match = stops.search(text, pos)
        if match is None:
            parts.append(text[pos:])
            return _trim_cut_off("".join(parts), _CLOSERS[opener]), len(text)
        parts.append(text[pos : match.start()])
        if match.group() == "\\":
            decoded, pos = _decode_escape(text, match.start())
            parts.append(decoded)
            continue
        if _AFTER_VALUE.match(text, match.end()):
            return "".join(parts), match.end()
        parts.append(match.group())
        pos = match.end()


def _trim_cut_off(value: str, closers: str) -> str:
    """Strip a fence, brace or quote left at the end of a value that never closed properly."""
    value = value.rstrip()
    if value.endswith("```"):
        value = value[:-3].rstrip()
    if value.endswith("}"):
        value = value[:-1].rstrip()
    if value and value[-1] in closers:
        value = value[:-1]
    return value


def _is_placeholder(value: str) -> bool:
    value = value.strip()
    return value.startswith("<") and value.endswith(">")


def _clean_surrogates(text: str) -> str:
    # JSON can encode lone surrogates, which cannot be written as UTF-8 later.
    return _SURROGATE.sub("\ufffd", text)


def extract_story(raw: str) -> str | None:
    """Find the `story` field of the JSON object in an LLM answer.

    Works inside code fences and with text around the JSON, and tolerates trailing commas,
    single or smart quotes, raw newlines in the string and a missing closing quote or brace.
    Returns the story with JSON escapes decoded ("" for an empty or null story), or None when
    no story field can be found. Input beyond `MAX_INPUT_CHARS` is ignored.
    """
    text = raw[:MAX_INPUT_CHARS]
    strict: list[str] = []
    lenient: list[str] = []
    tried = 0
    scanned_to = 0  # end of the last value read leniently; keys before it are story text
    for match in _KEY.finditer(text):
        quoted = match.group("open") is not None and match.group("close") is not None
        bare = match.group("open") is None and match.group("close") is None
        if not (quoted or (bare and match.group("prefix") is not None)):
            continue
        tried += 1
        if tried > MAX_KEY_CANDIDATES:
            break
        key_start = match.start("open") if quoted else match.start() + len(match.group("prefix"))
        story = _strict_story(text, key_start)
        if story is not None:
            strict.append(story)
            continue
        if match.start() < scanned_to:
            continue
        found = _lenient_story(text, match.end())
        if found is not None:
            lenient.append(found[0])
            scanned_to = found[1]
    # An answer that echoes the prompt's example (`{"story": "<the whole story here>"}`)
    # before the real story holds several candidates: skip placeholders, take the longest.
    candidates = (
        [s for s in strict if not _is_placeholder(s)]
        or [s for s in lenient if not _is_placeholder(s)]
        or strict
        or lenient
    )
    if not candidates:
        return None
    return _clean_surrogates(max(candidates, key=len))


def clean_story(text: str, language: Language) -> str:
    """Normalize a story and keep only characters that belong to `language`'s text.

    NFC-normalizes, drops characters for which `language.is_text_char` is False (Latin letters,
    other scripts, emoji), drops zero-width joiners left without a script letter before them,
    collapses spaces and tabs inside lines, keeps paragraph breaks (at most one blank line) and
    strips the result.
    """
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    present = set(text)
    if present.isdisjoint(JOINERS):
        # Each distinct character is classified once and the dropped ones deleted in C.
        dropped = [char for char in present if not language.is_text_char(char)]
        kept = text.translate(dict.fromkeys(map(ord, dropped))) if dropped else text
    else:
        kept = _drop_chars_keeping_joiners(text, language)
    lines = [" ".join(line.split()) for line in kept.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _drop_chars_keeping_joiners(text: str, language: Language) -> str:
    """`text` without the characters `language` does not write, character by character: a
    zero-width joiner is kept only right after a letter of the script."""
    kept: list[str] = []
    previous = ""
    for char in text:
        if char in JOINERS:
            # A joiner only means something after a letter of the script (an emoji ZWJ
            # sequence would otherwise leave invisible characters behind).
            keep = bool(previous) and language.in_script(previous) and previous not in JOINERS
        else:
            keep = language.is_text_char(char)
        if keep:
            kept.append(char)
        previous = char
    return "".join(kept)


@lru_cache(maxsize=1 << 16)
def _is_letter(char: str) -> bool:
    return unicodedata.category(char)[0] in "LM"


def _has_letter(text: str) -> bool:
    """True when `text` holds a letter or mark (each distinct character classified once)."""
    return any(map(_is_letter, set(text)))


def script_share(text: str, language: Language) -> float:
    """Share of the letters and marks in `text` that are in `language`'s script (0.0 if none).

    Characters are counted first (in C) and each distinct one classified once."""
    counts = [(c, n) for c, n in Counter(text).items() if _is_letter(c)]
    letters = sum(n for _, n in counts)
    if not letters:
        return 0.0
    return sum(n for c, n in counts if language.in_script(c)) / letters


def script_shares(texts: list[str], language_key: str) -> np.ndarray:
    """`script_share` of every text, as an array (a scorer for `story_scan.score_stories`)."""
    language = get_language(language_key)
    return np.fromiter((script_share(t, language) for t in texts), dtype=np.float64,
                       count=len(texts))


_FENCE_LINE = re.compile(r"^\s*```.*$", re.MULTILINE)
_HEADING = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+", re.MULTILINE)
_LIST_MARKER = re.compile(r"^[ \t]*(?:[-*+\u2022]|\d{1,3}[.)])[ \t]+", re.MULTILINE)
_EMPHASIS = re.compile(r"\*\*|__")


def strip_markdown(text: str) -> str:
    """Remove Markdown code-fence lines, heading marks, list markers and bold marks."""
    text = _FENCE_LINE.sub("", text)
    text = _HEADING.sub("", text)
    text = _LIST_MARKER.sub("", text)
    return _EMPHASIS.sub("", text)


@dataclass(frozen=True)
class StoryLimits:
    """What a story must satisfy to be kept (lengths in characters of the cleaned text).

    Besides script and length: the quality gates (`quality_gates.py`). `min_known_word_share`
    None means the lexicon's default; `lexicon_path` adds your own word list to the lexicon.
    """

    min_chars: int = 200
    max_chars: int = 6000
    min_script_share: float = 0.9
    max_repeated_sentence_share: float = 0.3
    max_repeated_ngram_share: float = 0.35
    min_known_word_share: float | None = None
    lexicon_path: str | None = None

    def known_word_minimum(self, language: Language) -> float:
        """The known-word share a story of `language` needs."""
        if self.min_known_word_share is not None:
            return self.min_known_word_share
        return lexicon_for(language.key, self.lexicon_path).default_min_share


def _first_problem(raw_answer: str, language: Language, limits: StoryLimits
                   ) -> tuple[str | None, str | None]:
    story = extract_story(raw_answer)
    if story is None:
        return None, REJECT_NO_JSON
    story = strip_markdown(story)
    if not _has_letter(story):
        return None, REJECT_EMPTY
    if script_share(story, language) < limits.min_script_share:
        return None, REJECT_WRONG_SCRIPT
    cleaned = clean_story(story, language)
    if not cleaned:
        return None, REJECT_EMPTY
    if unicodedata.category(cleaned[0])[0] == "M":
        return None, REJECT_STARTS_WITH_MARK
    if len(cleaned) < limits.min_chars:
        return None, REJECT_TOO_SHORT
    if len(cleaned) > limits.max_chars:
        return None, REJECT_TOO_LONG
    return cleaned, None


def validate_story(
    raw_answer: str, language: Language, limits: StoryLimits = StoryLimits()
) -> tuple[str | None, str | None]:
    """Extract, check and clean the story in an LLM answer.

    Returns (clean story, None) when it is kept, or (None, reason) with reason one of the
    `REJECT_*` constants (the quality gates' included). Markdown marks are stripped first.
    The script share is measured on the extracted story before cleaning, since cleaning would
    remove an English answer's letters and hide it; a story with no letters at all counts as
    empty. Lengths and the gates are measured on the cleaned story.
    """
    cleaned, reason = _first_problem(raw_answer, language, limits)
    if cleaned is None:
        return None, reason
    lexicon = lexicon_for(language.key, limits.lexicon_path)
    reason = gate_rejection(gate_scores(cleaned, language, lexicon),
                            limits.max_repeated_sentence_share,
                            limits.max_repeated_ngram_share, limits.known_word_minimum(language))
    return (None, reason) if reason else (cleaned, None)


def snippet(raw: str, limit: int = 300) -> str:
    """`raw` on one line (whitespace runs become single spaces), cut to `limit` characters.

    A cut text ends with "…", which counts toward the limit.
    """
    if limit < 1:
        raise ValueError(f"snippet limit must be at least 1, got {limit}")
    line = " ".join(raw.split())
    if len(line) <= limit:
        return line
    return line[: limit - 1].rstrip() + "…"
