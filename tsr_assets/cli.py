"""`tsr`: run the platform's chain from the command line against the persistent Dagster instance.

Every run goes into the instance under `$DAGSTER_HOME` (default: the repository root, where
`dagster.yaml` lives), so it shows in the UI afterwards exactly like a run launched there.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tsr_assets.core.experiments import (
    ExperimentFileError,
    load_experiment,
    merge_run_config,
)
from tsr_assets.core.lake import (
    CORPORA,
    DEFAULT_CORPUS,
    PRESET_STAGES,
    REPO_ROOT,
    Lake,
    preset_asset,
)
from tsr_assets.core.languages import DEFAULT_LANGUAGE, get_language, language_keys
from tsr_assets.evaluation.sampling import DEFAULT_SAMPLES_PER_OPENER
from tsr_assets.model.presets import PRESETS, check_model_name, get_preset
from tsr_assets.model.train_config import DEFAULT_RECIPE, RECIPES, TRAIN_DEFAULTS
from tsr_assets.prompts.building import DEFAULT_PROMPT_COUNT
from tsr_assets.prompts.templates import DEFAULT_TEMPLATE
from tsr_assets.tokenizers.registry import offline_tokenizer_keys, tokenizer_keys
from tsr_assets.translation.seq2seq import DEFAULT_SEQ2SEQ_MODEL, SOURCE_LANGUAGE
from tsr_assets.translation.source_stories import TINYSTORIES_DATASET

#: `tsr run` trains with a short wall-clock budget by default, so the chain finishes on a CPU.
TRAIN_SECONDS = 20.0
#: Stories per model the judge probes use (each judged five times).
PROBE_STORIES = 100


def ensure_dagster_home() -> Path:
    """Use `$DAGSTER_HOME` if set, else the repo root; it must be an absolute, existing folder."""
    home = os.environ.get("DAGSTER_HOME") or str(REPO_ROOT)
    path = Path(home).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(path)
    return path


@dataclass(frozen=True)
class PlannedRun:
    """One Dagster run `tsr` will launch: its job, partition, run config and assets."""

    job: str
    partition_key: Any
    run_config: dict
    label: str
    assets: tuple[str, ...] = ()


#: The `tsr` flag that sets each run config field, by (op or resource, field); an op of a
#: model preset goes by its stage (`checkpoint`, `samples`). The limits themselves are declared
#: once, on the fields (defs/config_limits.py reads them back).
FLAGS: dict[tuple[str, str], str] = {
    ("prompts", "count"): "--prompts",
    ("prompts", "seed"): "--seed",
    ("checkpoint", "max_steps"): "--train-steps",
    ("checkpoint", "max_seconds"): "--train-seconds",
    ("samples", "samples_per_opener"): "--samples-per-opener",
    ("samples", "max_openers"): "--max-openers",
    ("judge_probes", "max_stories"): "--probe-stories",
    ("judge_probes", "seed"): "--probe-seed",
    ("llm", "requests_per_minute"): "--llm-rpm",
    ("llm", "concurrency"): "--llm-concurrency",
    ("translated_stories", "limit"): "--limit",
    ("translated_stories", "batch_size"): "--batch-size",
    ("translation_quality", "limit"): "--limit",
    ("translation_quality", "batch_size"): "--batch-size",
    ("rating_tasks", "openers"): "--openers",
    ("rating_tasks", "stories_per_opener"): "--stories-per-opener",
    ("rating_tasks", "raters_per_story"): "--raters",
    ("rating_tasks", "seed"): "--seed",
    ("human_ratings", "project_id"): "--project",
}


def _flag_of(path: str, field: str) -> str | None:
    """The flag behind the run config field at `path` (`ops.samples_tiny.config`), if any."""
    parts = path.split(".")
    if len(parts) < 2:
        return None
    name = parts[1]
    for stage in PRESET_STAGES:
        if name.startswith(f"{stage}_"):
            name = stage
    return FLAGS.get((name, field))


def check_planned_runs(defs, runs: Sequence[PlannedRun], source: str | None = None) -> None:
    """Refuse, before anything runs, run config that a job would not take: each problem on
    one line naming the flag (or the run config path), the value and the allowed range; exit
    status 2. The limits are the fields' own (`defs/config_limits.py`)."""
    import dagster as dg

    from tsr_assets.defs.config_limits import check_run_config, limit_problems

    lines: list[str] = []
    for run in runs:
        try:
            check_run_config(defs.resolve_job_def(run.job), run.run_config)
        except dg.DagsterInvalidConfigError as exc:
            for problem in limit_problems(exc):
                flag = _flag_of(problem.path, problem.field)
                where = (f"{flag}: {problem.message} ({problem.path.split('.')[1]})" if flag
                         else f"run config {problem}" + (f" (from {source})" if source else ""))
                line = f"tsr: error: {where}"
                if line not in lines:
                    lines.append(line)
    if lines:
        print("\n".join(lines), file=sys.stderr)
        raise SystemExit(2)


