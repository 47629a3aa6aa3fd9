"""Bad numbers in run config are refused before a run exists, naming the field, the value and
the range: through Dagster's run config validation (the launchpad's, `dagster asset
materialize`'s and `execute_in_process`'s path) and through `tsr` (its flags and experiment
files)."""

from __future__ import annotations

import typing
from pathlib import Path

import dagster as dg
import pytest
from pydantic import BaseModel

from tsr_assets.cli import main
from tsr_assets.definitions import build_definitions
from tsr_assets.defs.config_limits import limit_problems
from tsr_assets.defs.data_quality import ContaminationConfig, NearDuplicatesConfig
from tsr_assets.defs.evaluation import SamplesConfig
from tsr_assets.defs.human_ratings import (
    HumanRatingsConfig,
    LabelStudioResource,
    RatingTasksConfig,
)
from tsr_assets.defs.jobs import (
    HUMAN_RATINGS_JOB,
    LANGUAGE_JOB,
    LANGUAGE_TOKENIZER_JOB,
    TRANSLATION_JOB,
    TRANSLATION_QUALITY_JOB,
)
from tsr_assets.defs.judge_probes import ProbesConfig
from tsr_assets.defs.prompts import PromptsConfig
from tsr_assets.defs.resources import (
    DataLakeResource,
    JudgeResource,
    LLMResource,
    WarehouseResource,
)
from tsr_assets.defs.stories import StoriesConfig
from tsr_assets.defs.tokenizers import TokenBinsConfig, TokenizerConfig
from tsr_assets.defs.training import TrainingConfig
from tsr_assets.defs.translation import TranslationConfig, TranslationQualityConfig

GE1 = "greater than or equal to 1"
GT0 = "greater than 0"
GE0 = "greater than or equal to 0"
LE1 = "less than or equal to 1"
LT1 = "less than 1"

