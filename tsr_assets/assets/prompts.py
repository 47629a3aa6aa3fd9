"""The `prompts` asset: unique word combinations rendered into story requests."""


from typing import Literal

import dagster as dg
import polars as pl
from pydantic import Field

from tsr_assets.assets.metadata_formatting import frame_preview
from tsr_assets.assets.wordlists import read_stored_wordlists
from tsr_assets.languages import get_language
from tsr_assets.partitions import Partitions
from tsr_assets.resources.data_lake import DataLakeResource
from tsr_assets.text.prompt_building import PromptCountError, prompt_frames, write_prompts_parquet
from tsr_assets.text.prompt_templates import DEFAULT_TEMPLATE, TEMPLATES, get_template
from tsr_assets.text.wordlist_parsing import Wordlists

PROMPTS_FILE = "prompts.parquet"


class PromptsConfig(dg.Config):
    """How many prompts, which template, and how features are worded."""

    count: int = Field(default=200, description="Number of unique prompts (millions allowed).")
    seed: int = Field(
        default=0,
        description="Sampling seed. Same seed and lists: a larger count only appends prompts.",
    )
    template: str = Field(
        default=DEFAULT_TEMPLATE, description="Prompt template: " + ", ".join(TEMPLATES)
    )
    feature_language: Literal["native", "english"] = Field(
        default="native",
        description="Word the story feature in the target language or in English.",
    )


def build_prompts_defs(partitions: Partitions) -> list[dg.AssetsDefinition]:
    """The `prompts` asset, partitioned by language."""

    @dg.asset(
        partitions_def=partitions.language,
        deps=["wordlists"],
        group_name="stories",
        kinds={"polars", "parquet"},
    )
    def prompts(
        context: dg.AssetExecutionContext, config: PromptsConfig, data_lake: DataLakeResource
    ) -> dg.MaterializeResult:
        """Unique (noun, verb, adjective, feature) combinations, each rendered into a prompt.

        Sampled without replacement from the full product of the wordlists, deterministic for
        a seed; `prompt_id` is a hash of the four words. Stored as
        `prompts/<language>/prompts.parquet` with prompt_id, noun, verb, adjective, feature,
        feature_en, template and prompt.
        """
        language = get_language(context.partition_key)
        stored = read_stored_wordlists(data_lake, language.key)
        lists = Wordlists(
            **{name: tuple(v) for name, v in stored["lists"].items()},
            source_dir=stored["source_dir"],
        )
        try:
            template = get_template(config.template)
            frames = prompt_frames(
                lists, language, template, config.count, config.seed, config.feature_language
            )
            out = data_lake.folder("prompts", language.key) / PROMPTS_FILE
            rows = write_prompts_parquet(frames, out)
        except (PromptCountError, KeyError) as exc:
            raise dg.Failure(description=f"prompts for {language.key!r}: {exc.args[0]}") from exc
        head = pl.read_parquet(out, n_rows=5)
        total = lists.combination_count
        context.log.info(f"wrote {rows:,} prompts to {out}")
        return dg.MaterializeResult(
            metadata={
                "count": dg.MetadataValue.int(rows),
                "combinations": dg.MetadataValue.int(total),
                "share_of_product": dg.MetadataValue.float(rows / total),
                "template": dg.MetadataValue.text(template.name),
                "seed": dg.MetadataValue.int(config.seed),
                "feature_language": dg.MetadataValue.text(config.feature_language),
                "path": dg.MetadataValue.path(str(out)),
                "preview": dg.MetadataValue.md(frame_preview(head.drop("prompt"), max_chars=30)),
                "example_prompt": dg.MetadataValue.md(
                    "```\n" + head["prompt"][0] + "\n```" if rows else "(none)"
                ),
            }
        )

    return [prompts]
