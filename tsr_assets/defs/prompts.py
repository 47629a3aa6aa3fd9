"""`wordlists` and `prompts` (language partitions): the words stories are built from, and
unique word combinations rendered into story requests."""

from pathlib import Path
from typing import Literal

import dagster as dg
import polars as pl
from pydantic import Field

from tsr_assets.core.lake import Lake
from tsr_assets.core.languages import get_language
from tsr_assets.defs.automation import on_language_cron
from tsr_assets.defs.checks import lake_checks
from tsr_assets.defs.jobs import STORIES_GROUP
from tsr_assets.defs.load_scope import current_scope, stage_definitions
from tsr_assets.defs.partitions import Partitions
from tsr_assets.defs.resources import DataLakeResource
from tsr_assets.prompts.building import (
    DEFAULT_PROMPT_COUNT,
    PromptCountError,
    prompt_frames,
    write_prompts_parquet,
)
from tsr_assets.prompts.templates import (
    DEFAULT_TEMPLATE,
    TEMPLATES,
    TemplateError,
    get_template,
    load_template_file,
)
from tsr_assets.prompts.wordlists import (
    MIN_COUNTS,
    WORDLIST_FILES,
    WordlistError,
    WordlistPolicies,
    load_wordlists,
    read_stored_wordlists,
    resolve_source_dir,
    save_wordlists,
    stored_wordlists,
    wordlist_problems,
)
from tsr_assets.reports.markdown import frame_preview, markdown_table


class WordlistsConfig(dg.Config):
    """Where the word lists come from, and what to do with duplicate or invalid entries."""

    source_dir: str | None = Field(
        default=None,
        description=(
            "Your own word-list folder holding nouns.txt, verbs.txt, adjectives.txt, "
            "features.txt and features_en.txt, or <language>-nouns.txt ... and "
            "english-features.txt (or one such folder per language, named by language key). "
            "Empty: the lists packaged with tsr_assets."
        ),
    )
    on_duplicate: Literal["drop", "error"] = Field(
        default="drop", description="drop: keep the first, list each dropped line; error: fail.")
    on_invalid: Literal["error", "drop"] = Field(
        default="error", description="error: fail listing every invalid entry; drop: skip them.")


def build_wordlists_defs(
    partitions: Partitions,
) -> list[dg.AssetsDefinition | dg.AssetChecksDefinition]:
    """The `wordlists` asset and its check, partitioned by language."""

    @dg.asset(
        code_version="1",
        partitions_def=partitions.language,
        automation_condition=on_language_cron(partitions),
        group_name=STORIES_GROUP,
        kinds={"python"},
    )
    def wordlists(
        context: dg.AssetExecutionContext, config: WordlistsConfig, data_lake: DataLakeResource
    ) -> dg.MaterializeResult:
        """Nouns, verbs, adjectives and story features (tone or ending) for one language.

        Read from the packaged lists (`tsr_assets/data/<language>/`) or from your own folder
        (run config `source_dir`), NFC-normalized and validated: every entry in the language's
        script (English features in Latin letters), no duplicates. A bad file fails the run
        with its file name, line and the problem. Output: `wordlists/<language>/wordlists.json`.
        """
        with data_lake.writing_partition_of(context):
            language = get_language(context.partition_key)
            folder = resolve_source_dir(config.source_dir, language.key)
            try:
                lists = load_wordlists(folder, language,
                                       WordlistPolicies(config.on_duplicate, config.on_invalid))
            except WordlistError as exc:
                raise dg.Failure(description=f"wordlists for {language.key!r}: {exc}") from exc
            if lists.dropped:
                context.log.warning(f"{len(lists.dropped)} entries dropped:\n"
                                    + "\n".join(f"- {p}" for p in lists.dropped))
            out = data_lake.lake.wordlists_file(language.key)
            save_wordlists(out, lists, language.key)
            counts = lists.counts()
            preview_rows = [
                [i + 1, *(getattr(lists, n)[i] if i < counts[n] else "" for n in WORDLIST_FILES)]
                for i in range(8)
            ]
            context.log.info(
                f"{language.display_name}: {counts} -> {lists.combination_count:,} combinations"
            )
            return dg.MaterializeResult(
                metadata={
                    **{f"{name}_count": dg.MetadataValue.int(n) for name, n in counts.items()},
                    "combinations": dg.MetadataValue.int(lists.combination_count),
                    "source_dir": dg.MetadataValue.path(str(folder)),
                    "path": dg.MetadataValue.path(str(out)),
                    "preview": dg.MetadataValue.md(
                        markdown_table(preview_rows, ["#", *WORDLIST_FILES], max_chars=40)
                    ),
                    "dropped": dg.MetadataValue.int(len(lists.dropped)),
                    "dropped_entries": dg.MetadataValue.md(markdown_table(
                        [[Path(p.file).name, p.line, p.entry, p.problem] for p in lists.dropped],
                        ["file", "line", "entry", "why"]) if lists.dropped else "none"),
                    "features_aligned": dg.MetadataValue.bool(lists.features_aligned),
                }
            )

    return [wordlists, *lake_checks(wordlists, partitions.language, [wordlists_valid])]