def step_failure_message(event) -> str:
    """What went wrong in a failed step: the `dg.Failure` description, else the first line of
    the innermost exception (not Dagster's "Error occurred while executing op" wrapper)."""
    data = event.event_specific_data
    failure = getattr(data, "user_failure_data", None)
    if failure is not None and failure.description:
        return failure.description.strip()
    error = data.error
    if error is None:
        return event.message or "failed"
    while error.cause is not None:
        error = error.cause
    lines = [line for line in (error.message or "").strip().splitlines() if line.strip()]
    return lines[0] if lines else (error.cls_name or "failed")


def _execute(defs, instance, run: PlannedRun) -> None:
    import dagster as dg

    job = defs.resolve_job_def(run.job)
    started = time.monotonic()
    result = job.execute_in_process(
        instance=instance, partition_key=run.partition_key, run_config=run.run_config,
        raise_on_error=False,
        asset_selection=[dg.AssetKey(a) for a in run.assets] if run.assets else None,
    )
    print(
        f"[tsr] {run.job} for {run.label}: "
        f"{'succeeded' if result.success else 'FAILED'} in {time.monotonic() - started:.1f}s "
        f"(run {result.run_id})"
    )
    if not result.success:
        for event in result.all_events:
            if event.is_step_failure:
                print(f"[tsr]   {event.step_key}: {step_failure_message(event)}",
                      file=sys.stderr)
        raise SystemExit(1)


def _chain_runs(args: argparse.Namespace, language: str) -> list[PlannedRun]:
    """The language run, then one language x tokenizer run per tokenizer."""
    from tsr_assets.defs.jobs import LANGUAGE_JOB, LANGUAGE_TOKENIZER_JOB
    from tsr_assets.defs.partitions import language_tokenizer_key
    from tsr_assets.defs.tokenizers import TOKENIZER_ASSETS

    prompts = {"count": args.prompts, "seed": args.seed, "template": args.template}
    training = {"max_steps": args.train_steps, "max_seconds": args.train_seconds}
    corpus = {"corpus": args.corpus}
    recipes = {p: args.recipe if _fixed_recipe(p) is None else None for p in args.presets}
    sampling = {"samples_per_opener": args.samples_per_opener, "max_openers": args.max_openers}
    llm_limits = {k: v for k, v in (("requests_per_minute", args.llm_rpm),
                                    ("concurrency", args.llm_concurrency),
                                    ("mode", args.llm_mode)) if v is not None}
    llm = _resource_config(args.llm_source, "offline", args.llm_base_url, args.llm_model,
                           llm_limits)
    judge = _resource_config(args.judge, "automatic", args.judge_base_url, args.judge_model,
                             {"mode": args.judge_mode} if args.judge_mode else None)
    language_config: dict = {"ops": {"prompts": {"config": prompts}}}
    if llm:
        language_config["resources"] = {"llm": {"config": llm}}
    extra = getattr(args, "extra_run_config", {})
    runs = [PlannedRun(LANGUAGE_JOB, language,
                       merge_run_config(language_config, extra.get(LANGUAGE_JOB)), language)]
    for tokenizer in args.tokenizers:
        assets = (*TOKENIZER_ASSETS,
                  *(preset_asset(stage, p) for p in args.presets for stage in PRESET_STAGES))
        run_config: dict = {"ops": {
            "tokenizer": {"config": corpus}, "token_bins": {"config": corpus},
            **{preset_asset("checkpoint", p): {"config": {**training, "recipe": recipes[p]}}
               for p in args.presets},
            **{preset_asset("samples", p): {"config": sampling} for p in args.presets},
            **{preset_asset("judge_probes", p): {"config": {"max_stories": args.probe_stories}}
               for p in args.presets}}}
        if judge:
            run_config["resources"] = {"judge": {"config": judge}}
        runs.append(PlannedRun(
            LANGUAGE_TOKENIZER_JOB, language_tokenizer_key(language, tokenizer),
            merge_run_config(run_config, extra.get(LANGUAGE_TOKENIZER_JOB)),
            f"{language}|{tokenizer}", assets))
    return runs


