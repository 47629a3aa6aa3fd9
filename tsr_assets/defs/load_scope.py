"""What one load of the definitions covers: the languages, the models beyond those declared
in the defs folder, and the step retries.

Dagster finds the platform's definitions in the `defs/` folder (`dg.load_from_defs_folder`):
every module with a `@dg.definitions` function, and every component instance (a `defs.yaml`,
e.g. a model size under `defs/models/`). The folder is what a deployment has. A few callers
need a variation of it for one load, and say so through `build_definitions(...)`, which sets
this scope while the folder loads:

- `languages`: a subset of the registered languages (a test of three languages' crons);
- `presets` / `imports`: exactly these model sizes and imported models instead of the declared
  ones; `extra_presets` / `extra_imports`: these on top of them (`tsr run --presets e64_l2`
  trains a seed size the folder does not declare, for that run only);
- `op_retry_policy`: the deployed platform's step retries (Celery, Kubernetes).

`$TSR_PRESETS` and `$TSR_IMPORTED_MODELS` are the same overrides from the environment, for one
process (documented in docs/training.md); without them the folder decides.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

import dagster as dg

from tsr_assets.defs.partitions import Partitions, build_partitions

PRESETS_ENV = "TSR_PRESETS"
IMPORTS_ENV = "TSR_IMPORTED_MODELS"


@dataclass(frozen=True)
class LoadScope:
    """The variations of one load of the defs folder (see the module's docstring)."""

    languages: tuple[str, ...] | None = None
    presets: tuple[str, ...] | None = None
    extra_presets: tuple[str, ...] = ()
    imports: Mapping[str, str] | None = None
    extra_imports: Mapping[str, str] = field(default_factory=dict)
    op_retry_policy: dg.RetryPolicy | None = None

    def with_environment(self) -> LoadScope:
        """`$TSR_PRESETS` / `$TSR_IMPORTED_MODELS` where the caller named no exact set."""
        presets, imports = self.presets, self.imports
        if presets is None and os.environ.get(PRESETS_ENV, "").strip():
            presets = tuple(p.strip() for p in os.environ[PRESETS_ENV].split(",") if p.strip())
        if imports is None and os.environ.get(IMPORTS_ENV, "").strip():
            imports = parse_imports(os.environ[IMPORTS_ENV])
        return LoadScope(self.languages, presets, self.extra_presets, imports,
                         self.extra_imports, self.op_retry_policy)

    def partitions(self) -> Partitions:
        """The partitions of this load (every registered language and tokenizer by default)."""
        return build_partitions(self.languages)


def parse_imports(text: str) -> dict[str, str]:
    """`name=source,name2=source2` (the form of `$TSR_IMPORTED_MODELS`) as a dict."""
    imports = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        name, _, source = item.partition("=")
        if not source:
            raise ValueError(f"${IMPORTS_ENV}: {item!r} is not name=source")
        imports[name.strip()] = source.strip()
    return imports


_SCOPE: ContextVar[LoadScope | None] = ContextVar("tsr_load_scope", default=None)


@contextmanager
def loading(scope: LoadScope) -> Iterator[None]:
    """Load the defs folder under `scope` (environment overrides applied once, here)."""
    token = _SCOPE.set(scope.with_environment())
    try:
        yield
    finally:
        _SCOPE.reset(token)


def current_scope() -> LoadScope:
    """The scope of the load in progress (`dg`, the webserver and a plain import get the
    default: the folder as it is, with the environment's overrides)."""
    return _SCOPE.get() or LoadScope().with_environment()


def stage_definitions(items: Sequence[dg.AssetsDefinition | dg.AssetChecksDefinition],
                      **more) -> dg.Definitions:
    """One stage's assets and checks (as its `build_*` function returns them) as Definitions."""
    checks = [i for i in items if isinstance(i, dg.AssetChecksDefinition)]
    return dg.Definitions(assets=[i for i in items if i not in checks], asset_checks=checks,
                          **more)
