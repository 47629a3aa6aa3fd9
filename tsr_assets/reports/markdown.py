"""Helpers that turn data into metadata a person can read in the Dagster UI."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl


def _cell(value: Any, max_chars: int) -> str:
    text = "" if value is None else str(value)
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def markdown_table(
    rows: Sequence[Sequence[Any]], header: Sequence[str], max_chars: int = 80
) -> str:
    """A markdown table; cells are flattened to one line and cut at `max_chars`."""
    lines = [
        "| " + " | ".join(header) + " |",
        "| " + " | ".join("---" for _ in header) + " |",
    ]
    lines += ["| " + " | ".join(_cell(v, max_chars) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def frame_preview(frame: pl.DataFrame, rows: int = 5, max_chars: int = 80) -> str:
    """The first `rows` rows of a polars frame as a markdown table."""
    head = frame.head(rows)
    return markdown_table(head.rows(), head.columns, max_chars=max_chars)


def png_markdown(png: bytes, alt: str) -> str:
    """Markdown that shows a PNG inline in the Dagster UI (embedded as base64)."""
    import base64

    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"