def cmd_translate(args: argparse.Namespace) -> None:
    """Translate stories into one language (`translation_job`); with `--quality`, score the
    translator on the evaluation openers first (`translation_quality`)."""
    import dagster as dg

    from tsr_assets.definitions import build_definitions
    from tsr_assets.defs.jobs import TRANSLATION_JOB, TRANSLATION_QUALITY_JOB

    ensure_dagster_home()
    config: dict = {"translator": args.translator, "source_text_column": args.text_column,
                    "source_language": args.source_language}
    for key, value in (("source_path", args.source), ("source_hf_dataset", args.hf_dataset),
                       ("limit", args.limit), ("model", args.model),
                       ("batch_size", args.batch_size), ("device", args.device)):
        if value is not None:
            config[key] = value
    run_config: dict = {"ops": {"translated_stories": {"config": config}}}
    llm = _resource_config(args.llm_source, "offline", args.llm_base_url, args.llm_model,
                           {"mode": args.llm_mode} if args.llm_mode else None)
    if llm:
        run_config["resources"] = {"llm": {"config": llm}}
    defs = build_definitions()
    runs = [PlannedRun(TRANSLATION_JOB, args.language, run_config, args.language)]
    if args.quality:
        metrics = {k: v for k, v in (("labse_model", args.labse_model),
                                     ("comet_model", args.comet_model)) if v}
        quality = {**run_config, "ops": {"translation_quality": {"config": {**config,
                                                                          **metrics}}}}
        runs.insert(0, PlannedRun(TRANSLATION_QUALITY_JOB, args.language, quality,
                                  f"{args.language} (translation quality)"))
    check_planned_runs(defs, runs)
    with dg.DagsterInstance.get() as instance:
        for run in runs:
            _execute(defs, instance, run)
    print(f"[tsr] translated stories: {Lake.default().translated_stories_dir(args.language)}")
    print("[tsr] train on them with `tsr run --language "
          f"{args.language} --corpus translated` (or `both`)")


def cmd_run(args: argparse.Namespace) -> None:
    """Materialize the chain for the chosen languages on the offline defaults. Every run's
    config is checked first, so a bad value stops `tsr` before any run starts."""
    import dagster as dg

    from tsr_assets.definitions import build_definitions
    from tsr_assets.defs.jobs import REPORTS_JOB

    home = ensure_dagster_home()
    defs = build_definitions(extra_presets=args.presets)
    runs = [run for language in args.language for run in _chain_runs(args, language)]
    if args.tokenizers and args.presets:
        runs.append(PlannedRun(REPORTS_JOB, None,
                               getattr(args, "extra_run_config", {}).get(REPORTS_JOB, {}),
                               "all partitions"))
    check_planned_runs(defs, runs, getattr(args, "config", None))
    with dg.DagsterInstance.get() as instance:
        for run in runs:
            _execute(defs, instance, run)
    _print_outputs(args, home)


