"""Declarative Automation: the conditions the assets name in their own decorators
(`automation_condition=`), and the two sensors that evaluate them, `tsr_automation` and
`tsr_automation_models` (off until turned on in the UI, Automation); the UI shows why an asset
ran or waits (its Automation tab).

- The language chain (`wordlists`, `prompts`, `stories`) runs `on_cron`: `$TSR_CRON_<LANGUAGE>`,
  else `$TSR_CRON`, else 03:00 daily, each language at its own cron; the data-quality assets
  and `hf_dataset` follow eagerly.
- Every language x tokenizer asset (`tokenizer` -> `token_bins` -> `tokenizer_stats` ->
  `checkpoint_<preset>` -> `samples_<preset>` -> `judge_scores_<preset>` -> `hf_model_<preset>`)
  is eager after its inputs, for the tokenizers in `$TSR_CHAIN_TOKENIZERS` only (default: the
  offline ones), so fresh stories retrain exactly those partitions; hub tokenizers without a
  local folder are never attempted.
- `reports` runs after its inputs were updated, once none of them is still running.

Imported models, `translated_stories`, `translation_quality`, `rating_tasks` and
`human_ratings` need a user's choice (a model, a translator, the stories to rate, a ratings
file) and are not automated: they are listed in `NOT_AUTOMATED`, and a test fails for any other
asset without a condition. Automated runs use each asset's default run config.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable, Sequence

import dagster as dg

from tsr_assets.defs.jobs import (
    EVALUATION_GROUP,
    MODEL_EXPORT_GROUP,
    TOKENIZERS_GROUP,
    TRAINING_GROUP,
)
from tsr_assets.defs.partitions import Partitions
from tsr_assets.tokenizers.registry import offline_tokenizer_keys

DEFAULT_CRON = "0 3 * * *"
CRON_ENV = "TSR_CRON"
TOKENIZERS_ENV = "TSR_CHAIN_TOKENIZERS"
AUTOMATION_SENSOR = "tsr_automation"
MODELS_AUTOMATION_SENSOR = "tsr_automation_models"
#: The assets (or, `<stage>_*`, per-model stages) that wait for a person's choice.
NOT_AUTOMATED = ("translated_stories", "translation_quality", "rating_tasks", "human_ratings")
#: The groups of the language x tokenizer chain.
MODEL_GROUPS = (TOKENIZERS_GROUP, TRAINING_GROUP, EVALUATION_GROUP, MODEL_EXPORT_GROUP)


def cron_for(language: str) -> str:
    """`$TSR_CRON_<LANGUAGE>`, else `$TSR_CRON`, else 03:00 every day."""
    return (os.environ.get(f"{CRON_ENV}_{language.upper()}") or os.environ.get(CRON_ENV)
            or DEFAULT_CRON).strip()


def chain_tokenizers(known: Sequence[str]) -> list[str]:
    """Tokenizers the automation keeps fresh after new stories (`$TSR_CHAIN_TOKENIZERS`)."""
    configured = [t.strip() for t in os.environ.get(TOKENIZERS_ENV, "").split(",") if t.strip()]
    chosen = configured or offline_tokenizer_keys()
    unknown = [t for t in chosen if t not in known]
    if unknown:
        raise ValueError(f"${TOKENIZERS_ENV} names unknown tokenizers {unknown}; known: "
                         f"{', '.join(known)}")
    return chosen


class PartitionsWhere(dg.AutomationCondition):
    """True for the partitions whose key (or, for a multi-partitioned asset, whose `dimension`)
    is one of `values`: it narrows a condition to some languages or tokenizers."""

    def __init__(self, values: Iterable[str], dimension: str | None = None) -> None:
        self._values, self._dimension = tuple(sorted(values)), dimension

    @property
    def name(self) -> str:
        where = self._dimension or "partition"
        return f"{where} in {', '.join(self._values)}"

    @property
    def description(self) -> str:
        return f"The {self._dimension or 'partition'} is one of {', '.join(self._values)}"

    def _keeps(self, key: str, partitions: dg.PartitionsDefinition | None) -> bool:
        if self._dimension is None or not isinstance(partitions, dg.MultiPartitionsDefinition):
            return key in self._values
        by_dimension = partitions.get_partition_key_from_str(key).keys_by_dimension
        return by_dimension[self._dimension] in self._values

    def evaluate(self, context: dg.AutomationContext) -> dg.AutomationResult:
        candidates = context.candidate_subset
        keys = {k for k in candidates.expensively_compute_partition_keys()
                if self._keeps(k, candidates.partitions_def)}
        return dg.AutomationResult(
            context=context, true_subset=candidates.compute_intersection_with_partition_keys(keys))


def after_inputs() -> dg.AutomationCondition:
    """Eager after new inputs, whether or not every input partition exists (a corpus may not
    use the translated stories; the asset itself fails clearly when what it needs is missing)."""
    return dg.AutomationCondition.eager().without(
        ~dg.AutomationCondition.any_deps_missing()).with_label("after new inputs")


def refresh_on_cron(languages: Sequence[str]) -> dg.AutomationCondition:
    """`on_cron` per language: languages that share a cron share one branch."""
    by_cron: dict[str, list[str]] = defaultdict(list)
    for language in languages:
        by_cron[cron_for(language)].append(language)
    branches = [(dg.AutomationCondition.on_cron(cron) & PartitionsWhere(langs)).with_label(
                    f"on {cron} for {', '.join(sorted(langs))}")
                for cron, langs in sorted(by_cron.items())]
    if len(branches) == 1:
        return branches[0]
    condition = branches[0]
    for branch in branches[1:]:
        condition = condition | branch
    return condition.with_label("on each language's cron")


def reports_condition() -> dg.AutomationCondition:
    """After any input was updated (not merely requested), once none is still running."""
    return (dg.AutomationCondition.any_deps_match(dg.AutomationCondition.newly_updated())
            .since_last_handled()
            & ~dg.AutomationCondition.any_deps_in_progress()
            & ~dg.AutomationCondition.in_progress()).with_label("after the chain")


def chained(partitions: Partitions) -> dg.AutomationCondition:
    """The condition of every language x tokenizer asset a model preset's chain holds
    (`tokenizer` to `hf_model_<preset>`): eager after new inputs, for the chained tokenizers."""
    return (after_inputs()
            & PartitionsWhere(chain_tokenizers(partitions.tokenizer.get_partition_keys()),
                              "tokenizer")).with_label("after new inputs, chained tokenizers")


def on_language_cron(partitions: Partitions) -> dg.AutomationCondition:
    """The language chain's condition: each language's cron."""
    return refresh_on_cron(partitions.language.get_partition_keys())


def automation_sensors() -> list[dg.AutomationConditionSensorDefinition]:
    """The sensors that evaluate every asset's condition (in the code server, since
    `PartitionsWhere` is Python): one for the language x tokenizer chain, whose runs carry
    `tsr/gpu=1` (the deployed instances limit those runs to the GPUs there are), one for the
    rest."""
    models = dg.AssetSelection.groups(*MODEL_GROUPS)
    common = {"use_user_code_server": True, "minimum_interval_seconds": 30,
              "default_status": dg.DefaultSensorStatus.STOPPED}
    return [
        dg.AutomationConditionSensorDefinition(
            AUTOMATION_SENSOR, target=dg.AssetSelection.all() - models, **common,
            description="Language chains on their cron, the data-quality assets after fresh "
                        "stories, reports after the chain."),
        dg.AutomationConditionSensorDefinition(
            MODELS_AUTOMATION_SENSOR, target=models, run_tags={"tsr/gpu": "1"}, **common,
            description="Language x tokenizer assets (tokenizer to hf_model) after fresh "
                        "stories, for the chained tokenizers."),
    ]


@dg.definitions
def defs() -> dg.Definitions:
    """The automation sensors."""
    return dg.Definitions(sensors=automation_sensors())
