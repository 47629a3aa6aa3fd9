"""Recording LLM-backed runs in DuckDB `generation_runs`, and their usage as metadata."""

from pathlib import Path

import dagster as dg
import polars as pl

from tsr_assets.defs.resources import WarehouseResource
from tsr_assets.llm.batch_files import BatchState
from tsr_assets.llm.generation_runs import GenerationRun
from tsr_assets.reports.markdown import markdown_table
from tsr_assets.stories.store import read_table


def record_generation_run(warehouse: WarehouseResource, run: GenerationRun, run_id: str,
                          language: str) -> None:
    """One `generation_runs` row per Dagster run, stage and language (replaced on retry)."""
    warehouse.replace_rows("generation_runs",
                           {"run_id": run_id, "language": language, "stage": run.stage},
                           pl.DataFrame([run.warehouse_row(run_id, language)]))


def fail_unless_succeeded(run: GenerationRun, folder: Path, asset: str, language: str,
                          kept: str, missing: str) -> None:
    """A run that produced nothing useful (or stopped at the breaker) fails, saying that what
    it wrote is kept (`kept`: what the rows are) and what a rerun sends (`missing`)."""
    if run.failed:
        stored = read_table(folder, "story", ["prompt_id"]).height
        raise dg.Failure(
            description=f"{asset} for {language}: {run.error}\nEverything written is kept "
            f"({stored:,} {kept} stored); a rerun continues with {missing}.",
            allow_retries=False)


def usage_metadata(run: GenerationRun, unit: str, units: str,
                   state_dir: Path | None = None) -> dict:
    """Tokens and cost of a run, per `unit` (story, judgment) and per 1,000 `units`; the
    mode, cached answers and saving; in batch mode the batches recorded under `state_dir`."""
    estimated = " (estimated)" if run.usage.estimated else ""
    per_unit = run.tokens_per_result
    cost_per_1000 = run.cost_per_1000
    return {
        "prompt_tokens": dg.MetadataValue.int(run.usage.prompt_tokens),
        "completion_tokens": dg.MetadataValue.int(run.usage.completion_tokens),
        "usage": dg.MetadataValue.text("estimated from text length" if run.usage.estimated
                                       else "reported by the endpoint"),
        f"completion_tokens_per_{unit}": dg.MetadataValue.text(
            f"{per_unit:,.1f}{estimated}" if per_unit is not None else "n/a"),
        "cost": dg.MetadataValue.text(f"{run.cost:,.4f}" if run.cost is not None
                                      else "no prices configured"),
        f"cost_per_1000_{units}": dg.MetadataValue.text(
            f"{cost_per_1000:,.4f}" if cost_per_1000 is not None else "n/a"),
        "mode": dg.MetadataValue.text(run.mode),
        "cached_answers": dg.MetadataValue.int(run.cached_answers),
        "cost_saved_vs_online": dg.MetadataValue.text(
            f"{run.cost_saved:,.4f}" if run.cost_saved is not None else "n/a"),
        **({"batches": dg.MetadataValue.md(markdown_table(
            [[b.get("batch_id"), b.get("file"), b.get("requests"), b.get("status"),
              b.get("done")] for b in BatchState(state_dir / "batches").batches],
            ["batch", "file", "requests", "status", "done"]))}
           if state_dir is not None and (state_dir / "batches" / "state.json").is_file()
           else {}),
    }