#: (job, "ops.<op>" or "resources.<key>", field, a bad value, the range the error names).
ROWS: list[tuple[str, str, str, object, str]] = [
    (LANGUAGE_JOB, "ops.prompts", "count", 0, GE1),
    (LANGUAGE_JOB, "ops.prompts", "count", -5, GE1),
    (LANGUAGE_JOB, "ops.prompts", "seed", -1, GE0),
    (LANGUAGE_JOB, "ops.prompts", "template_max_words", 0, GE1),
    (LANGUAGE_JOB, "ops.stories", "min_chars", -1, GE0),
    (LANGUAGE_JOB, "ops.stories", "max_chars", 0, GE1),
    (LANGUAGE_JOB, "ops.stories", "min_script_share", 1.5, LE1),
    (LANGUAGE_JOB, "ops.stories", "max_repeated_sentence_share", -0.1, GE0),
    (LANGUAGE_JOB, "ops.stories", "max_repeated_ngram_share", 2.0, LE1),
    (LANGUAGE_JOB, "ops.stories", "min_known_word_share", 1.01, LE1),
    (LANGUAGE_JOB, "ops.stories", "max_prompts", 0, GE1),
    (LANGUAGE_JOB, "ops.stories", "import_limit", 0, GE1),
    (LANGUAGE_JOB, "ops.near_duplicates", "threshold", 0.0, GT0),
    (LANGUAGE_JOB, "ops.near_duplicates", "num_perm", 8, "greater than or equal to 16"),
    (LANGUAGE_JOB, "ops.near_duplicates", "val_share", 1.0, LT1),
    (LANGUAGE_JOB, "ops.contamination", "ngram", 1, "greater than or equal to 2"),
    (LANGUAGE_JOB, "resources.llm", "temperature", -0.5, GE0),
    (LANGUAGE_JOB, "resources.llm", "max_tokens", 0, GE1),
    (LANGUAGE_JOB, "resources.llm", "price_input_per_million", -1.0, GE0),
    (LANGUAGE_JOB, "resources.llm", "price_output_per_million", -1.0, GE0),
    (LANGUAGE_JOB, "resources.llm", "requests_per_minute", 0.0, GT0),
    (LANGUAGE_JOB, "resources.llm", "price_batch_discount", 1.5, LE1),
    (LANGUAGE_JOB, "resources.llm", "batch_max_requests_per_file", 0, GE1),
    (LANGUAGE_JOB, "resources.llm", "batch_max_bytes_per_file", 0, GE1),
    (LANGUAGE_JOB, "resources.llm", "batch_poll_s", 0.0, GT0),
    (LANGUAGE_JOB, "resources.llm", "batch_poll_max_s", -1.0, GT0),
    (LANGUAGE_JOB, "resources.llm", "concurrency", 0, GE1),
    (LANGUAGE_JOB, "resources.llm", "timeout_s", 0.0, GT0),
    (LANGUAGE_JOB, "resources.llm", "max_attempts", 0, GE1),
    (LANGUAGE_JOB, "resources.llm", "backoff_base_s", -1.0, GE0),
    (LANGUAGE_JOB, "resources.llm", "backoff_max_s", -1.0, GE0),
    (LANGUAGE_JOB, "resources.llm", "progress_every_s", 0.0, GT0),
    (LANGUAGE_JOB, "resources.llm", "breaker_first_answers", 0, GE1),
    (LANGUAGE_JOB, "resources.llm", "breaker_max_bad_share", 0.0, GT0),
    (LANGUAGE_JOB, "resources.llm", "breaker_max_consecutive_bad", 0, GE1),
    (LANGUAGE_JOB, "resources.llm", "breaker_first_answers_min", 0, GE1),
    (LANGUAGE_JOB, "resources.llm", "breaker_max_bad_seconds", 0.0, GT0),
    (LANGUAGE_JOB, "resources.data_lake", "lock_wait_s", -1.0, GE0),
    (LANGUAGE_JOB, "resources.data_lake", "gpu_hour_price", -2.0, GE0),
    (LANGUAGE_JOB, "resources.data_lake", "cpu_hour_price", -0.1, GE0),
    (LANGUAGE_JOB, "resources.warehouse", "lock_wait_s", -1.0, GE0),
    (LANGUAGE_TOKENIZER_JOB, "ops.tokenizer", "vocab_size", 10, "greater than or equal to 320"),
    (LANGUAGE_TOKENIZER_JOB, "ops.tokenizer", "val_share", -0.1, GE0),
    (LANGUAGE_TOKENIZER_JOB, "ops.tokenizer", "max_train_sentences", 0, GE1),
    (LANGUAGE_TOKENIZER_JOB, "ops.tokenizer", "max_train_stories", 0, GE1),
    (LANGUAGE_TOKENIZER_JOB, "ops.token_bins", "val_share", 1.0, LT1),
    (LANGUAGE_TOKENIZER_JOB, "ops.token_bins", "batch_rows", 0, GE1),
    (LANGUAGE_TOKENIZER_JOB, "ops.token_bins", "workers", -1, GE0),
    *((LANGUAGE_TOKENIZER_JOB, "ops.checkpoint_tiny", field, value, text)
      for field, value, text in (
        ("n_layer", 0, GE1), ("n_embd", 0, GE1), ("n_head", 0, GE1), ("block_size", 0, GE1),
        ("learning_rate", 0.0, GT0), ("batch_size", 0, GE1), ("dropout", 1.0, LT1),
        ("grad_accum", 0, GE1), ("max_steps", 0, GE1), ("max_seconds", -1.0, GT0),
        ("warmup_steps", -1, GE0), ("min_lr_ratio", 1.5, LE1), ("decay_fraction", 0.0, GT0),
        ("decay_steps", 0, GE1), ("muon_lr", 0.0, GT0), ("muon_momentum", 1.0, LT1),
        ("weight_decay", -0.1, GE0), ("beta1", 1.0, LT1), ("beta2", -0.1, GE0),
        ("grad_clip", -1.0, GE0), ("eval_every", 0, GE1), ("eval_batches", 0, GE1),
        ("checkpoint_every", 0, GE1), ("log_every", 0, GE1), ("seed", -1, GE0),
        ("peak_flops", 0.0, GT0), ("gpus", 0, GE1))),
    *((LANGUAGE_TOKENIZER_JOB, "ops.samples_tiny", field, value, text)
      for field, value, text in (
        ("samples_per_opener", 0, GE1), ("temperature", -0.1, GE0), ("top_k", 0, GE1),
        ("top_p", 0.0, GT0), ("top_p", 1.5, LE1), ("repetition_penalty", 0.0, GT0),
        ("max_new_tokens", 0, GE1), ("batch_rows", 0, GE1), ("seed", -1, GE0),
        ("max_openers", 0, GE1))),
    *((LANGUAGE_TOKENIZER_JOB, "ops.judge_probes_tiny", field, value, text)
      for field, value, text in (
        ("max_stories", 0, GE1), ("max_stories", 100_001, "less than or equal to 100000"),
        ("seed", -1, GE0), ("resamples", 10, "greater than or equal to 100"),
        ("word_share", 0.0, GT0), ("word_share", 1.5, LE1))),
    (LANGUAGE_TOKENIZER_JOB, "resources.judge", "temperature", -1.0, GE0),
    (LANGUAGE_TOKENIZER_JOB, "resources.judge", "repeats", 0, GE1),
    *((TRANSLATION_JOB, "ops.translated_stories", field, value, text)
      for field, value, text in (
        ("limit", 0, GE1), ("batch_size", 0, GE1), ("max_batch_tokens", 0, GE1),
        ("max_source_tokens", 0, GE1), ("num_beams", 0, GE1), ("max_latin_share", 1.5, LE1),
        ("min_length_ratio", 0.0, GT0), ("max_length_ratio", -1.0, GT0),
        ("min_chars", -1, GE0))),
    *((TRANSLATION_QUALITY_JOB, "ops.translation_quality", field, value, text)
      for field, value, text in (("metrics_batch_size", 0, GE1), ("comet_timeout_s", 0.0, GT0))),
    *((HUMAN_RATINGS_JOB, "ops.rating_tasks", field, value, text)
      for field, value, text in (("openers", 0, GE1), ("stories_per_opener", 0, GE1),
                                 ("raters_per_story", 0, GE1), ("seed", -1, GE0))),
    (HUMAN_RATINGS_JOB, "ops.human_ratings", "project_id", 0, GE1),
    (HUMAN_RATINGS_JOB, "resources.label_studio", "timeout_s", 0.0, GT0),
]

