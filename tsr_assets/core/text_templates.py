"""Checking user-written templates (prompt templates, judge rubrics) before they are used:
every problem at once, with line numbers."""

from __future__ import annotations

import string
from collections.abc import Sequence


def brace_problems(text: str) -> list[str]:
    """Unbalanced braces, by line (`{{` and `}}` are literal braces)."""
    problems: list[str] = []
    line, opened, i = 1, None, 0
    while i < len(text):
        char, pair = text[i], text[i:i + 2]
        if pair in ("{{", "}}") and opened is None:
            i += 2
            continue
        if char == "\n":
            line += 1
        elif char == "{":
            if opened is not None:
                problems.append(f"line {opened}: '{{' opened and not closed before another '{{'")
            opened = line
        elif char == "}":
            if opened is None:
                problems.append(f"line {line}: '}}' without an opening '{{' (write '}}}}' for "
                                "a literal brace)")
            opened = None
        i += 1
    if opened is not None:
        problems.append(f"line {opened}: '{{' never closed (write '{{{{' for a literal brace)")
    return problems


def placeholder_problems(text: str, allowed: Sequence[str], required: Sequence[str]
                         ) -> list[str]:
    """Every problem of a template: unbalanced braces, unknown or formatted placeholders, and
    missing required ones."""
    problems = brace_problems(text)
    if problems:
        return problems
    names = ", ".join("{" + a + "}" for a in allowed)
    used = set()
    for _, name, spec, conversion in string.Formatter().parse(text):
        if name is None:
            continue
        line = text[:text.find("{" + name)].count("\n") + 1
        used.add(name)
        if name not in allowed:
            problems.append(f"line {line}: unknown placeholder {{{name}}}; placeholders are "
                            f"{names} (write {{{{ and }}}} for literal braces)")
        elif spec or conversion:
            problems.append(f"line {line}: placeholder {{{name}}} may not carry a format")
    problems += [f"placeholder {{{slot}}} is missing" for slot in required if slot not in used]
    return problems
