"""The deterministic offline story writer, used when no LLM is configured.

It assembles a short story from a language's sentence banks (packaged in
`tsr_assets/data/<language>/`):

    story_openings.txt  story_middles.txt  story_endings.txt  tone_lines.txt  names.txt

Bank lines hold the slots `{name}`, `{noun}`, `{verb}` and `{adjective}` and gender
alternations `{m:X|f:Y}` (X after a boy's name, Y after a girl's). `tone_lines.txt` holds one
line per story feature, in the order of `features.txt`. `names.txt` holds `name<TAB>m|f`.
Every choice comes from a hash of the prompt id, so a prompt always gets the same story.
"""

from __future__ import annotations

import hashlib
import random
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tsr_assets.core.text_files import read_utf8_file

PROVIDER_NAME = "offline-template"

BANK_FILES: dict[str, str] = {
    "openings": "story_openings.txt",
    "middles": "story_middles.txt",
    "endings": "story_endings.txt",
    "tone_lines": "tone_lines.txt",
    "names": "names.txt",
}
MIN_BANK_LINES: dict[str, int] = {"openings": 30, "middles": 30, "endings": 20}
# Slots a line of each bank must hold, so that every story shows the prompt's words.
REQUIRED_SLOTS: dict[str, tuple[str, ...]] = {
    "openings": ("noun", "adjective"),
    "middles": ("verb",),
    "endings": (),
    "tone_lines": (),
}
SLOTS = ("name", "noun", "verb", "adjective")
GENDERS = ("m", "f")

_TOKEN = re.compile(r"\{([^{}]*)\}")
_ALTERNATION = re.compile(r"m:([^{}|]*)\|f:([^{}|]*)")


class SentenceBankError(ValueError):
    """A sentence bank file is missing, unreadable or holds a bad line."""


def template_problem(line: str, required: Iterable[str] = ()) -> str | None:
    """Why `line` is not a valid bank line, or None if it is.

    A valid line uses only the known slots and well-formed `{m:X|f:Y}` alternations, has no
    stray braces, and holds every slot named in `required`.
    """
    for token in _TOKEN.finditer(line):
        body = token.group(1)
        if body not in SLOTS and not _ALTERNATION.fullmatch(body):
            return (
                f"unknown slot {token.group()!r}; use {{name}}, {{noun}}, {{verb}}, "
                "{adjective} or {m:<boy form>|f:<girl form>}"
            )
    rest = _TOKEN.sub("", line)
    if "{" in rest or "}" in rest:
        return "unbalanced or nested braces"
    missing = [slot for slot in required if "{" + slot + "}" not in line]
    if missing:
        return "missing slot " + ", ".join("{" + slot + "}" for slot in missing)
    return None


def _name_problem(name: str, gender: str) -> str | None:
    if not name or "{" in name or "}" in name:
        return f"bad name {name!r}"
    if gender not in GENDERS:
        return f"gender {gender!r} must be 'm' or 'f'"
    return None


@dataclass(frozen=True)
class SentenceBanks:
    """The sentence banks of one language; checked on construction.

    `names` holds (name, gender) pairs with gender "m" or "f".
    """

    openings: tuple[str, ...]
    middles: tuple[str, ...]
    endings: tuple[str, ...]
    tone_lines: tuple[str, ...]
    names: tuple[tuple[str, str], ...]

    def __post_init__(self) -> None:
        for bank, required in REQUIRED_SLOTS.items():
            lines = getattr(self, bank)
            if not lines:
                raise SentenceBankError(f"sentence bank {bank!r} is empty")
            for index, line in enumerate(lines):
                problem = template_problem(line, required)
                if problem:
                    raise SentenceBankError(f"{bank}[{index}]: {line!r}: {problem}")
        if not self.names:
            raise SentenceBankError("sentence bank 'names' is empty")
        for name, gender in self.names:
            problem = _name_problem(name, gender)
            if problem:
                raise SentenceBankError(f"names: {problem}")