def _print_outputs(args: argparse.Namespace, home: Path) -> None:
    lake = Lake.default()
    print(f"[tsr] Dagster home (runs, event log): {home}")
    print(f"[tsr] data lake: {lake.root}")
    for language in args.language:
        print(f"[tsr]   wordlists: {lake.wordlists_file(language)}")
        print(f"[tsr]   prompts:   {lake.prompts_file(language)}")
        print(f"[tsr]   stories:   {lake.stories_dir(language)}")
        print(f"[tsr]   dataset:   {lake.hf_dataset_dir(language)} (datasets.load_dataset)")
        for tokenizer in args.tokenizers:
            print(f"[tsr]   bins:      {lake.bins_dir(language, tokenizer)}")
            for preset in args.presets:
                print(f"[tsr]   model:     {lake.checkpoint(language, tokenizer, preset).folder}")
                print(f"[tsr]   samples:   {lake.samples_file(language, tokenizer, preset)}")
                print(f"[tsr]   export:    {lake.hf_model_dir(language, tokenizer, preset)} "
                      "(transformers)")
    print(f"[tsr] warehouse: {lake.warehouse_file()}")
    if args.tokenizers and args.presets:
        print(f"[tsr] report:    {lake.report_file()}")
    print("[tsr] browse the runs and assets with `make ui`")


def build_parser() -> argparse.ArgumentParser:
    """The `tsr` argument parser."""
    parser = argparse.ArgumentParser(prog="tsr", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="materialize the chain for one or more languages")
    run.add_argument("-c", "--config", help="an experiment file (YAML): these options and "
                     "extra run config per job, e.g. experiments/hindi_tokenizers.yaml; flags "
                     "on the command line win")
    run.add_argument(
        "--language",
        nargs="+",
        default=[DEFAULT_LANGUAGE],
        choices=language_keys(),
        help=f"languages to run (default {DEFAULT_LANGUAGE})",
    )
    run.add_argument("--prompts", type=int, default=DEFAULT_PROMPT_COUNT,
                     help=f"number of prompts (default {DEFAULT_PROMPT_COUNT})")
    run.add_argument("--seed", type=int, default=0, help="prompt sampling seed")
    run.add_argument("--template", default=DEFAULT_TEMPLATE, help="prompt template name")
    run.add_argument(
        "--tokenizers",
        nargs="*",
        default=offline_tokenizer_keys(),
        choices=tokenizer_keys(),
        help="tokenizers to build bins and statistics for (default: the offline ones, "
        f"{' '.join(offline_tokenizer_keys())}); none to stop after stories",
    )
    run.add_argument(
        "--presets",
        nargs="*",
        default=["tiny"],
        type=_preset_name,
        help=f"model presets to train per tokenizer (default: tiny; known: {', '.join(PRESETS)}, "
        "each also with a recipe suffix such as e512_l6_modern); none to skip training",
    )
    run.add_argument("--corpus", choices=list(CORPORA), default=DEFAULT_CORPUS,
                     help="stories the tokenizers and bins are built on: generated (default), "
                     "translated (run `tsr translate` first) or both")
    run.add_argument("--recipe", choices=RECIPES, default=None,
                     help="training recipe of presets without a suffix (default: the resumed "
                     f"checkpoint's, else {DEFAULT_RECIPE})")
    run.add_argument("--train-seconds", type=float, default=TRAIN_SECONDS,
                     help=f"wall-clock budget per training run in seconds "
                     f"(default {TRAIN_SECONDS:g})")
    run.add_argument("--train-steps", type=int, default=TRAIN_DEFAULTS.max_steps,
                     help="most optimizer steps per training run "
                     f"(default {TRAIN_DEFAULTS.max_steps})")
    run.add_argument("--samples-per-opener", type=int, default=DEFAULT_SAMPLES_PER_OPENER,
                     help="stories sampled per evaluation opener "
                     f"(default {DEFAULT_SAMPLES_PER_OPENER})")
    run.add_argument("--max-openers", type=int, default=None,
                     help="use only the first N evaluation openers (default: all)")
    run.add_argument("--probe-stories", type=int, default=PROBE_STORIES,
                     help="samples per model the judge probes use, each judged 5 times "
                     f"(default {PROBE_STORIES})")
    _add_source_options(run)
    run.set_defaults(func=cmd_run)
    _add_translate_parser(sub)
    _add_probe_parser(sub)
    _add_rate_parser(sub)
    return parser


