"""The jobs, selected by asset group so a new asset joins its job by its group alone.

Mixed partitions cannot share one run, so the chain is two partitioned jobs and one
unpartitioned one: a language run, then one run per language x tokenizer, then the report;
translation is a language run of its own (it needs a translator and a source of its choosing).
"""

from __future__ import annotations

import dagster as dg

from tsr_assets.defs.load_scope import current_scope

LANGUAGE_JOB = "language_job"
LANGUAGE_TOKENIZER_JOB = "language_tokenizer_job"
REPORTS_JOB = "reports_job"
TRANSLATION_JOB = "translation_job"
TRANSLATION_QUALITY_JOB = "translation_quality_job"
HUMAN_RATINGS_JOB = "human_ratings_job"

#: Asset groups, as the UI shows them; each job selects whole groups.
STORIES_GROUP = "stories"
TRANSLATION_GROUP = "translation"
TRANSLATION_QUALITY_GROUP = "translation_quality"
DATA_QUALITY_GROUP = "data_quality"
TOKENIZERS_GROUP = "tokenizers"
TRAINING_GROUP = "training"
EVALUATION_GROUP = "evaluation"
REPORTS_GROUP = "reports"
DATASET_EXPORT_GROUP = "dataset_export"
MODEL_EXPORT_GROUP = "model_export"
HUMAN_RATINGS_GROUP = "human_ratings"


#: Step retries of the deployed platform (Celery workers, Kubernetes): a step that raises is
#: run again twice, 15 s then 30 s later (+/- jitter), on whichever worker is free. Input
#: errors raise `dg.Failure(allow_retries=False)` and are not retried. Local runs keep failing
#: fast (no policy), so a broken config shows at once.
DEPLOYED_RETRY_POLICY = dg.RetryPolicy(max_retries=2, delay=15, backoff=dg.Backoff.EXPONENTIAL,
                                       jitter=dg.Jitter.PLUS_MINUS)


def build_jobs(op_retry_policy: dg.RetryPolicy | None = None,
               ) -> list[dg.UnresolvedAssetJobDefinition]:
    """`language_job`, `language_tokenizer_job`, `translation_job` and `reports_job`, their
    steps retried under `op_retry_policy` (none by default)."""
    return [
        dg.define_asset_job(
            LANGUAGE_JOB,
            selection=dg.AssetSelection.groups(STORIES_GROUP, DATA_QUALITY_GROUP,
                                               DATASET_EXPORT_GROUP),
            description="Per-language chain: wordlists -> prompts -> stories -> "
            "near_duplicates, contamination, corpus_quality -> hf_dataset.",
            op_retry_policy=op_retry_policy,
        ),
        dg.define_asset_job(
            LANGUAGE_TOKENIZER_JOB,
            selection=dg.AssetSelection.groups(TOKENIZERS_GROUP, TRAINING_GROUP,
                                               EVALUATION_GROUP, MODEL_EXPORT_GROUP),
            description="Per language x tokenizer chain: tokenizer -> token_bins -> "
            "tokenizer_stats -> checkpoint_<preset> -> samples_<preset> -> "
            "judge_scores_<preset> -> hf_model_<preset>.",
            op_retry_policy=op_retry_policy,
        ),
        dg.define_asset_job(
            TRANSLATION_JOB, selection=dg.AssetSelection.groups(TRANSLATION_GROUP),
            description="Per-language translation of English (or another language's) stories "
            "-> translated_stories (run config picks the source and the translator).",
            op_retry_policy=op_retry_policy,
        ),
        dg.define_asset_job(
            TRANSLATION_QUALITY_JOB,
            selection=dg.AssetSelection.groups(TRANSLATION_QUALITY_GROUP),
            description="A translator scored on the parallel evaluation openers (chrF++, "
            "gates) before a corpus is translated with it.",
            op_retry_policy=op_retry_policy,
        ),
        dg.define_asset_job(
            HUMAN_RATINGS_JOB, selection=dg.AssetSelection.groups(HUMAN_RATINGS_GROUP),
            description="Human ratings: rating_tasks (a blinded Label Studio project) and "
            "human_ratings (the raters' scores into judge_scores); pick one when launching.",
            op_retry_policy=op_retry_policy,
        ),
        dg.define_asset_job(
            REPORTS_JOB, selection=dg.AssetSelection.groups(REPORTS_GROUP),
            description="Comparison tables and plots from the warehouse.",
            op_retry_policy=op_retry_policy,
        ),
    ]


@dg.definitions
def defs() -> dg.Definitions:
    """The jobs, with the step retries of this load (none unless deployed)."""
    return dg.Definitions(jobs=build_jobs(current_scope().op_retry_policy))
