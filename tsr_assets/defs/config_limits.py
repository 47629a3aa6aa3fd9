"""Run config limits, checked before a run is created.

Every number a run takes is limited where it is declared: `pydantic.Field(ge=/gt=/le=/lt=)` (or
a validator) on the `dg.Config` and `ConfigurableResource` fields, and on the `TrainConfig`
dataclass fields the training config is generated from. Dagster itself only checks types when
it resolves run config, and builds the `Config` object (where pydantic checks the limits) only
when the step runs, after the run was created. `enforce_config_limits` closes that gap: it
makes Dagster's own config processing (`ResolvedRunConfig.build`, which runs before a run is
created on every path: the launchpad's Launch, `dagster asset materialize --config-json`,
`execute_in_process`, `dg.validate_run_config`) validate each op's and resource's config with
its class, so an out-of-range value is refused as a config error naming the field, the value
and the allowed range. `tsr` reads the same errors back (`limit_problems`) for its one-line
messages: there is no second list of limits.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import dagster as dg
from dagster._config.errors import PostProcessingError  # the error Dagster reports as config
from pydantic import BaseModel, ValidationError


def _limit_message(error: Mapping[str, Any]) -> str:
    """`field = value: must be ...` for one pydantic error (the validator's text for a check
    across fields)."""
    field = ".".join(str(part) for part in error.get("loc", ()))
    text = str(error.get("msg", "")).replace("Input should be", "must be")
    text = text.removeprefix("Value error, ")
    if not field:
        return text
    return f"{field} = {error.get('input')!r}: {text}"


def config_problems(config_class: type[BaseModel], values: Mapping[str, Any]) -> list[str]:
    """What is wrong with `values` for `config_class` (its limits and validators), one line
    each; empty when they are fine."""
    try:
        config_class.model_validate(dict(values))
    except ValidationError as exc:
        return [_limit_message(error) for error in exc.errors()]
    return []


def _checker(config_class: type[BaseModel]) -> Callable[[Any], Any]:
    def post_process(value: Any) -> Any:
        if isinstance(value, Mapping):
            problems = config_problems(config_class, value)
            if problems:
                raise PostProcessingError("; ".join(problems))
        return value

    return post_process


def _check_with(schema: Any, config_class: type[BaseModel]) -> None:
    """Make Dagster's processing of `schema` (a config schema) validate with `config_class`."""
    config_type = schema.as_field().config_type
    # Dagster calls a shape's `post_process` on the whole resolved dictionary, before the run
    # exists; a PostProcessingError becomes a config error at that path.
    config_type.post_process = _checker(config_class)


def _op_config_class(op: dg.OpDefinition) -> type[dg.Config] | None:
    compute_fn = getattr(op, "compute_fn", None)
    if compute_fn is None or not hasattr(compute_fn, "has_config_arg"):
        return None
    if not compute_fn.has_config_arg():
        return None
    annotation = compute_fn.get_config_arg().annotation
    if inspect.isclass(annotation) and issubclass(annotation, dg.Config):
        return annotation
    return None


def enforce_config_limits(definitions: Iterable[Any],
                          resources: Mapping[str, Any]) -> list[str]:
    """Check each op's run config with its `Config` class and each configurable resource's
    with its class whenever Dagster resolves run config. Returns what it covers
    (`op:<name>`, `resource:<key>`), for tests and logs."""
    covered = []
    for definition in definitions:
        node = getattr(definition, "node_def", None)
        if node is None:
            continue
        for op in node.iterate_op_defs():
            config_class = _op_config_class(op)
            if config_class is not None and op.config_schema is not None:
                _check_with(op.config_schema, config_class)
                covered.append(f"op:{op.name}")
    for key, resource in resources.items():
        if isinstance(resource, dg.ConfigurableResource):
            _check_with(resource._config_schema, type(resource))  # noqa: SLF001
            covered.append(f"resource:{key}")
    return covered


@dataclass(frozen=True)
class LimitProblem:
    """One refused value: where in the run config (`ops.samples_tiny.config`), the field,
    and the message (`max_openers = 0: must be greater than or equal to 1`)."""

    path: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def limit_problems(error: dg.DagsterInvalidConfigError) -> list[LimitProblem]:
    """The problems a config error holds, one per refused value (other config errors, such as
    an unknown key or a wrong type, with Dagster's own message)."""
    problems = []
    for item in error.errors:
        path = ".".join(entry.field_name for entry in item.stack.entries
                        if hasattr(entry, "field_name"))
        data = item.error_data
        text = getattr(data, "message", None) if data is not None else None
        if text and getattr(data, "cls_name", "") == "PostProcessingError":
            body = text.strip().split(": ", 1)[-1]
            for line in body.split("; "):
                field = line.split(" = ", 1)[0] if " = " in line else ""
                problems.append(LimitProblem(path, field, line))
        else:
            problems.append(LimitProblem(path, "", item.message.splitlines()[0]))
    return problems


def check_run_config(job: dg.JobDefinition, run_config: Mapping[str, Any]) -> None:
    """Raise `dg.DagsterInvalidConfigError` when `run_config` is not valid for `job`, limits
    included (nothing runs)."""
    dg.validate_run_config(job, dict(run_config))