def _add_source_options(run: argparse.ArgumentParser) -> None:
    """The story source's and the judge's options of `tsr run`."""
    llm = run.add_argument_group("story source (default: the offline template writer)")
    llm.add_argument("--llm-source", choices=["offline", "openai", "g4f"], default="offline")
    llm.add_argument("--llm-base-url", help="OpenAI-compatible endpoint, e.g. "
                     "http://127.0.0.1:8000/v1 (key: $TSR_LLM_API_KEY)")
    llm.add_argument("--llm-model", help="model name for the story source")
    llm.add_argument("--llm-rpm", type=float, help="requests per minute (default: no limit)")
    llm.add_argument("--llm-concurrency", type=int, help="requests in flight (default 16)")
    llm.add_argument("--llm-mode", choices=["online", "batch"], help="batch: the endpoint's "
                     "OpenAI-format batch API, half the price (default online)")
    judge = run.add_argument_group("judge (default: the automatic metrics)")
    judge.add_argument("--judge", choices=["automatic", "openai", "g4f"], default="automatic")
    judge.add_argument("--judge-base-url", help="endpoint of the LLM judge "
                       "(key: $TSR_JUDGE_API_KEY)")
    judge.add_argument("--judge-model", help="model name of the LLM judge")
    judge.add_argument("--judge-mode", choices=["online", "batch"],
                       help="batch: judge through the endpoint's batch API")


def _add_translate_parser(sub) -> None:
    coded = [k for k in language_keys() if get_language(k).translation_code]
    translate = sub.add_parser("translate", help="translate stories (English by default) into "
                               "a language")
    translate.add_argument("--language", required=True, choices=coded)
    translate.add_argument("--source-language", choices=coded, default=SOURCE_LANGUAGE,
                           help="language translated from (default english)")
    translate.add_argument("--quality", action="store_true", help="score the translator on "
                           "the evaluation openers (chrF++, gates) before translating")
    translate.add_argument("--labse-model", help="with --quality: LaBSE similarity from this "
                           "sentence-transformers folder or Hub id (sentence-transformers/LaBSE)")
    translate.add_argument("--comet-model", help="with --quality: COMET-DA from this checkpoint "
                           "folder or Hub id (Unbabel/wmt22-comet-da), run in .venv-comet")
    translate.add_argument("--source", help="local parquet/JSON/JSONL/CSV file or folder "
                           "(default: the source language's stories)")
    translate.add_argument("--hf-dataset", help="Hugging Face dataset id, e.g. "
                           f"{TINYSTORIES_DATASET}")
    translate.add_argument("--text-column", default="text", help="column holding the story")
    translate.add_argument("--limit", type=int, help="translate the first N stories")
    translate.add_argument("--translator", choices=["seq2seq", "llm"], default="seq2seq")
    translate.add_argument("--model", help="seq2seq model folder or Hub id (default "
                           f"{DEFAULT_SEQ2SEQ_MODEL})")
    translate.add_argument("--batch-size", type=int, help="seq2seq sentences per batch")
    translate.add_argument("--device", help="seq2seq device (default: GPU when present)")
    translate.add_argument("--llm-source", choices=["offline", "openai", "g4f"],
                           default="offline", help="endpoint of translator llm")
    translate.add_argument("--llm-base-url", help="OpenAI-compatible endpoint "
                           "(key: $TSR_LLM_API_KEY)")
    translate.add_argument("--llm-model", help="model name of the LLM translator")
    translate.add_argument("--llm-mode", choices=["online", "batch"],
                           help="batch: translate through the endpoint's batch API")
    translate.set_defaults(func=cmd_translate)


def _add_probe_parser(sub) -> None:
    probe = sub.add_parser("probe", help="does the judge notice a broken story? "
                           "(judge_probes_<preset>)")
    probe.add_argument("--language", default=DEFAULT_LANGUAGE, choices=language_keys())
    probe.add_argument("--tokenizers", nargs="+", default=offline_tokenizer_keys(),
                       choices=tokenizer_keys(), help="the models' tokenizers (default: the "
                       f"offline ones, {' '.join(offline_tokenizer_keys())})")
    probe.add_argument("--preset", default="tiny", type=_preset_name,
                       help="the models' preset (default tiny)")
    probe.add_argument("--source", choices=["samples", "corpus"], default="samples",
                       help="the models' samples (default), or held-out corpus stories")
    probe.add_argument("--probe-stories", type=int, default=PROBE_STORIES,
                       help=f"stories probed, each judged 5 times (default {PROBE_STORIES})")
    probe.add_argument("--probe-seed", type=int, default=0, help="seed of the sample, the "
                       "probes and the bootstrap")
    probe.add_argument("--judge", choices=["automatic", "openai", "g4f"], default="automatic")
    probe.add_argument("--judge-base-url", help="endpoint of the LLM judge "
                       "(key: $TSR_JUDGE_API_KEY)")
    probe.add_argument("--judge-model", help="model name of the LLM judge")
    probe.set_defaults(func=cmd_probe)


