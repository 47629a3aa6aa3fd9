"""Human ratings: `rating_tasks` builds a blinded rating project for native speakers (in a Label
Studio server, or as files to import into one), `human_ratings` reads their ratings back into
DuckDB `judge_scores` as the judges `human:<rater>`, beside the LLM judges.

Label Studio is optional: without a server URL and key, `rating_tasks` writes Label Studio's
import files and `human_ratings` reads an export file; the platform never needs the server."""


import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import polars as pl
from pydantic import Field

from tsr_assets.core.atomic_files import write_json_atomic
from tsr_assets.core.lake import Lake, preset_asset
from tsr_assets.core.languages import DEFAULT_LANGUAGE, get_language
from tsr_assets.core.warehouse import query_frame, replace_keyed_rows
from tsr_assets.defs.jobs import HUMAN_RATINGS_GROUP
from tsr_assets.defs.model_components import declared_models
from tsr_assets.defs.resources import DataLakeResource, WarehouseResource
from tsr_assets.evaluation.human_ratings import (
    HUMAN_JUDGE_PREFIX,
    SAMPLE_KEY,
    RatingsFileError,
    read_ratings,
)
from tsr_assets.evaluation.label_studio import LabelStudioClient, LabelStudioError
from tsr_assets.evaluation.rating_tasks import (
    RatingExportError,
    RatingSelection,
    about_export,
    label_config,
    read_keys,
    select_for_rating,
    write_export,
)
from tsr_assets.evaluation.rubric import LLM_METRICS
from tsr_assets.reports.markdown import markdown_table

LABEL_STUDIO_KEY_ENV = "TSR_LABEL_STUDIO_API_KEY"


class LabelStudioResource(dg.ConfigurableResource):
    """A Label Studio server (optional). `url` empty: rating projects are written as files to
    import by hand. The key is set with `EnvVar("TSR_LABEL_STUDIO_API_KEY")` (run config:
    `{"api_key": {"env": "TSR_LABEL_STUDIO_API_KEY"}}`; left out, that variable is read at run
    time), a legacy token or a personal access token, and never stored or logged."""

    url: str = Field(default="", description="Label Studio's address, e.g. "
                     "http://127.0.0.1:8080; empty: write import files instead.")
    api_key: str | None = Field(default=None, description="Set with "
                                f"EnvVar('{LABEL_STUDIO_KEY_ENV}').")
    timeout_s: float = Field(default=60.0, gt=0, description="Seconds per API call.")

    @property
    def configured(self) -> bool:
        """Whether a server is given (a URL)."""
        return bool(self.url.strip())

    def client(self) -> LabelStudioClient:
        """A client of the server; a Failure naming what is missing when it cannot be made."""
        if not self.configured:
            raise dg.Failure("label_studio.url is empty: give the server's address",
                             allow_retries=False)
        key = self.api_key or os.environ.get(LABEL_STUDIO_KEY_ENV, "")
        if not key:
            raise dg.Failure(f"label_studio has a URL but no API key: set ${LABEL_STUDIO_KEY_ENV} "
                             "to an access token (Label Studio, Account & Settings)",
                             allow_retries=False)
        return LabelStudioClient(self.url.strip(), key, self.timeout_s)


class RatingTasksConfig(dg.Config):
    """Which samples go to the raters, and how many raters see each story."""

    language: str = Field(default=DEFAULT_LANGUAGE, description="Language of the samples.")
    models: list[str] = Field(default_factory=list, description="`tokenizer/preset` of "
                              "each model to rate, e.g. `spm/tiny`; empty: every model with "
                              "samples.")
    openers: int = Field(default=20, ge=1, description="Openers per model (the same for "
                         "every model), chosen at random among those all models have.")
    stories_per_opener: int = Field(default=1, ge=1, description="Samples of each model per "
                                    "opener.")
    raters_per_story: int = Field(default=2, ge=1, description="Raters who rate each story "
                                  "(Label Studio's overlap).")
    seed: int = Field(default=0, ge=0, description="Seed of the choice and the order.")
    criteria: list[str] = Field(default_factory=lambda: list(LLM_METRICS),
                                description="Rubric criteria rated 1-10.")

    def model_pairs(self) -> list[tuple[str, str]]:
        """(tokenizer, preset) of each model named; a Failure for a malformed name."""
        pairs = []
        for name in self.models:
            tokenizer, _, preset = name.partition("/")
            if not tokenizer or not preset:
                raise dg.Failure(f"models: {name!r} is not `tokenizer/preset` (e.g. spm/tiny)",
                                 allow_retries=False)
            pairs.append((tokenizer, preset))
        return pairs


class HumanRatingsConfig(dg.Config):
    """Where the ratings come from: a file, or a Label Studio project on the server."""

    path: str = Field(default="", description="Label Studio's JSON export of a rating "
                      "project, or a CSV with language,tokenizer,preset,prompt_id,"
                      "sample_index,rater,criterion,score.")
    project_id: int | None = Field(default=None, ge=1, description="Pull the annotations of "
                                   "this Label Studio project from the `label_studio` server "
                                   "instead of a file.")
    criteria: list[str] = Field(default_factory=lambda: list(LLM_METRICS),
                                description="The rubric's criteria a rating may have.")


