"""Reading and validating word-list folders (nouns, verbs, adjectives, features).

A word-list folder holds five UTF-8 text files, one entry per line, named either way:

    nouns.txt  verbs.txt  adjectives.txt  features.txt  features_en.txt
    <language>-nouns.txt  ...  <language>-features.txt  english-features.txt

`features` (in the language) and `features_en` (English) are the same features line for line;
they need the same length only when prompts word features in English. Parsing accepts a BOM,
CRLF line ends, surrounding spaces and quotes, blank lines and `#` comments, and NFC-normalizes
every entry. Every problem of a folder is collected; with the default policies duplicates are
dropped (and listed) and invalid entries are errors, reported all at once in one
`WordlistError` naming file, line, entry and problem.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass, field
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
#: The other naming scheme research groups use (`{language}` is the language key).
ALTERNATE_FILES: dict[str, str] = {
    "nouns": "{language}-nouns.txt",
    "verbs": "{language}-verbs.txt",
    "adjectives": "{language}-adjectives.txt",
    "features": "{language}-features.txt",
    "features_en": "english-features.txt",
}

MIN_COUNTS: dict[str, int] = {
    "nouns": 150,
    "verbs": 150,
    "adjectives": 150,
    "features": 15,
    "features_en": 15,
}

# Besides the script's own characters, a word may hold spaces and these joiners; features
# (short phrases) may hold any punctuation.
_ENTRY_PUNCTUATION = set(" -,'’")
_QUOTE_PAIRS = {'"': '"', "'": "'", "\u201c": "\u201d", "\u2018": "\u2019", "\u00ab": "\u00bb"}
PHRASE_LISTS = ("features", "features_en")


@dataclass(frozen=True)
class EntryProblem:
    """One entry that is not usable: where it is, what it is, and why."""

    file: str
    line: int
    entry: str
    problem: str
    kind: str  # "invalid" or "duplicate"

    def __str__(self) -> str:
        return f"{self.file}, line {self.line}: {self.entry!r}: {self.problem}"


class WordlistError(ValueError):
    """A word-list folder cannot be used; the message lists every problem found."""

    def __init__(self, problems: list[str] | str) -> None:
        problems = [problems] if isinstance(problems, str) else problems
        self.problems = problems
        head = (f"{len(problems)} problems:" if len(problems) > 1 else "")
        super().__init__("\n".join([head, *(f"- {p}" for p in problems)]) if head
                         else problems[0])


@dataclass(frozen=True)
class WordlistPolicies:
    """What to do with duplicate and invalid entries: `drop` them (listing each) or `error`."""

    on_duplicate: str = "drop"
    on_invalid: str = "error"

    def __post_init__(self) -> None:
        for name in ("on_duplicate", "on_invalid"):
            if getattr(self, name) not in ("drop", "error"):
                raise ValueError(f"{name} must be 'drop' or 'error', not {getattr(self, name)!r}")

    def drops(self, problem: EntryProblem) -> bool:
        """True when the policy drops this problem's entry instead of failing."""
        policy = self.on_duplicate if problem.kind == "duplicate" else self.on_invalid
        return policy == "drop"


@dataclass(frozen=True)
class Wordlists:
    """The parsed, normalized wordlists of one language (and what was dropped on the way)."""

    nouns: tuple[str, ...]
    verbs: tuple[str, ...]
    adjectives: tuple[str, ...]
    features: tuple[str, ...]
    features_en: tuple[str, ...]
    source_dir: str
    dropped: tuple[EntryProblem, ...] = field(default=())

    def as_dict(self) -> dict[str, list[str]]:
        """The five lists by name, as plain lists (for JSON)."""
        return {name: list(getattr(self, name)) for name in WORDLIST_FILES}

    def counts(self) -> dict[str, int]:
        """Number of entries per list."""
        return {name: len(getattr(self, name)) for name in WORDLIST_FILES}

    @property
    def features_aligned(self) -> bool:
        """True when the native and English features can be paired line for line."""
        return len(self.features) == len(self.features_en)

    @property
    def combination_count(self) -> int:
        """Size of the (noun, verb, adjective, feature) product."""
        return len(self.nouns) * len(self.verbs) * len(self.adjectives) * len(self.features)


def normalize_entry(raw: str) -> str:
    """NFC-normalize, strip, collapse inner whitespace, and drop one pair of quotes around it."""
    entry = " ".join(unicodedata.normalize("NFC", raw).split())
    if len(entry) >= 2 and _QUOTE_PAIRS.get(entry[0]) == entry[-1]:
        entry = " ".join(entry[1:-1].split())
    return entry


