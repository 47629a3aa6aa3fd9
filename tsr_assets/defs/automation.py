"""Schedules and sensors: each language's chain refreshed on a cron, in dependency order.

- `refresh_<language>` (one schedule per language, cron by `$TSR_CRON_<LANGUAGE>` or
  `$TSR_CRON`, default 03:00 daily; stopped until turned on in the UI) launches the
  language job (wordlists -> prompts -> stories) for its language.
- `stories_fresh_sensor` watches `stories` materializations. Each new one launches the
  language x tokenizer job (tokenizer -> token_bins -> tokenizer_stats -> checkpoint ->
  samples -> judge_scores) for that language and every tokenizer in `$TSR_CHAIN_TOKENIZERS`
  (default: the offline ones), so those runs start only once the stories are fresh.
- `reports_after_chain_sensor` launches `reports` after each successful language x
  tokenizer run.

Run config for the chained runs can come from a JSON file named by `$TSR_CHAIN_RUN_CONFIG`
(for example a shorter training budget).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import dagster as dg

from tsr_assets.defs.partitions import language_tokenizer_key
from tsr_assets.tokenizers.registry import offline_tokenizer_keys

DEFAULT_CRON = "0 3 * * *"
CRON_ENV = "TSR_CRON"
TOKENIZERS_ENV = "TSR_CHAIN_TOKENIZERS"
RUN_CONFIG_ENV = "TSR_CHAIN_RUN_CONFIG"


def cron_for(language: str) -> str:
    """`$TSR_CRON_<LANGUAGE>`, else `$TSR_CRON`, else 03:00 every day."""
    return (os.environ.get(f"{CRON_ENV}_{language.upper()}") or os.environ.get(CRON_ENV)
            or DEFAULT_CRON).strip()


def chain_tokenizers(known: Sequence[str]) -> list[str]:
    """Tokenizers the sensor chains after fresh stories (`$TSR_CHAIN_TOKENIZERS`)."""
    configured = [t.strip() for t in os.environ.get(TOKENIZERS_ENV, "").split(",") if t.strip()]
    chosen = configured or offline_tokenizer_keys()
    unknown = [t for t in chosen if t not in known]
    if unknown:
        raise ValueError(f"${TOKENIZERS_ENV} names unknown tokenizers {unknown}; known: "
                         f"{', '.join(known)}")
    return chosen


def chain_run_config() -> dict:
    """Run config for the chained language x tokenizer runs, from `$TSR_CHAIN_RUN_CONFIG`."""
    path = os.environ.get(RUN_CONFIG_ENV, "").strip()
    if not path:
        return {}
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"${RUN_CONFIG_ENV} is {path!r}, which is not a file")
    return json.loads(file.read_text(encoding="utf-8"))


def build_language_schedules(languages: Sequence[str], language_job) -> list:
    """One schedule per language, each requesting that language's partition of the job."""
    schedules = []
    for language in languages:

        def request(context: dg.ScheduleEvaluationContext, language: str = language):
            scheduled = context.scheduled_execution_time
            stamp = scheduled.isoformat() if scheduled else "manual"
            return dg.RunRequest(run_key=f"{language}-{stamp}", partition_key=language,
                                 tags={"tsr/trigger": f"schedule refresh_{language}"})

        schedules.append(dg.ScheduleDefinition(
            name=f"refresh_{language}",
            cron_schedule=cron_for(language),
            job=language_job,
            execution_fn=request,
            default_status=dg.DefaultScheduleStatus.STOPPED,
            description=f"Refresh {language}: wordlists, prompts and stories; the stories "
                        "sensor then chains every tokenizer's runs.",
        ))
    return schedules


def build_sensors(language_tokenizer_job, reports_job, tokenizers: Sequence[str]) -> list:
    """The stories-fresh sensor and the reports sensor."""

    @dg.asset_sensor(
        asset_key=dg.AssetKey("stories"),
        job=language_tokenizer_job,
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.STOPPED,
    )
    def stories_fresh_sensor(context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry):
        """After `stories` of a language materializes, run its language x tokenizer chain."""
        materialization = asset_event.asset_materialization
        language = materialization.partition if materialization else None
        if not language:
            return dg.SkipReason("stories materialization without a language partition")
        config = chain_run_config()
        for tokenizer in chain_tokenizers(tokenizers):
            yield dg.RunRequest(
                run_key=f"{asset_event.run_id}-{language}-{tokenizer}",
                partition_key=language_tokenizer_key(language, tokenizer),
                run_config=config,
                # tsr/gpu lets a run queue (deploy/kubernetes/dagster.yaml) bound GPU runs.
                tags={"tsr/trigger": f"fresh stories of {language}", "tsr/gpu": "1"},
            )

    @dg.run_status_sensor(
        run_status=dg.DagsterRunStatus.SUCCESS,
        monitored_jobs=[language_tokenizer_job],
        request_job=reports_job,
        default_status=dg.DefaultSensorStatus.STOPPED,
    )
    def reports_after_chain_sensor(context: dg.RunStatusSensorContext):
        """Rebuild `reports` after each successful language x tokenizer run."""
        return dg.RunRequest(run_key=f"reports-after-{context.dagster_run.run_id}")

    return [stories_fresh_sensor, reports_after_chain_sensor]