def cmd_probe(args: argparse.Namespace) -> None:
    """Probe a judge on the models of one language and preset (`judge_probes_<preset>`, one
    run per tokenizer), then print what it noticed and what it missed."""
    import dagster as dg

    from tsr_assets.core.warehouse import query
    from tsr_assets.definitions import build_definitions
    from tsr_assets.defs.jobs import LANGUAGE_TOKENIZER_JOB
    from tsr_assets.defs.partitions import language_tokenizer_key
    from tsr_assets.reports.judge_quality import probes_section

    ensure_dagster_home()
    asset = preset_asset("judge_probes", args.preset)
    config = {"max_stories": args.probe_stories, "seed": args.probe_seed,
              "story_source": args.source}
    judge = _resource_config(args.judge, "automatic", args.judge_base_url, args.judge_model)
    runs = []
    for tokenizer in args.tokenizers:
        run_config: dict = {"ops": {asset: {"config": config}}}
        if judge:
            run_config["resources"] = {"judge": {"config": judge}}
        runs.append(PlannedRun(LANGUAGE_TOKENIZER_JOB,
                               language_tokenizer_key(args.language, tokenizer), run_config,
                               f"{args.language}|{tokenizer}", (asset,)))
    defs = build_definitions(extra_presets=[args.preset])
    check_planned_runs(defs, runs)
    with dg.DagsterInstance.get() as instance:
        for run in runs:
            _execute(defs, instance, run)
    lake = Lake.default()
    placeholders = ", ".join("?" for _ in args.tokenizers)
    probes = query(lake.warehouse_file(), "SELECT * FROM judge_probes WHERE language = ? AND "
                   f"preset = ? AND tokenizer IN ({placeholders}) ORDER BY tokenizer, judge, "
                   "metric", [args.language, args.preset, *args.tokenizers])
    print(probes_section(probes))
    print(f"[tsr] judge probes: DuckDB judge_probes in {lake.warehouse_file()}")


def _add_rate_parser(sub) -> None:
    rate = sub.add_parser("rate", help="human ratings in Label Studio: export a blinded "
                          "rating project, import the raters' scores")
    actions = rate.add_subparsers(dest="rate_command", required=True)
    export = actions.add_parser("export", help="a blinded rating project of one language's "
                                "samples (rating_tasks): in Label Studio with "
                                "--label-studio-url, else as files to import there")
    export.add_argument("--language", default=DEFAULT_LANGUAGE, choices=language_keys())
    export.add_argument("--models", nargs="*", default=[], help="tokenizer/preset of each "
                        "model, e.g. spm/tiny byte/tiny (default: every model with samples)")
    export.add_argument("--openers", type=int, default=20, help="openers per model, the same "
                        "for every model (default 20)")
    export.add_argument("--stories-per-opener", type=int, default=1,
                        help="samples of each model per opener (default 1)")
    export.add_argument("--raters", type=int, default=2, help="raters per story (default 2)")
    export.add_argument("--seed", type=int, default=0, help="seed of the choice and order")
    export.add_argument("--label-studio-url", help="Label Studio's address, e.g. "
                        "http://127.0.0.1:8080 (key: $TSR_LABEL_STUDIO_API_KEY)")
    export.set_defaults(func=cmd_rate_export)
    imported = actions.add_parser("import", help="ratings into judge_scores as human:<rater> "
                                  "(human_ratings)")
    imported.add_argument("file", nargs="?", help="Label Studio's JSON export, or a CSV of "
                          "language,tokenizer,preset,prompt_id,sample_index,rater,criterion,"
                          "score")
    imported.add_argument("--project", type=int, help="pull this Label Studio project's "
                          "annotations from --label-studio-url instead of a file")
    imported.add_argument("--label-studio-url", help="Label Studio's address (rater names; "
                          "needed with --project; key: $TSR_LABEL_STUDIO_API_KEY)")
    imported.set_defaults(func=cmd_rate_import)


