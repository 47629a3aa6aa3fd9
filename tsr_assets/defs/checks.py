"""Partitioned asset checks from plain functions of the data lake and a partition key, and the
guard that keeps later runs from building on data a blocking check failed.

A check function takes the `Lake` and the partition key being checked and returns an
`AssetCheckResult`; its name and docstring become the check's name and description in the UI.
Checks that guard correctness are `blocking`: a failure stops the assets after them in the same
run, and `require_passing_checks` stops them in later runs until the data is fixed.
"""


from collections.abc import Callable, Sequence

import dagster as dg

from tsr_assets.core.lake import Lake
from tsr_assets.defs.resources import DataLakeResource

CheckFunction = Callable[[Lake, "str | dg.MultiPartitionKey"], dg.AssetCheckResult]

#: Per asset, the checks that guard correctness (blocking).
BLOCKING_CHECKS: dict[str, tuple[str, ...]] = {
    "stories": ("stories_no_duplicates", "stories_script_purity"),
    "translated_stories": ("translated_stories_no_duplicates", "translated_stories_script_purity"),
}


def lake_checks(asset: dg.AssetsDefinition, partitions_def: dg.PartitionsDefinition,
                functions: Sequence[CheckFunction]) -> list[dg.AssetChecksDefinition]:
    """One partitioned check on `asset` per function (blocking when `BLOCKING_CHECKS` says)."""
    blocking = BLOCKING_CHECKS.get(asset.key.to_user_string(), ())
    return [_lake_check(asset, partitions_def, fn, fn.__name__ in blocking) for fn in functions]


def require_passing_checks(context: dg.AssetExecutionContext, asset: str, partition: str
                           ) -> None:
    """Fail unless the latest run of every blocking check of `asset`'s `partition` passed."""
    keys = [dg.AssetCheckKey(dg.AssetKey(asset), name) for name in BLOCKING_CHECKS[asset]]
    infos = context.instance.event_log_storage.get_asset_check_partition_info(
        keys, partition_keys=[partition])
    failed = [info for info in infos if info.latest_execution_status.value == "FAILED"]
    if failed:
        names = ", ".join(info.check_key.name for info in failed)
        raise dg.Failure(
            description=f"{asset} of {partition} failed the blocking check(s) {names} (run "
            f"{failed[0].latest_planned_run_id}); fix the data and re-materialize {asset} for "
            f"{partition} before building on it", allow_retries=False)


def _lake_check(asset: dg.AssetsDefinition, partitions_def: dg.PartitionsDefinition,
                fn: CheckFunction, blocking: bool) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=asset, partitions_def=partitions_def, name=fn.__name__,
                    description=fn.__doc__, blocking=blocking)
    def check(context: dg.AssetCheckExecutionContext,
              data_lake: DataLakeResource) -> dg.AssetCheckResult:
        return fn(data_lake.lake, context.partition_key)

    return check