def _read_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, NFC-normalized stripped line) for each non-blank, non-comment line."""
    text = read_utf8_file(path, SentenceBankError, "sentence bank", BANK_FILES.values())
    lines = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = unicodedata.normalize("NFC", raw).strip()
        if line and not line.startswith("#"):
            lines.append((lineno, line))
    return lines


def _parse_names(path: Path) -> tuple[tuple[str, str], ...]:
    names = []
    for lineno, line in _read_lines(path):
        parts = [part.strip() for part in line.split("\t")]
        problem = (
            _name_problem(parts[0], parts[1])
            if len(parts) == 2
            else "expected a name, a tab and m or f"
        )
        if problem:
            raise SentenceBankError(
                f"{path}, line {lineno}: {line!r}: {problem}. Write 'name<TAB>m' or 'name<TAB>f'."
            )
        names.append((parts[0], parts[1]))
    return tuple(names)


def load_sentence_banks(folder: Path) -> SentenceBanks:
    """Read the five sentence bank files from `folder`.

    Skips blank lines and `#` comments and NFC-normalizes every line. Requires at least 30
    openings, 30 middles and 20 endings. Whether the tone lines match the feature count is
    checked by `write_offline_story`, which knows the features.

    Raises:
        SentenceBankError (a ValueError): naming file and line for a missing file, a malformed
            names line, an unknown slot, stray braces or a line missing a required slot.
    """
    folder = Path(folder)
    banks: dict[str, tuple[str, ...]] = {}
    for bank, required in REQUIRED_SLOTS.items():
        path = folder / BANK_FILES[bank]
        lines = _read_lines(path)
        for lineno, line in lines:
            problem = template_problem(line, required)
            if problem:
                raise SentenceBankError(f"{path}, line {lineno}: {line!r}: {problem}")
        minimum = MIN_BANK_LINES.get(bank, 1)
        if len(lines) < minimum:
            raise SentenceBankError(
                f"{path}: {len(lines)} lines, fewer than the minimum {minimum}. Add lines."
            )
        banks[bank] = tuple(line for _, line in lines)
    names = _parse_names(folder / BANK_FILES["names"])
    if not names:
        raise SentenceBankError(f"{folder / BANK_FILES['names']}: no names found")
    return SentenceBanks(names=names, **banks)


def fill_template(line: str, values: dict[str, str], gender: str) -> str:
    """Fill the slots of `line` from `values` and resolve `{m:X|f:Y}` by `gender`.

    Substitution is a single pass, so braces inside the values are never read as slots.
    """

    def replace(token: re.Match[str]) -> str:
        body = token.group(1)
        if body in values:
            return values[body]
        alternation = _ALTERNATION.fullmatch(body)
        if alternation is None:
            raise SentenceBankError(f"{line!r}: no value for slot {token.group()!r}")
        return alternation.group(1) if gender == "m" else alternation.group(2)

    return _TOKEN.sub(replace, line)


def _rng_for(prompt_id: str) -> random.Random:
    # blake2b rather than hash(): str hashes are salted per process.
    digest = hashlib.blake2b(prompt_id.encode("utf-8"), digest_size=8, person=b"tsr-offline")
    return random.Random(int.from_bytes(digest.digest(), "big"))


def write_offline_story(
    prompt_id: str,
    noun: str,
    verb: str,
    adjective: str,
    feature_index: int,
    banks: SentenceBanks,
    *,
    feature_count: int | None = None,
) -> str:
    """Write a short story for one prompt from the sentence banks, deterministically.

    The same `prompt_id` always gives the same name and sentences; different ids usually
    give different ones. The story has 3 or 4 paragraphs separated by a blank line: an
    opening (with the noun and adjective), one or two different middles (with the verb), and
    the feature's tone line followed by an ending.

    Args:
        feature_index: position of the prompt's feature in features.txt.
        feature_count: number of features; when given, the tone lines must match it.

    Raises:
        ValueError: when `feature_index` has no tone line or the counts differ.
    """
    if feature_count is not None and feature_count != len(banks.tone_lines):
        raise ValueError(
            f"the sentence banks hold {len(banks.tone_lines)} tone lines but there are "
            f"{feature_count} features: tone_lines.txt needs one line per feature, in the "
            "order of features.txt"
        )
    if not 0 <= feature_index < len(banks.tone_lines):
        raise ValueError(
            f"feature index {feature_index} is out of range: there are "
            f"{len(banks.tone_lines)} tone lines"
        )
    rng = _rng_for(prompt_id)
    name, gender = rng.choice(banks.names)
    opening = rng.choice(banks.openings)
    middle_count = 2 if len(banks.middles) > 1 and rng.random() < 0.5 else 1
    middles = rng.sample(banks.middles, middle_count)
    ending = rng.choice(banks.endings)

    values = {"name": name, "noun": noun, "verb": verb, "adjective": adjective}
    paragraphs = [fill_template(opening, values, gender)]
    paragraphs += [fill_template(middle, values, gender) for middle in middles]
    paragraphs.append(
        fill_template(banks.tone_lines[feature_index], values, gender)
        + " "
        + fill_template(ending, values, gender)
    )
    return unicodedata.normalize("NFC", "\n\n".join(paragraphs))
