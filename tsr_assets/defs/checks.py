"""Partitioned asset checks from plain functions of the data lake and a partition key.

A check function takes the `Lake` and the partition key being checked and returns an
`AssetCheckResult`; its name and docstring become the check's name and description in the UI.
"""


from collections.abc import Callable, Sequence

import dagster as dg

from tsr_assets.core.lake import Lake
from tsr_assets.defs.resources import DataLakeResource

CheckFunction = Callable[[Lake, "str | dg.MultiPartitionKey"], dg.AssetCheckResult]


def lake_checks(asset: dg.AssetsDefinition, partitions_def: dg.PartitionsDefinition,
                functions: Sequence[CheckFunction], blocking: bool = False
                ) -> list[dg.AssetChecksDefinition]:
    """One partitioned check on `asset` per function."""
    return [_lake_check(asset, partitions_def, fn, blocking) for fn in functions]


def _lake_check(asset: dg.AssetsDefinition, partitions_def: dg.PartitionsDefinition,
                fn: CheckFunction, blocking: bool) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=asset, partitions_def=partitions_def, name=fn.__name__,
                    description=fn.__doc__, blocking=blocking)
    def check(context: dg.AssetCheckExecutionContext,
              data_lake: DataLakeResource) -> dg.AssetCheckResult:
        return fn(data_lake.lake, context.partition_key)

    return check