def wordlists_valid(lake: Lake, language: str) -> dg.AssetCheckResult:
    """Stored lists: every entry in the language's script, no duplicates, minimum counts.

    Script or duplicate problems are errors; lists shorter than the minimum (fine for a
    small experiment with your own lists) only warn.
    """
    stored = read_stored_wordlists(lake.wordlists_file(language))
    problems = wordlist_problems(stored["lists"], get_language(language))
    only_counts = all("fewer than the minimum" in p for p in problems)
    return dg.AssetCheckResult(
        passed=not problems,
        severity=dg.AssetCheckSeverity.WARN if only_counts else dg.AssetCheckSeverity.ERROR,
        metadata={
            "problems": dg.MetadataValue.int(len(problems)),
            "minimum_counts": dg.MetadataValue.json(MIN_COUNTS),
            "details": dg.MetadataValue.md(
                "\n".join(f"- {p}" for p in problems[:30]) or "no problems"),
        },
    )


class PromptsConfig(dg.Config):
    """How many prompts, which template, and how features are worded."""

    count: int = Field(default=DEFAULT_PROMPT_COUNT, ge=1,
                       description="Number of unique prompts (millions allowed).")
    seed: int = Field(
        default=0, ge=0,
        description="Sampling seed. Same seed and lists: a larger count only appends prompts.",
    )
    template: str = Field(
        default=DEFAULT_TEMPLATE, description="Prompt template: " + ", ".join(TEMPLATES)
    )
    template_path: str | None = Field(
        default=None,
        description="Your own template file instead (placeholders {noun} {verb} {adjective} "
        "{feature} {language} {script}; {{ and }} for literal braces).")
    template_max_words: int = Field(
        default=300, ge=1, description="For template_path: the longest story it asks for, in words "
        "(sizes the LLM's max_tokens).")
    feature_language: Literal["native", "english"] = Field(
        default="native",
        description="Word the story feature in the target language or in English.",
    )


def build_prompts_defs(partitions: Partitions) -> list[dg.AssetsDefinition]:
    """The `prompts` asset, partitioned by language."""

    @dg.asset(
        code_version="1",
        partitions_def=partitions.language,
        automation_condition=on_language_cron(partitions),
        deps=["wordlists"],
        group_name=STORIES_GROUP,
        kinds={"polars", "parquet"},
    )
    def prompts(
        context: dg.AssetExecutionContext, config: PromptsConfig, data_lake: DataLakeResource
    ) -> dg.MaterializeResult:
        """Unique (noun, verb, adjective, feature) combinations, each rendered into a prompt.

        Sampled without replacement from the full product of the wordlists, deterministic for
        a seed; `prompt_id` is a hash of the four words. Stored as
        `prompts/<language>/prompts.parquet` with prompt_id, noun, verb, adjective, feature,
        feature_en, template, template_hash, max_words and prompt. The template is a packaged
        one or your own file (`template_path`).
        """
        with data_lake.writing_partition_of(context):
            language = get_language(context.partition_key)
            lists = stored_wordlists(data_lake.lake.wordlists_file(language.key))
            try:
                template = (load_template_file(config.template_path, config.template_max_words)
                            if config.template_path else get_template(config.template))
                frames = prompt_frames(
                    lists, language, template, config.count, config.seed, config.feature_language
                )
                out = data_lake.lake.prompts_file(language.key)
                rows = write_prompts_parquet(frames, out)
            except (PromptCountError, TemplateError, ValueError, KeyError) as exc:
                raise dg.Failure(
                    description=f"prompts for {language.key!r}: {exc.args[0]}") from exc
            head = pl.read_parquet(out, n_rows=5)
            total = lists.combination_count
            context.log.info(f"wrote {rows:,} prompts to {out}")
            return dg.MaterializeResult(
                metadata={
                    "count": dg.MetadataValue.int(rows),
                    "combinations": dg.MetadataValue.int(total),
                    "share_of_product": dg.MetadataValue.float(rows / total),
                    "template": dg.MetadataValue.text(template.name),
                    "template_hash": dg.MetadataValue.text(template.text_hash),
                    "seed": dg.MetadataValue.int(config.seed),
                    "feature_language": dg.MetadataValue.text(config.feature_language),
                    "path": dg.MetadataValue.path(str(out)),
                    "preview": dg.MetadataValue.md(
                        frame_preview(head.drop("prompt"), max_chars=30)),
                    "example_prompt": dg.MetadataValue.md(
                        "```\n" + head["prompt"][0] + "\n```" if rows else "(none)"
                    ),
                }
            )

    return [prompts]


@dg.definitions
def defs() -> dg.Definitions:
    """`wordlists` and `prompts` with their checks, for the languages of this load."""
    partitions = current_scope().partitions()
    return stage_definitions([*build_wordlists_defs(partitions), *build_prompts_defs(partitions)])
