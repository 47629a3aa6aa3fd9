"""Evaluation story openers: the team's packaged list per language, or a user's file.

Line k of every packaged `eval_openers.txt` means the same as line k of the English master
list, so scores can be compared across languages opener by opener.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path

from tsr_assets.core.languages import Language
from tsr_assets.core.text_files import read_utf8_file

OPENERS_FILE = "eval_openers.txt"


class OpenersError(ValueError):
    """An openers file is missing, empty or has a line in the wrong script."""


@dataclass(frozen=True)
class Opener:
    """One opener: its position in the list (the id shared across languages) and its text."""

    index: int
    text: str

    @property
    def prompt_id(self) -> str:
        """Stable id of the opener, e.g. `opener-007`."""
        return f"opener-{self.index:03d}"


def load_openers(language: Language, path: str | Path | None = None,
                 min_script_share: float = 0.5) -> list[Opener]:
    """Openers for `language`: from `path` (one per line) or the packaged file.

    Blank lines and `#` comments are skipped and lines NFC-normalized. A line with less than
    `min_script_share` of its letters in the language's script is an error naming the line.
    """
    from tsr_assets.stories.parsing import script_share

    source = Path(path) if path else language.package_data_dir / OPENERS_FILE
    if not source.is_file():
        raise OpenersError(f"openers file {source} does not exist; give one opener per line")
    openers = []
    text = read_utf8_file(source, OpenersError, "openers", [OPENERS_FILE])
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = unicodedata.normalize("NFC", raw.strip())
        if not line or line.startswith("#"):
            continue
        if script_share(line, language) < min_script_share:
            raise OpenersError(f"{source}, line {lineno}: {line[:60]!r} is not in "
                               f"{language.display_name} ({language.script}) script")
        openers.append(Opener(len(openers), line))
    if not openers:
        raise OpenersError(f"{source} holds no openers; give one opener per line")
    return openers
