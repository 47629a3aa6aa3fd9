"""The `wordlists` asset: nouns, verbs, adjectives and story features per language."""


import json
from pathlib import Path

import dagster as dg
from pydantic import Field

from tsr_assets.assets.metadata_formatting import markdown_table
from tsr_assets.atomic_files import write_json_atomic
from tsr_assets.languages import get_language
from tsr_assets.partitions import Partitions
from tsr_assets.resources.data_lake import DataLakeResource
from tsr_assets.text.wordlist_parsing import (
    MIN_COUNTS,
    WORDLIST_FILES,
    WordlistError,
    load_wordlists,
    wordlist_problems,
)

WORDLISTS_FILE = "wordlists.json"


class WordlistsConfig(dg.Config):
    """Where the wordlists come from."""

    source_dir: str | None = Field(
        default=None,
        description=(
            "Your own wordlist folder holding nouns.txt, verbs.txt, adjectives.txt, "
            "features.txt and features_en.txt (or one such folder per language, named by "
            "language key). Empty: the lists packaged with tsr_assets."
        ),
    )


def resolve_source_dir(source_dir: str | None, language_key: str) -> Path:
    """The folder to read for `language_key`: `<dir>/<language>` if it exists, else `<dir>`."""
    language = get_language(language_key)
    if not source_dir:
        return language.package_data_dir
    base = Path(source_dir).expanduser()
    return base / language_key if (base / language_key).is_dir() else base


def read_stored_wordlists(data_lake: DataLakeResource, language_key: str) -> dict:
    """The `wordlists` asset's stored output for a language, or a clear error if missing."""
    path = data_lake.folder("wordlists", language_key) / WORDLISTS_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: materialize `wordlists` for partition {language_key!r} first"
        )
    return json.loads(path.read_text(encoding="utf-8"))


def build_wordlists_defs(
    partitions: Partitions,
) -> list[dg.AssetsDefinition | dg.AssetChecksDefinition]:
    """The `wordlists` asset and its check, partitioned by language."""

    @dg.asset(
        partitions_def=partitions.language,
        group_name="stories",
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
        language = get_language(context.partition_key)
        folder = resolve_source_dir(config.source_dir, language.key)
        try:
            lists = load_wordlists(folder, language)
        except WordlistError as exc:
            raise dg.Failure(description=f"wordlists for {language.key!r}: {exc}") from exc
        out = data_lake.folder("wordlists", language.key) / WORDLISTS_FILE
        counts = lists.counts()
        write_json_atomic(
            out,
            {
                "language": language.key,
                "source_dir": str(folder),
                "counts": counts,
                "combinations": lists.combination_count,
                "lists": lists.as_dict(),
            },
        )
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
            }
        )

    @dg.asset_check(asset=wordlists, partitions_def=partitions.language)
    def wordlists_valid(
        context: dg.AssetCheckExecutionContext, data_lake: DataLakeResource
    ) -> dg.AssetCheckResult:
        """Stored lists: every entry in the language's script, no duplicates, minimum counts.

        Script or duplicate problems are errors; lists shorter than the minimum (fine for a
        small experiment with your own lists) only warn.
        """
        stored = read_stored_wordlists(data_lake, context.partition_key)
        problems = wordlist_problems(stored["lists"], get_language(context.partition_key))
        only_counts = all("fewer than the minimum" in p for p in problems)
        return dg.AssetCheckResult(
            passed=not problems,
            severity=dg.AssetCheckSeverity.WARN if only_counts else dg.AssetCheckSeverity.ERROR,
            metadata={
                "problems": dg.MetadataValue.int(len(problems)),
                "minimum_counts": dg.MetadataValue.json(MIN_COUNTS),
                "details": dg.MetadataValue.md(
                    "\n".join(f"- {p}" for p in problems[:30]) or "no problems"
                ),
            },
        )

    return [wordlists, wordlists_valid]