def entry_problem(entry: str, language: Language | None, phrase: bool = False) -> str | None:
    """Why `entry` is not a valid word of `language` (None = English/Latin), or None if valid.

    A `phrase` (a feature) may also hold any punctuation.
    """
    def allowed(char: str) -> bool:
        return char in _ENTRY_PUNCTUATION or (phrase and unicodedata.category(char)[0] == "P")

    for char in entry:
        if allowed(char):
            continue
        if language is None:
            if not (char.isascii() and char.isalpha()):
                return f"character {char!r} (U+{ord(char):04X}) is not a Latin letter"
        elif not language.in_script(char):
            return (
                f"character {char!r} (U+{ord(char):04X}) is not in the {language.script} script "
                f"used for {language.display_name}"
            )
    if all(allowed(c) for c in entry):
        return "entry has no letters"
    return None


@dataclass
class ParsedList:
    """The usable entries of one file and the problems of the others."""

    entries: list[str] = field(default_factory=list)
    problems: list[EntryProblem] = field(default_factory=list)


def parse_wordlist_text(text: str, *, source: str, language: Language | None,
                        phrase: bool = False) -> ParsedList:
    """Parse one word list's text: every usable entry, and every invalid or duplicate line.

    Args:
        text: file contents (a leading BOM is ignored).
        source: file name used in messages.
        language: the script every entry must be in; None means English (Latin letters).
        phrase: entries are short phrases (features) and may hold punctuation.
    """
    parsed = ParsedList()
    first_line: dict[str, int] = {}
    for lineno, raw in enumerate(text.lstrip("\ufeff").splitlines(), start=1):
        entry = normalize_entry(raw)
        if not entry or entry.startswith("#"):
            continue
        problem = entry_problem(entry, language, phrase)
        if problem:
            parsed.problems.append(EntryProblem(source, lineno, entry, problem, "invalid"))
        elif entry in first_line:
            parsed.problems.append(EntryProblem(
                source, lineno, entry, f"duplicates line {first_line[entry]} (after Unicode NFC "
                "normalization and trimming)", "duplicate"))
        else:
            first_line[entry] = lineno
            parsed.entries.append(entry)
    return parsed


def wordlist_file(folder: Path, name: str, language_key: str) -> Path | None:
    """The file of list `name` in `folder` under either naming scheme, or None."""
    for candidate in (WORDLIST_FILES[name], ALTERNATE_FILES[name].format(language=language_key)):
        if (folder / candidate).is_file():
            return folder / candidate
    return None


def read_wordlist_file(path: Path, language: Language | None, phrase: bool = False
                       ) -> ParsedList:
    """Read and parse one word-list file (bad UTF-8 raises naming the file and line)."""
    text = read_utf8_file(path, WordlistError, "wordlist", WORDLIST_FILES.values())
    return parse_wordlist_text(text, source=str(path), language=language, phrase=phrase)


def _read_folder(folder: Path, language: Language) -> tuple[dict[str, ParsedList], list[str]]:
    """Every list's parse, and the folder-level problems (missing, unreadable or empty files)."""
    parsed, errors = {}, []
    for name in WORDLIST_FILES:
        path = wordlist_file(folder, name, language.key)
        if path is None:
            errors.append(f"{folder}: no {WORDLIST_FILES[name]} (or "
                          f"{ALTERNATE_FILES[name].format(language=language.key)})")
            continue
        try:
            parsed[name] = read_wordlist_file(path, None if name == "features_en" else language,
                                              phrase=name in PHRASE_LISTS)
        except WordlistError as exc:
            errors.append(str(exc))
    return parsed, errors


def load_wordlists(folder: str | Path, language: Language,
                   policies: WordlistPolicies = WordlistPolicies()) -> Wordlists:
    """Read the five word lists of `language` from `folder`, applying `policies`.

    Raises:
        WordlistError: listing every problem the policies do not drop, and every missing,
            unreadable or (after dropping) empty file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise WordlistError(
            f"{folder}: wordlist folder not found for language {language.key!r}. "
            "Point the asset at a folder holding " + ", ".join(WORDLIST_FILES.values())
        )
    parsed, errors = _read_folder(folder, language)
    problems = [p for lst in parsed.values() for p in lst.problems]
    errors += [f"{p}. Fix or remove the entry ('#' starts a comment)" for p in problems
               if not policies.drops(p)]
    errors += [f"{folder}: {name} has no usable entries; put one entry per line"
               for name, lst in parsed.items() if not lst.entries]
    if errors:
        raise WordlistError(errors)
    return Wordlists(**{k: tuple(v.entries) for k, v in parsed.items()}, source_dir=str(folder),
                     dropped=tuple(problems))


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
            problem = entry_problem(normalized, script_lang, phrase=name in PHRASE_LISTS)
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
        "dropped": [{"file": p.file, "line": p.line, "entry": p.entry, "problem": p.problem}
                    for p in lists.dropped],
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