def _samples(warehouse: WarehouseResource, language: str | None = None) -> pl.DataFrame:
    where = "WHERE language = ?" if language else ""
    return warehouse.query(
        f"SELECT language, tokenizer, preset, corpus, prompt_id, sample_index, opener, story "
        f"FROM samples {where} ORDER BY tokenizer, preset, prompt_id, sample_index",
        [language] if language else None)


def _create_project(client: LabelStudioClient, server: str, title: str, config: str,
                    raters: int, tasks: list[dict], log) -> dict:
    try:
        project = client.create_project(title, config, raters, description=(
            "Rate each story for a five- to seven-year-old, 1 (very poor) to 10 (excellent) "
            "on every criterion. The stories come from several models; which is not shown."))
        client.import_tasks(project["id"], tasks)
    except LabelStudioError as exc:
        raise dg.Failure(f"rating_tasks: {exc}", allow_retries=False) from None
    url = f"{server.strip().rstrip('/')}/projects/{project['id']}/data"
    log(f"Label Studio project {project['id']} with {len(tasks)} tasks: {url}")
    return {"project_id": project["id"], "project_url": url}


def build_human_ratings_defs(models: Sequence[str]) -> list[dg.AssetsDefinition]:
    """`rating_tasks` and `human_ratings` (unpartitioned; the language is run config)."""

    @dg.asset(
        code_version="1",
        deps=[preset_asset("samples", m) for m in models],
        group_name=HUMAN_RATINGS_GROUP,
        kinds={"python", "duckdb"},
    )
    def rating_tasks(
        context: dg.AssetExecutionContext,
        config: RatingTasksConfig,
        data_lake: DataLakeResource,
        warehouse: WarehouseResource,
        label_studio: LabelStudioResource,
    ) -> dg.MaterializeResult:
        """A blinded rating project for native speakers of one language: the same seeded
        random openers for every chosen model, `stories_per_opener` samples of each model per
        opener, all shuffled; each task shows the opener and the story under an opaque id, no
        model name and no judge score, with the rubric's criteria as 1-10 ratings and
        `raters_per_story` raters per story. Written to `rating_tasks/<language>/<export
        id>/` (Label Studio's `tasks.json`, `label_config.xml`, and `key.parquet`, the only
        place that says which model wrote a story); with a `label_studio` server, also
        created there as a project."""
        try:
            language = get_language(config.language)
        except (KeyError, ValueError) as exc:
            raise dg.Failure(f"language: {exc}", allow_retries=False) from None
        client = label_studio.client() if label_studio.configured else None
        selection = RatingSelection(config.openers, config.stories_per_opener, config.seed)
        pairs = config.model_pairs()
        samples = _samples(warehouse, language.key)
        try:
            tasks = select_for_rating(samples, selection, pairs or None)
        except RatingExportError as exc:
            raise dg.Failure(f"rating_tasks for {language.key}: {exc}",
                             allow_retries=False) from None
        chosen = sorted(set(tasks.select("tokenizer", "preset").iter_rows()))
        export_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        xml = label_config(language.display_name, config.criteria)
        about = about_export(language.key, selection, chosen, config.raters_per_story,
                             tasks.height)
        folder = data_lake.lake.rating_export_dir(language.key, export_id)
        export = write_export(folder, tasks, xml, about)
        if client is not None:
            title = f"TSR {language.display_name} ratings {export_id[:15]}"
            about.update(_create_project(client, label_studio.url, title, xml,
                                         config.raters_per_story, export.tasks,
                                         context.log.info))
            write_json_atomic(folder / "export.json", about)
        per_model = tasks.group_by("tokenizer", "preset").len().sort("tokenizer", "preset")
        return dg.MaterializeResult(metadata={
            "language": language.key, "export_id": export_id,
            "tasks": dg.MetadataValue.int(tasks.height),
            "models": dg.MetadataValue.md(markdown_table(
                [list(r) for r in per_model.iter_rows()], ["tokenizer", "preset", "stories"])),
            "raters_per_story": dg.MetadataValue.int(config.raters_per_story),
            "tasks_file": dg.MetadataValue.path(str(export.tasks_file)),
            "label_config": dg.MetadataValue.path(str(export.config_file)),
            "key_file": dg.MetadataValue.path(str(export.key_file)),
            **({"project_url": dg.MetadataValue.url(about["project_url"])}
               if "project_url" in about else {}),
        })

    @dg.asset(
        code_version="1",
        deps=["rating_tasks"],
        group_name=HUMAN_RATINGS_GROUP,
        kinds={"python", "duckdb"},
    )
    def human_ratings(
        context: dg.AssetExecutionContext,
        config: HumanRatingsConfig,
        data_lake: DataLakeResource,
        warehouse: WarehouseResource,
        label_studio: LabelStudioResource,
    ) -> dg.MaterializeResult:
        """Human ratings into DuckDB `judge_scores` as the judges `human:<rater>`, with the
        rubric's metric names (and `mean_of_criteria`), so every view, comparison and the
        report take them like an LLM judge. From Label Studio's JSON export of a
        `rating_tasks` project (a file, or pulled from the `label_studio` server by
        `project_id`), or a CSV of language, tokenizer, preset, prompt_id, sample_index,
        rater, criterion, score (1-10). The whole file is checked first: every unknown
        sample, bad score, unknown criterion and story rated twice by a rater is named, and
        nothing is written. A rater's earlier scores of the same stories are replaced."""
        lake = data_lake.lake
        path, users = _ratings_source(config, label_studio, lake, context.log.info)
        try:
            rows = read_ratings(path, _samples(warehouse), read_keys(lake.rating_tasks_dir()),
                                users, config.criteria)
        except RatingsFileError as exc:
            raise dg.Failure(str(exc), allow_retries=False) from None
        return _store_ratings(context, warehouse, rows, path)

    return [rating_tasks, human_ratings]


