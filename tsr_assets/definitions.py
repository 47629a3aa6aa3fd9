"""The platform's definitions, found in the defs folder rather than listed: Dagster autoloads
every module of `tsr_assets/defs/` with a `@dg.definitions` function (one per stage: its
assets, checks, jobs, sensors or resources) and every component instance (`defs.yaml`: the
model sizes and imported models under `defs/models/`). Adding a stage is adding a module;
adding a model size is adding a YAML file.

`dg check defs`, `dg list defs`, `dg dev`, `dagster asset materialize -m tsr_assets.definitions`
and `workspace.yaml` all load `defs` below. `build_definitions(...)` is the same load with a
variation for one caller (a subset of languages, a seed size the folder does not declare, the
deployed executor and retries; `defs/load_scope.py`).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import dagster as dg
from dagster.components.core.component_tree import ComponentTreeException

from tsr_assets.defs.config_limits import enforce_config_limits
from tsr_assets.defs.load_scope import LoadScope, loading

# Partitioned asset checks are a preview feature in Dagster 1.13; we rely on them knowingly.
warnings.filterwarnings("ignore", category=dg.PreviewWarning, message=".*partitions_def.*")
# The automation sensor runs in the code server because `PartitionsWhere` is Python (beta).
warnings.filterwarnings("ignore", category=dg.BetaWarning, message=".*use_user_code_server.*")
# Pipes' own internals use a preview API of Dagster 1.13 on every launch.
warnings.filterwarnings("ignore", category=dg.PreviewWarning, message=".*expected_writer_count.*")


#: This `dg` project (pyproject.toml's `[tool.dg]` names `tsr_assets.defs` its defs module).
PROJECT = Path(__file__).resolve().parent


def build_definitions(
    languages: Sequence[str] | None = None,
    presets: Sequence[str] | None = None,
    executor: dg.ExecutorDefinition | None = None,
    imports: Mapping[str, str] | None = None,
    op_retry_policy: dg.RetryPolicy | None = None,
    extra_presets: Sequence[str] = (),
    project: Path | None = None,
) -> dg.Definitions:
    """The defs folder's definitions, for `languages` (default: every registered one), exactly
    the model `presets` and `imports` given (default: the folder's `ModelPreset` and
    `ImportedModel` instances, or `$TSR_PRESETS` / `$TSR_IMPORTED_MODELS`), plus
    `extra_presets` (seed sizes of `model/presets.py` for this load only). `executor` defaults
    to in-process (one run, one process); `deploy/celery/definitions.py` passes Celery's.
    `project`: another `dg` project's defs folder (a test's copy of this one)."""
    scope = LoadScope(languages=tuple(languages) if languages else None,
                      presets=tuple(presets) if presets is not None else None,
                      extra_presets=tuple(extra_presets),
                      imports=dict(imports) if imports is not None else None,
                      op_retry_policy=op_retry_policy)
    with loading(scope):
        try:
            loaded = dg.load_from_defs_folder(path_within_project=project or PROJECT)
        except ComponentTreeException as exc:
            raise _declaration_error(exc) from exc
    # Out-of-range run config is refused before a run is created (defs/config_limits.py).
    enforce_config_limits([*(loaded.assets or []), *(loaded.asset_checks or [])],
                          loaded.resources or {})
    return dg.Definitions.merge(loaded,
                                dg.Definitions(executor=executor or dg.in_process_executor))


def _declaration_error(exc: ComponentTreeException) -> Exception:
    """A wrong declaration (a bad field in a model's `defs.yaml`, an unknown preset) as a
    ValueError that names where (`tsr_assets/defs/models/odd/defs.yaml`) and what, rather than
    Dagster's tree of every module loaded."""
    where = str(exc).splitlines()[0].rstrip(":")
    cause: BaseException | None = exc
    while isinstance(cause, ComponentTreeException) or (
            cause is not None and not isinstance(cause, ValueError)):
        cause = cause.__cause__
    if cause is None:
        return exc
    component = re.search(r"component (\S+?)(\[\d+\])?$", where)
    if component:
        where = f"{component.group(1)}/defs.yaml under the defs folder"
    return ValueError(f"{where}: {cause}")


@dg.definitions
def defs() -> dg.Definitions:
    """The platform as the defs folder declares it (what `dg`, the UI and the CLI load)."""
    return build_definitions()
