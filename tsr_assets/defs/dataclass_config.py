"""Dagster run config generated from the pure code's dataclasses, so each setting is declared
once: its name, type, default and description live on the dataclass field (`metadata["doc"]`),
and the `dg.Config` class the launchpad shows is made from them."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterable
from typing import Any

import dagster as dg
from pydantic import Field, create_model


def config_from_dataclass(name: str, source: type, doc: str, *, exclude: Iterable[str] = (),
                          extra: dict[str, tuple[Any, Any]] | None = None) -> type[dg.Config]:
    """A `dg.Config` subclass with one field per field of the dataclass `source` (less
    `exclude`), same type and default, described by the field's `metadata["doc"]` and
    limited by its `metadata["limits"]` (pydantic `ge`/`gt`/`le`/`lt`); `extra`
    adds fields of the Dagster layer only (`name: (type, Field(...))`)."""
    hints = typing.get_type_hints(source)
    skipped = set(exclude)
    fields: dict[str, tuple[Any, Any]] = {}
    for item in dataclasses.fields(source):
        if item.name in skipped:
            continue
        default = (item.default_factory() if item.default is dataclasses.MISSING
                   else item.default)
        fields[item.name] = (hints[item.name], Field(
            default=default, description=item.metadata.get("doc", ""),
            **item.metadata.get("limits", {})))
    config = create_model(name, __base__=dg.Config, __module__=__name__,
                          **fields, **(extra or {}))
    config.__doc__ = doc
    return config


def dataclass_kwargs(config: dg.Config, target: type) -> dict[str, Any]:
    """The fields of `config` that `target` (a dataclass) takes, by name."""
    names = {f.name for f in dataclasses.fields(target)}
    return {k: v for k, v in config.model_dump().items() if k in names}