def _ratings_source(config: HumanRatingsConfig, label_studio: LabelStudioResource, lake: Lake,
                    log) -> tuple[Path, dict[int, str] | None]:
    """The ratings file (a project's export is pulled and kept under `human_ratings/`) and
    the server's user names when a server is given."""
    if bool(config.path) == bool(config.project_id):
        raise dg.Failure("human_ratings: give either path (a Label Studio JSON export or a "
                         "CSV file) or project_id (a project on the label_studio server)",
                         allow_retries=False)
    if not label_studio.configured:
        if config.project_id:
            raise dg.Failure("human_ratings: project_id needs the label_studio resource's "
                             f"url (and ${LABEL_STUDIO_KEY_ENV}); or export the project as "
                             "JSON and give its path", allow_retries=False)
        return Path(config.path).expanduser(), None
    client = label_studio.client()
    try:
        users = client.users()
        if not config.project_id:
            return Path(config.path).expanduser(), users
        export = client.export_annotations(config.project_id)
    except LabelStudioError as exc:
        raise dg.Failure(f"human_ratings: {exc}", allow_retries=False) from None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = lake.human_ratings_dir() / f"project-{config.project_id}-{stamp}.json"
    write_json_atomic(path, export)
    log(f"pulled {len(export)} annotated tasks of project {config.project_id} -> {path}")
    return path, users


def _store_ratings(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                   rows: pl.DataFrame, path: Path) -> dg.MaterializeResult:
    """Add parameters, run id and time, and replace each rater's scores of these stories."""
    with warehouse.get_connection() as con:
        params = query_frame(con, "SELECT language, tokenizer, preset, corpus, parameters "
                                  "FROM latest_training_runs")
        frame = rows.join(params, on=["language", "tokenizer", "preset", "corpus"],
                          how="left").with_columns(
            run_id=pl.lit(context.run.run_id), rubric_hash=pl.lit(None, dtype=pl.String),
            created_at=pl.lit(datetime.now(UTC)),
            sample_index=pl.col("sample_index").cast(pl.Int32))
        replace_keyed_rows(con, "judge_scores", [*SAMPLE_KEY, "judge", "metric"], frame,
                           what=f"human ratings from {path.name}")
    summary = (frame.group_by("judge").agg(
        pl.struct(*SAMPLE_KEY).n_unique().alias("stories"), pl.len().alias("scores"))
        .sort("judge"))
    overall = (frame.filter(pl.col("metric") == "overall")
               .group_by("language", "tokenizer", "preset").agg(
                   pl.len().alias("n"), pl.col("value").mean().round(2).alias("mean"))
               .sort("language", "tokenizer", "preset"))
    return dg.MaterializeResult(metadata={
        "file": dg.MetadataValue.path(str(path)),
        "raters": dg.MetadataValue.int(summary.height),
        "scores": dg.MetadataValue.int(frame.height),
        "judges": dg.MetadataValue.md(markdown_table(
            [list(r) for r in summary.iter_rows()], ["judge", "stories", "scores"])),
        "overall_by_model": dg.MetadataValue.md(markdown_table(
            [list(r) for r in overall.iter_rows()],
            ["language", "tokenizer", "preset", "n", "mean overall"])),
        "judge_prefix": HUMAN_JUDGE_PREFIX,
    })


@dg.definitions
def defs(context: dg.ComponentLoadContext) -> dg.Definitions:
    """`rating_tasks` and `human_ratings` over every model this load declares (not automated:
    a person picks the stories to rate and brings the ratings), and the Label Studio server
    (its key only from `$TSR_LABEL_STUDIO_API_KEY`)."""
    key = dg.EnvVar(LABEL_STUDIO_KEY_ENV) if os.environ.get(LABEL_STUDIO_KEY_ENV) else None
    return dg.Definitions(assets=build_human_ratings_defs(declared_models(context)),
                          resources={"label_studio": LabelStudioResource(api_key=key)})