#: Numbers any value of which is fine: a seed an endpoint passes on as it is, a seed hashed
#: with the prompt id.
UNLIMITED = {(LLMResource, "seed"), (JudgeResource, "seed"), (TokenizerConfig, "sample_seed")}


@pytest.fixture(scope="module")
def defs() -> dg.Definitions:
    return build_definitions()


def _run_config(where: str, field: str, value: object) -> dict:
    section, name = where.split(".")
    return {section: {name: {"config": {field: value}}}}


@pytest.mark.parametrize(("job_name", "where", "field", "value", "allowed"), ROWS,
                         ids=[f"{r[1]}.{r[2]}={r[3]}" for r in ROWS])
def test_a_bad_value_is_refused_before_a_run_exists(defs: dg.Definitions, job_name: str,
                                                    where: str, field: str, value: object,
                                                    allowed: str) -> None:
    job = defs.resolve_job_def(job_name)
    run_config = _run_config(where, field, value)
    with pytest.raises(dg.DagsterInvalidConfigError) as refused:
        dg.validate_run_config(job, run_config)
    problems = [str(p) for p in limit_problems(refused.value)]
    assert problems == [f"{where}.config: {field} = {value!r}: must be {allowed}"]
    with dg.DagsterInstance.ephemeral() as instance:
        with pytest.raises(dg.DagsterInvalidConfigError, match=f"{field} = "):
            job.execute_in_process(run_config=run_config, instance=instance)
        assert instance.get_runs() == []


def test_values_at_the_limits_are_taken(defs: dg.Definitions) -> None:
    job = defs.resolve_job_def(LANGUAGE_TOKENIZER_JOB)
    dg.validate_run_config(job, {"ops": {
        "samples_tiny": {"config": {"max_openers": 1, "temperature": 0.0, "top_p": 1.0}},
        "checkpoint_tiny": {"config": {"max_steps": 1, "max_seconds": 0.5, "dropout": 0.0}}}})


