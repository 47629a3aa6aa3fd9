"""Reading and validating wordlist folders (nouns, verbs, adjectives, features).

A wordlist folder holds five UTF-8 text files, one entry per line:

    nouns.txt  verbs.txt  adjectives.txt  features.txt  features_en.txt

`features.txt` (in the language) and `features_en.txt` (English) are aligned line for line.
Parsing accepts a BOM, CRLF line ends, surrounding spaces, blank lines and `#` comments, and
NFC-normalizes every entry. Problems raise `WordlistError` naming file, line and the fix.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from tsr_assets.core.atomic_files import write_json_atomic
from tsr_assets.core.languages import Language, get_language
from tsr_assets.core.text_files import read_utf8_file

WORDLIST_FILES: dict[str, str] = {
    "nouns": "nouns.txt",
    "verbs": "verbs.txt",
    "adjectives": "adjectives.txt",
    "features": "features.txt",
    "features_en": "features_en.txt",
}

MIN_COUNTS: dict[str, int] = {
    "nouns": 150,
    "verbs": 150,
    "adjectives": 150,
    "features": 15,
    "features_en": 15,
}

# Besides the script's own characters, an entry may hold spaces and these joiners.
_ENTRY_PUNCTUATION = set(" -,'’")


class WordlistError(ValueError):
    """A wordlist file is missing, unreadable or holds a bad entry."""


@dataclass(frozen=True)
class Wordlists:
    """The parsed, normalized wordlists of one language."""

    nouns: tuple[str, ...]
    verbs: tuple[str, ...]
    adjectives: tuple[str, ...]
    features: tuple[str, ...]
    features_en: tuple[str, ...]
    source_dir: str

    def as_dict(self) -> dict[str, list[str]]:
        """The five lists by name, as plain lists (for JSON)."""
        return {name: list(getattr(self, name)) for name in WORDLIST_FILES}

    def counts(self) -> dict[str, int]:
        """Number of entries per list."""
        return {name: len(getattr(self, name)) for name in WORDLIST_FILES}

    @property
    def combination_count(self) -> int:
        """Size of the (noun, verb, adjective, feature) product."""
        return len(self.nouns) * len(self.verbs) * len(self.adjectives) * len(self.features)


def normalize_entry(raw: str) -> str:
    """NFC-normalize, strip, and collapse inner runs of whitespace to one space."""
    return " ".join(unicodedata.normalize("NFC", raw).split())


def entry_problem(entry: str, language: Language | None) -> str | None:
    """Why `entry` is not a valid word of `language` (None = English/Latin), or None if valid."""
    for char in entry:
        if char in _ENTRY_PUNCTUATION:
            continue
        if language is None:
            if not (char.isascii() and char.isalpha()):
                return f"character {char!r} (U+{ord(char):04X}) is not a Latin letter"
        elif not language.in_script(char):
            return (
                f"character {char!r} (U+{ord(char):04X}) is not in the {language.script} script "
                f"used for {language.display_name}"
            )
    if not any(c not in _ENTRY_PUNCTUATION for c in entry):
        return "entry has no letters"
    return None


def parse_wordlist_text(text: str, *, source: str, language: Language | None) -> list[str]:
    """Parse one wordlist's text into normalized entries.

    Args:
        text: file contents (a leading BOM is ignored).
        source: file name used in error messages.
        language: the script every entry must be in; None means English (Latin letters).

    Raises:
        WordlistError: for wrong-script entries, duplicates (after normalization) or no entries.
    """
    entries: list[str] = []
    first_line: dict[str, int] = {}
    for lineno, raw in enumerate(text.lstrip("\ufeff").splitlines(), start=1):
        entry = normalize_entry(raw)
        if not entry or entry.startswith("#"):
            continue
        problem = entry_problem(entry, language)
        if problem:
            raise WordlistError(
                f"{source}, line {lineno}: {entry!r}: {problem}. "
                "Fix or remove the entry (comments start with '#')."
            )
        if entry in first_line:
            raise WordlistError(
                f"{source}, line {lineno}: {entry!r} duplicates line {first_line[entry]} "
                "(after Unicode NFC normalization and whitespace trimming). Remove one of them."
            )
        first_line[entry] = lineno
        entries.append(entry)
    if not entries:
        raise WordlistError(
            f"{source}: no entries found. Put one entry per line ('#' starts a comment)."
        )
    return entries


def read_wordlist_file(path: Path, language: Language | None) -> list[str]:
    """Read and parse one wordlist file, with errors that name the file."""
    text = read_utf8_file(path, WordlistError, "wordlist", WORDLIST_FILES.values())
    return parse_wordlist_text(text, source=str(path), language=language)


def load_wordlists(folder: str | Path, language: Language) -> Wordlists:
    """Read the five wordlist files of `language` from `folder`."""
    folder = Path(folder)
    if not folder.is_dir():
        raise WordlistError(
            f"{folder}: wordlist folder not found for language {language.key!r}. "
            "Point the asset at a folder holding " + ", ".join(WORDLIST_FILES.values())
        )
    lists = {
        name: read_wordlist_file(folder / file, None if name == "features_en" else language)
        for name, file in WORDLIST_FILES.items()
    }
    if len(lists["features"]) != len(lists["features_en"]):
        raise WordlistError(
            f"{folder / 'features.txt'} has {len(lists['features'])} entries but "
            f"{folder / 'features_en.txt'} has {len(lists['features_en'])}: the two files must "
            "list the same features line for line (one in the language, one in English)."
        )
    return Wordlists(**{k: tuple(v) for k, v in lists.items()}, source_dir=str(folder))


def wordlist_problems(
    lists: dict[str, list[str]],
    language: Language,
    min_counts: dict[str, int] | None = None,
) -> list[str]:
    """All problems of already-parsed lists: script, duplicates after NFC, minimum counts.

    Used by the asset check on the stored output, so it re-derives everything from the data
    rather than trusting the parser.
    """
    minimums = MIN_COUNTS if min_counts is None else min_counts
    problems: list[str] = []
    for name in WORDLIST_FILES:
        entries = lists.get(name, [])
        script_lang = None if name == "features_en" else language
        seen: set[str] = set()
        for entry in entries:
            normalized = normalize_entry(entry)
            problem = entry_problem(normalized, script_lang)
            if problem:
                problems.append(f"{name}: {entry!r}: {problem}")
            if normalized in seen:
                problems.append(f"{name}: {entry!r} appears more than once")
            seen.add(normalized)
        if len(entries) < minimums.get(name, 0):
            problems.append(
                f"{name}: {len(entries)} entries, fewer than the minimum {minimums[name]}"
            )
    return problems


def save_wordlists(path: Path, lists: Wordlists, language_key: str) -> None:
    """Store parsed lists as the `wordlists` asset's `wordlists.json` (atomically)."""
    write_json_atomic(path, {
        "language": language_key,
        "source_dir": lists.source_dir,
        "counts": lists.counts(),
        "combinations": lists.combination_count,
        "lists": lists.as_dict(),
    })


def read_stored_wordlists(path: Path) -> dict:
    """The `wordlists` asset's stored output (`wordlists.json`), or a clear error if missing."""
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: materialize `wordlists` for this language first"
        )
    return json.loads(path.read_text(encoding="utf-8"))


def stored_wordlists(path: Path) -> Wordlists:
    """The stored word lists as `Wordlists`."""
    stored = read_stored_wordlists(path)
    return Wordlists(**{name: tuple(v) for name, v in stored["lists"].items()},
                     source_dir=stored["source_dir"])


def resolve_source_dir(source_dir: str | None, language_key: str) -> Path:
    """The folder to read for `language_key`: `<dir>/<language>` if it exists, else `<dir>`."""
    language = get_language(language_key)
    if not source_dir:
        return language.package_data_dir
    base = Path(source_dir).expanduser()
    return base / language_key if (base / language_key).is_dir() else base
