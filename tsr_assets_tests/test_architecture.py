"""The house rules, measured on the source: packages import only packages below them, Dagster
only in the wiring layer. (There is no line cap: a module is as long as its reading needs.)"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "tsr_assets"
#: Each package may import only packages on a lower level.
LEVELS = {"core": 0, "llm": 1, "prompts": 1, "tokenizers": 1, "stories": 2, "data_quality": 3,
          "translation": 3, "model": 3, "evaluation": 4, "reports": 5, "scale_out": 5,
          "defs": 6,
          "definitions": 7, "cli": 8}
WIRING = {"defs", "definitions", "cli"}


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).parts
        if parts == ("__init__.py",):
            continue
        yield path, (parts[0] if len(parts) > 1 else parts[0].removesuffix(".py"))


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
    return names


def test_no_import_runs_back_up_the_house() -> None:
    wrong = []
    for path, package in _modules():
        assert package in LEVELS, f"{path}: a package without a level; add it to LEVELS"
        for name in _imports(path):
            if name.startswith("tsr_assets."):
                target = name.split(".")[1]
                if target != package and LEVELS[target] >= LEVELS[package]:
                    wrong.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert not wrong, "imports from a package on the same or a higher level:\n" + "\n".join(wrong)


def test_dagster_only_in_the_wiring_layer() -> None:
    leaks = [str(path.relative_to(PACKAGE)) for path, package in _modules()
             if package not in WIRING
             and any(n == "dagster" or n.startswith("dagster.") for n in _imports(path))]
    assert not leaks, f"Dagster imported outside defs/, definitions.py and cli.py: {leaks}"