def test_fields_that_must_agree_are_checked_together(defs: dg.Definitions) -> None:
    job = defs.resolve_job_def(LANGUAGE_JOB)
    with pytest.raises(dg.DagsterInvalidConfigError) as refused:
        dg.validate_run_config(job, {"ops": {"stories": {"config": {"min_chars": 500,
                                                                     "max_chars": 100}}}})
    assert [str(p) for p in limit_problems(refused.value)] == [
        "ops.stories.config: min_chars (500) must not exceed max_chars (100)"]


def _numeric(annotation: object) -> bool:
    args = typing.get_args(annotation) or (annotation,)
    return any(a in (int, float) for a in args)


@pytest.mark.parametrize("config_class", [
    PromptsConfig, StoriesConfig, NearDuplicatesConfig, ContaminationConfig, TokenizerConfig,
    TokenBinsConfig, TrainingConfig, SamplesConfig, ProbesConfig, TranslationConfig,
    TranslationQualityConfig, RatingTasksConfig, HumanRatingsConfig, LLMResource,
    JudgeResource, DataLakeResource, WarehouseResource, LabelStudioResource])
def test_every_number_has_a_limit_and_a_row(config_class: type[BaseModel]) -> None:
    fields_in_rows = {r[2] for r in ROWS}
    for name, info in config_class.model_fields.items():
        if not _numeric(info.annotation) or (config_class, name) in UNLIMITED:
            continue
        assert info.metadata, f"{config_class.__name__}.{name} has no limit"
        assert name in fields_in_rows, f"{config_class.__name__}.{name} has no row"


#: The issue's rows: each refused with one line naming the flag, before any run.
TSR_ROWS = [
    (["--train-steps", "0"], "--train-steps: max_steps = 0: must be greater than or equal "
                             "to 1 (checkpoint_tiny)"),
    (["--train-seconds", "-1"], "--train-seconds: max_seconds = -1.0: must be greater than 0 "
                                "(checkpoint_tiny)"),
    (["--max-openers", "0"], "--max-openers: max_openers = 0: must be greater than or equal "
                             "to 1 (samples_tiny)"),
    (["--samples-per-opener", "0"], "--samples-per-opener: samples_per_opener = 0: must be "
                                    "greater than or equal to 1 (samples_tiny)"),
    (["--prompts", "0"], "--prompts: count = 0: must be greater than or equal to 1 (prompts)"),
    (["--prompts", "-5"], "--prompts: count = -5: must be greater than or equal to 1 (prompts)"),
    (["--probe-stories", "0"], "--probe-stories: max_stories = 0: must be greater than or "
                               "equal to 1 (judge_probes_tiny)"),
]


@pytest.mark.parametrize(("flags", "message"), TSR_ROWS, ids=[" ".join(r[0]) for r in TSR_ROWS])
def test_tsr_names_the_flag_before_any_run(flags: list[str], message: str, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("TSR_DATA_DIR", str(tmp_path / "lake"))
    args = ["run", "--tokenizers", "spm", "--prompts", "50", *flags]
    with pytest.raises(SystemExit) as stopped:
        main(args)
    assert stopped.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"tsr: error: {message}"]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.get_runs() == []
    assert not (tmp_path / "lake").exists()


def test_tsr_names_an_experiment_files_bad_value(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("TSR_DATA_DIR", str(tmp_path / "lake"))
    study = tmp_path / "study.yaml"
    study.write_text("tokenizers: [byte]\nrun_config:\n  language_tokenizer_job:\n    ops:\n"
                     "      samples_tiny:\n        config:\n          top_p: 1.5\n",
                     encoding="utf-8")
    with pytest.raises(SystemExit) as stopped:
        main(["run", "-c", str(study)])
    assert stopped.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "tsr: error: run config ops.samples_tiny.config: top_p = 1.5: must be less than or "
        f"equal to 1 (from {study})"]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.get_runs() == []