def _rate(args: argparse.Namespace, asset: str, config: dict, label: str) -> dict:
    """Run one asset of `human_ratings_job` and return its materialization's metadata."""
    import dagster as dg

    from tsr_assets.definitions import build_definitions
    from tsr_assets.defs.jobs import HUMAN_RATINGS_JOB

    ensure_dagster_home()
    run_config: dict = {"ops": {asset: {"config": config}}}
    if args.label_studio_url:
        run_config["resources"] = {"label_studio": {"config": {"url": args.label_studio_url}}}
    defs = build_definitions()
    run = PlannedRun(HUMAN_RATINGS_JOB, None, run_config, label, (asset,))
    check_planned_runs(defs, [run])
    with dg.DagsterInstance.get() as instance:
        _execute(defs, instance, run)
        event = instance.get_latest_materialization_event(dg.AssetKey(asset))
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def cmd_rate_export(args: argparse.Namespace) -> None:
    """Export a blinded rating project (`rating_tasks`) and say where it is."""
    config = {"language": args.language, "models": args.models, "openers": args.openers,
              "stories_per_opener": args.stories_per_opener,
              "raters_per_story": args.raters, "seed": args.seed}
    meta = _rate(args, "rating_tasks", config, f"{args.language} (rating tasks)")
    print(f"[tsr] {meta['tasks']} stories to rate, {meta['raters_per_story']} raters each")
    if "project_url" in meta:
        print(f"[tsr] Label Studio project: {meta['project_url']}")
    else:
        print(f"[tsr] Label Studio: create a project, paste {meta['label_config']} under "
              f"Settings > Labeling Interface > Code, import {meta['tasks_file']}")
    print(f"[tsr] which model wrote which story (keep it from the raters): {meta['key_file']}")


def cmd_rate_import(args: argparse.Namespace) -> None:
    """Read ratings back (`human_ratings`) into judge_scores as human:<rater>."""
    if bool(args.file) == bool(args.project):
        raise SystemExit("tsr: error: rate import: give a FILE or --project (with "
                         "--label-studio-url)")
    config = ({"path": str(Path(args.file).expanduser().resolve())} if args.file
              else {"project_id": args.project})
    meta = _rate(args, "human_ratings", config, "human ratings")
    print(f"[tsr] {meta['scores']} scores of {meta['raters']} raters imported into "
          f"judge_scores:\n{meta['judges']}")
    print("[tsr] compare them with the judges: DuckDB judge_calibration, judge_agreement "
          "(docs/evaluation.md)")


def _preset_name(name: str) -> str:
    """A model name as asset names take it; whether the defs folder declares it (or the seed
    catalog has it) is checked when the definitions load, with the scaffold command."""
    try:
        return check_model_name(name, "model preset")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _fixed_recipe(name: str) -> str | None:
    """The recipe a seed size's name fixes (`e512_l6_modern`); None for other names."""
    try:
        return get_preset(name).recipe
    except ValueError:
        return None


def _resource_config(source: str, default: str, base_url: str | None, model: str | None,
                     extra: dict | None = None) -> dict:
    if source == default:
        return {}
    config = {"source": source, **(extra or {})}
    if base_url:
        config["base_url"] = base_url
    if model:
        config["model"] = model
    return config


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the `tsr` console command."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if getattr(args, "config", None):
        run = parser._subparsers._group_actions[0].choices["run"]
        flags = {a.dest: a.option_strings[-1] for a in run._actions if a.option_strings}
        try:
            settings, extra = load_experiment(args.config, set(flags) - {"help", "config"})
        except ExperimentFileError as exc:
            parser.error(str(exc))
        # The file's settings become flags before the command line's, so argparse checks
        # them like typed ones and a flag given on the command line wins.
        from_file = []
        for name, value in settings.items():
            if value is not None:
                values = value if isinstance(value, list) else [value]
                from_file += [flags[name], *(str(v) for v in values)]
        args = parser.parse_args([argv[0], *from_file, *argv[1:]])
        args.extra_run_config = extra
    args.func(args)


if __name__ == "__main__":
    main(sys.argv[1:])
