"""User-written templates (prompt templates, judge rubrics): their placeholders, every problem at
once with line numbers, and one `str.format` string compiled from them for fast rendering.

The rules, read left to right:

* `{{` and `}}` are a literal `{` and `}` (the `str.format` escapes).
* `{name}`, where `name` is a plain identifier (ASCII letters, digits and `_`, not starting with
  a digit, nothing else between the braces), is a placeholder. It must be one of the allowed
  names or an alias of one (e.g. `{feature1}` for `{feature}`); any other name is an error that
  names it, and every unknown name of a text is listed in the same list of problems.
* Any other `{` opens a literal block, such as a JSON example `{"story": "..."}`, on one line or
  spanning several: it runs to its matching `}` (nested braces are counted) and is kept exactly
  as written; nothing inside it is a placeholder or an escape.
* Except for an allowed name written as a placeholder with spaces or a format (`{ noun }`,
  `{noun:>10}`, `{noun!r}`): that is an error rather than a literal, as it is surely a typo.
* A `}` outside any placeholder or block, and a block that never closes, are errors.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"
#: At the top level: an escape, a placeholder, or a lone brace.
_TOKEN = re.compile(r"\{\{|\}\}|\{(" + _IDENTIFIER + r")\}|[{}]")
_BRACE = re.compile(r"[{}]")
#: The inside of a block that is a misspelt placeholder when its name is allowed.
_NEAR_PLACEHOLDER = re.compile(r"\s*(" + _IDENTIFIER + r")\s*(?:![rsa])?\s*(?::[^\s{}\"']*)?\s*")


class TemplateTextError(ValueError):
    """A template's text cannot be used; `problems` lists every one."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = list(problems)


@dataclass(frozen=True)
class ParsedTemplate:
    """A template's text, parsed: the canonical `str.format` string (placeholders under their
    canonical names, every literal brace doubled), the names it uses, and its problems."""

    format_string: str
    used: frozenset[str]
    problems: tuple[str, ...]


def _escape(literal: str) -> str:
    return literal.replace("{", "{{").replace("}", "}}")


def _known_names(allowed: Sequence[str], aliases: Mapping[str, str]) -> str:
    names = ", ".join("{" + a + "}" for a in allowed)
    if aliases:
        names += " (also " + ", ".join(f"{{{alias}}} for {{{name}}}"
                                       for alias, name in aliases.items()) + ")"
    return names


def parse_template(text: str, allowed: Sequence[str], aliases: Mapping[str, str] | None = None,
                   required: Sequence[str] = ()) -> ParsedTemplate:
    """Parse `text` by the rules above. `aliases` maps other accepted names to allowed ones;
    `required` names must each appear (directly or through an alias)."""
    aliases = {alias: name for alias, name in (aliases or {}).items() if name in allowed}
    canonical = {name: name for name in allowed} | aliases
    pieces: list[str] = []
    used: set[str] = set()
    problems: list[str] = []
    unknown = False

    def line_of(position: int) -> int:
        return text.count("\n", 0, position) + 1

    literal_start = position = 0
    while (match := _TOKEN.search(text, position)) is not None:
        token, start = match.group(0), match.start()
        position = match.end()
        if token in ("{{", "}}"):
            pieces.append(_escape(text[literal_start:start]) + token)
            literal_start = position
        elif match.group(1) is not None:
            name = match.group(1)
            pieces.append(_escape(text[literal_start:start]))
            literal_start = position
            if name in canonical:
                used.add(canonical[name])
                pieces.append("{" + canonical[name] + "}")
            else:
                unknown = True
                problems.append(f"line {line_of(start)}: unknown placeholder {{{name}}}")
        elif token == "}":
            problems.append(f"line {line_of(start)}: '}}' without an opening '{{' (write '}}}}' "
                            "for a literal brace)")
        else:  # a literal block: up to the matching brace, kept as written
            depth, end = 1, None
            for brace in _BRACE.finditer(text, position):
                depth += 1 if brace.group(0) == "{" else -1
                if depth == 0:
                    end = brace.end()
                    break
            if end is None:
                problems.append(f"line {line_of(start)}: '{{' never closed (write '{{{{' for a "
                                "literal brace)")
                break
            near = _NEAR_PLACEHOLDER.fullmatch(text, start + 1, end - 1)
            if near is not None and near.group(1) in canonical:
                problems.append(f"line {line_of(start)}: placeholder {text[start:end]!r} must be "
                                f"written {{{near.group(1)}}}, without spaces or a format")
            position = end
    pieces.append(_escape(text[literal_start:]))
    if unknown:
        problems.append(f"the placeholders are {_known_names(allowed, aliases)}; a brace block "
                        "that is not one (e.g. a JSON example) is kept as written, and {{ and }} "
                        "are literal braces")
    problems += [f"placeholder {{{slot}}} is missing" for slot in required if slot not in used]
    return ParsedTemplate("".join(pieces), frozenset(used), tuple(problems))


def placeholder_problems(text: str, allowed: Sequence[str], required: Sequence[str],
                         aliases: Mapping[str, str] | None = None) -> list[str]:
    """Every problem of a template: unbalanced braces, unknown or formatted placeholders, and
    missing required ones."""
    return list(parse_template(text, allowed, aliases, required).problems)


def compile_template(text: str, allowed: Sequence[str],
                     aliases: Mapping[str, str] | None = None) -> str:
    """The `str.format` string that renders `text` (compile once, then `.format(**values)`).

    Raises:
        TemplateTextError: listing every problem.
    """
    parsed = parse_template(text, allowed, aliases)
    if parsed.problems:
        raise TemplateTextError(parsed.problems)
    return parsed.format_string
