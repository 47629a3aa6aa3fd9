"""The platform's resources: the data lake, the DuckDB warehouse, the story LLM, the judge and
Weights & Biases. Secrets are read from environment variables at run time only.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Literal

import dagster as dg
import duckdb
import polars as pl
from dagster_duckdb import DuckDBResource
from pydantic import Field, PrivateAttr

from tsr_assets.core import warehouse as warehouse_tables
from tsr_assets.core.atomic_files import remove_stale_temp_files
from tsr_assets.core.hub import PushResult, push_folder
from tsr_assets.core.lake import Lake, data_lake_root
from tsr_assets.core.partition_lock import PartitionBusy, partition_lock
from tsr_assets.core.warehouse_schema import DEFAULT_CPU_HOUR_PRICE, DEFAULT_GPU_HOUR_PRICE
from tsr_assets.evaluation.rubric import DEFAULT_RUBRIC, LLM_METRICS, Rubric, load_rubric
from tsr_assets.llm.batch_settings import BatchSettings
from tsr_assets.llm.circuit_breaker import BreakerSettings
from tsr_assets.llm.request_cache import RequestCache
from tsr_assets.llm.request_runner import RunnerSettings
from tsr_assets.llm.sources import (
    ChatSource,
    G4FSource,
    GenerationControls,
    OpenAICompatibleSource,
    Prices,
)
from tsr_assets.model.telemetry import WANDB_CLOUD_HOST, host_answers, wandb_files_env

BREAKER = BreakerSettings()
BATCH = BatchSettings()
#: Judgments are one small JSON object.
JUDGE_MAX_TOKENS = 200


class DataLakeResource(dg.ConfigurableResource):
    """Root folder of the data lake (`$TSR_DATA_DIR`, default `<repo>/data_lake`).

    Every path in it comes from `core/lake.py` (`self.lake`).
    """

    root: str | None = Field(
        default=None,
        description="Data lake folder. Empty: $TSR_DATA_DIR, else <repo>/data_lake.",
    )

    lock_wait_s: float = Field(
        default=0.0, ge=0, description="How long a run waits for another run that is writing the "
        "same partition before it fails (0: fail at once, naming the other run).")

    gpu_hour_price: float = Field(
        default=DEFAULT_GPU_HOUR_PRICE, ge=0,
        description="USD per GPU-hour for the training cost tables (one H100: 2.0).")
    cpu_hour_price: float = Field(
        default=DEFAULT_CPU_HOUR_PRICE, ge=0,
        description="USD per CPU machine-hour for the training cost tables.")

    @property
    def lake(self) -> Lake:
        """The data lake's layout under the resolved root."""
        return Lake(Path(self.root).expanduser().resolve() if self.root else data_lake_root())

    def writing_partition_of(self, context: dg.AssetExecutionContext
                             ) -> AbstractContextManager[Lake]:
        """`writing` for the asset and partition a step materializes."""
        return self.writing(context.asset_key.to_user_string(), str(context.partition_key),
                            context.run.run_id, context.log.info)

    @contextmanager
    def writing(self, asset: str, partition: str, run_id: str,
                log: Callable[[str], None] | None = None) -> Iterator[Lake]:
        """Hold the partition's writer lock for the block (see `core/partition_lock.py`).
        Holding it, first remove the temporary files a killed writer of this partition left
        in its folder (`core/atomic_files.py`)."""
        lake = self.lake
        try:
            with partition_lock(lake.root, asset, partition, run_id, self.lock_wait_s):
                removed = remove_stale_temp_files(lake.asset_partition_dir(asset, partition))
                if removed and log is not None:
                    log(f"removed {len(removed)} temporary file(s) a killed run left: "
                        + ", ".join(p.name for p in removed[:5]))
                yield lake
        except PartitionBusy as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from None


class WarehouseResource(DuckDBResource):
    """The DuckDB warehouse (default `<data lake>/warehouse.duckdb`).

    `get_connection()` is `DuckDBResource`'s, with two additions the platform needs: a writer
    that finds the file locked by another process retries with backoff for `lock_wait_s`, and
    every table and view exists on the connection it yields. Writers also serialize through
    the `duckdb` concurrency pool.
    """

    database: str = Field(
        default="", description="DuckDB file. Empty: <data lake>/warehouse.duckdb.")
    lock_wait_s: float = Field(default=120.0, ge=0,
                               description="How long a writer waits for a lock.")

    @property
    def file(self) -> Path:
        """The resolved DuckDB file path."""
        if self.database:
            return Path(self.database).expanduser().resolve()
        return Lake.default().warehouse_file()

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection with every table and view in place."""
        with warehouse_tables.connect(self.file, wait_s=self.lock_wait_s,
                                      config=self.connection_config) as con:
            warehouse_tables.ensure_tables(con)
            yield con

    def replace_rows(self, table: str, partition: Mapping[str, str], rows: pl.DataFrame,
                     also_delete: Mapping[str, Mapping[str, str]] | None = None) -> int:
        """Replace one partition's rows of `table` in one transaction (which also deletes
        the rows of each `also_delete` table that match its columns)."""
        with self.get_connection() as con:
            return warehouse_tables.replace_partition(con, table, partition, rows,
                                                      also_delete=also_delete)

    def query(self, sql: str, params: list | None = None) -> pl.DataFrame:
        """Run a query and return a polars frame."""
        with self.get_connection() as con:
            return warehouse_tables.query_frame(con, sql, params)


class LLMResource(dg.ConfigurableResource):
    """Where stories come from: the offline writer (default), g4f, or an OpenAI-compatible API.

    The API key is read at run time from the environment variable named by `api_key_env_var`;
    it is never stored in config, metadata or logs.
    """

    source: Literal["offline", "openai", "g4f"] = Field(
        default="offline",
        description="offline: template writer; openai: any /chat/completions endpoint; g4f.",
    )
    base_url: str | None = Field(
        default=None, description="Endpoint, e.g. http://127.0.0.1:8000/v1 (openai; optional g4f)"
    )
    model: str = Field(default="gpt-4o-mini", description="Model name sent to the source.")
    g4f_provider: str | None = Field(default=None, description="g4f provider class name.")
    api_key_env_var: str = Field(
        default="TSR_LLM_API_KEY", description="Environment variable holding the API key."
    )
    temperature: float | None = Field(default=None, ge=0, description="Sampling temperature.")
    max_tokens: int | None = Field(
        default=None, ge=1, description="Longest answer in tokens. Empty: for stories, sized from "
        "the prompt template's word target (words x 6 + 64); for the judge, 200.")
    stop: list[str] = Field(default_factory=list, description="Stop sequences.")
    system_prompt: str | None = Field(default=None, description="A system message first.")
    seed: int | None = Field(default=None, description="Sampling seed, where supported.")
    response_format: str | None = Field(
        default=None, description="json_object: the endpoint's JSON mode, where supported.")
    extra_body: dict[str, Any] = Field(
        default_factory=dict,
        description="Extra request fields passed through as is (e.g. vLLM guided_json).")
    price_input_per_million: float | None = Field(
        default=None, ge=0, description="Price per million prompt tokens (for cost figures).")
    price_output_per_million: float | None = Field(
        default=None, ge=0, description="Price per million completion tokens.")
    requests_per_minute: float | None = Field(
        default=None, gt=0, description="Rate limit; empty for none."
    )
    mode: Literal["online", "batch"] = Field(
        default="online", description="online: one request per slot; batch: the provider's "
        "OpenAI-format batch API (JSONL files, half the price, no rate limit; source openai).")
    price_batch_discount: float = Field(
        default=BATCH.price_discount, ge=0, le=1,
        description="Batch answers cost this share of the "
        "online prices.")
    batch_max_requests_per_file: int = Field(default=BATCH.max_requests_per_file, ge=1,
                                             description="Batch: requests per input file.")
    batch_max_bytes_per_file: int = Field(default=BATCH.max_bytes_per_file, ge=1,
                                          description="Batch: bytes per input file.")
    batch_poll_s: float = Field(default=BATCH.poll_initial_s, gt=0,
                                description="Batch: first poll interval (backs off x1.5).")
    batch_poll_max_s: float = Field(default=BATCH.poll_max_s, gt=0,
                                    description="Batch: longest poll interval.")
    batch_expired: Literal["batch", "online", "fail"] = Field(
        default=BATCH.expired, description="Batch: requests an expired or failed batch never "
        "answered are sent in a new batch, online, or failed.")
    batch_command: str | None = Field(
        default=None, description="Batch: answer each input file with a local command instead "
        "of an API, e.g. `vllm run-batch -i {input} -o {output} --model {model}`.")
    cache: bool = Field(default=True, description="Answer from the request cache (every "
                        "answer paid for, by model and request body) before sending.")
    cache_path: str | None = Field(default=None, description="The cache file; empty: "
                                   "<data lake>/llm_cache/answers.sqlite.")
    concurrency: int = Field(default=16, ge=1, description="Requests in flight at most.")
    timeout_s: float = Field(default=120.0, gt=0, description="Timeout of one request.")
    max_attempts: int = Field(default=4, ge=1,
                              description="Attempts per prompt before it fails.")
    backoff_base_s: float = Field(default=1.0, ge=0, description="First retry delay (doubles).")
    backoff_max_s: float = Field(default=60.0, ge=0, description="Longest retry delay.")
    progress_every_s: float = Field(default=30.0, gt=0,
                                    description="Seconds between progress lines.")
    breaker_enabled: bool = Field(default=True, description="Stop early when answers are bad.")
    breaker_first_answers: int = Field(
        default=BREAKER.first_answers, ge=1,
        description="Breaker: judge the first N answers ...")
    breaker_max_bad_share: float = Field(
        default=BREAKER.max_bad_share, gt=0, le=1,
        description="... and open at this share of bad ones.")
    breaker_max_consecutive_bad: int = Field(
        default=BREAKER.max_consecutive_bad, ge=1,
        description="Breaker: open after N bad in a row.")
    breaker_first_answers_min: int = Field(
        default=BREAKER.first_answers_min, ge=1,
        description="Breaker: open when the first N answers are all bad.")
    breaker_max_bad_seconds: float = Field(
        default=BREAKER.max_bad_seconds, gt=0,
        description="Breaker: open on a bad answer this many seconds after the start (or the "
                    "last good answer) with no good answer between; timeouts count as bad.")

    def runner_settings(self) -> RunnerSettings:
        """The request runner's limits, breaker and prices from this configuration."""
        return RunnerSettings(
            requests_per_period=self.requests_per_minute,
            period_s=60.0,
            concurrency=self.concurrency,
            timeout_s=self.timeout_s,
            max_attempts=self.max_attempts,
            backoff_base_s=self.backoff_base_s,
            backoff_max_s=self.backoff_max_s,
            progress_every_s=self.progress_every_s,
            breaker=BreakerSettings(
                first_answers=self.breaker_first_answers,
                max_bad_share=self.breaker_max_bad_share,
                max_consecutive_bad=self.breaker_max_consecutive_bad,
                enabled=self.breaker_enabled,
                first_answers_min=self.breaker_first_answers_min,
                max_bad_seconds=self.breaker_max_bad_seconds),
            prices=Prices(self.price_input_per_million, self.price_output_per_million),
            batch=self.batch_settings(),
        )

    def batch_settings(self) -> BatchSettings | None:
        """The batch API settings in batch mode, else None."""
        if self.mode != "batch":
            return None
        return BatchSettings(
            max_requests_per_file=self.batch_max_requests_per_file,
            max_bytes_per_file=self.batch_max_bytes_per_file, poll_initial_s=self.batch_poll_s,
            poll_max_s=self.batch_poll_max_s, expired=self.batch_expired,
            price_discount=self.price_batch_discount, command=self.batch_command)

    def request_cache(self) -> RequestCache | None:
        """The request cache, when on."""
        if not self.cache:
            return None
        return RequestCache(Path(self.cache_path).expanduser() if self.cache_path
                            else Lake.default().llm_cache_file())

    def controls(self, default_max_tokens: int | None = None) -> GenerationControls:
        """What each request asks of the model (`max_tokens` falls back to the default)."""
        return GenerationControls(
            max_tokens=self.max_tokens or default_max_tokens, temperature=self.temperature,
            stop=tuple(self.stop), system_prompt=self.system_prompt, seed=self.seed,
            response_format=self.response_format, extra_body=dict(self.extra_body),
        )

    def make_source(self, default_max_tokens: int | None = None) -> ChatSource:
        """A chat source for `openai` or `g4f` (the offline writer is not a chat source)."""
        api_key = os.environ.get(self.api_key_env_var) or None
        controls = self.controls(default_max_tokens)
        if self.source == "openai":
            if not self.base_url:
                raise ValueError(
                    "LLMResource: source 'openai' needs base_url (e.g. http://127.0.0.1:8000/v1)"
                )
            return OpenAICompatibleSource(self.base_url, self.model, api_key=api_key,
                                          controls=controls, max_connections=self.concurrency,
                                          cache=self.request_cache())
        if self.mode == "batch":
            raise ValueError("LLMResource: mode 'batch' needs source 'openai' (an OpenAI-format "
                             "batch API at base_url)")
        if self.source == "g4f":
            return G4FSource(self.model, provider_name=self.g4f_provider,
                             base_url=self.base_url, api_key=api_key, controls=controls)
        raise ValueError(f"LLMResource: source {self.source!r} has no chat client")


class JudgeResource(LLMResource):
    """Who rates sampled stories.

    `automatic` (default): offline text metrics, named as such everywhere. `openai` / `g4f`:
    an LLM judge with the rubric in `evaluation/rubric.py`, with the same rate limit,
    concurrency and retry settings as story generation. The API key is read at run time from
    the environment variable named by `api_key_env_var` (default `TSR_JUDGE_API_KEY`).
    """

    source: Literal["automatic", "openai", "g4f"] = Field(  # type: ignore[assignment]
        default="automatic",
        description="automatic: offline metrics; openai: any /chat/completions endpoint; g4f.",
    )
    api_key_env_var: str = Field(
        default="TSR_JUDGE_API_KEY", description="Environment variable holding the API key."
    )
    temperature: float | None = Field(
        default=0.0, ge=0, description="0 for repeatable judgments; empty where a model refuses it."
    )
    repeats: int = Field(default=1, ge=1, description="Judgments per story, averaged.")
    rubric_path: str | None = Field(
        default=None, description="Your own rubric file ({story} {opener} {language}); empty: "
        "the packaged rubric.")
    rubric_keys: list[str] = Field(
        default_factory=lambda: list(LLM_METRICS),
        description="Score keys the rubric's answers must hold (each 1-10).")

    def rubric(self) -> Rubric:
        """The rubric the LLM judge uses (checked when loaded)."""
        if not self.rubric_path:
            return DEFAULT_RUBRIC if tuple(self.rubric_keys) == LLM_METRICS else \
                Rubric(DEFAULT_RUBRIC.text, tuple(self.rubric_keys))
        return load_rubric(self.rubric_path, self.rubric_keys)

    @property
    def judge_name(self) -> str:
        """`automatic`; `llm:<model>` for an LLM judge with the packaged rubric, and
        `llm:<model>+rubric-<hash>` with another one (scores under different rubrics are not
        pooled)."""
        if self.source == "automatic":
            return "automatic"
        rubric = self.rubric()
        suffix = "" if rubric == DEFAULT_RUBRIC else f"+rubric-{rubric.text_hash[:8]}"
        return f"llm:{self.model}{suffix}"

class WandbResource(dg.ConfigurableResource):
    """The platform's W&B settings for training runs and model exports. The API key comes from
    `$WANDB_API_KEY` only (through the environment, or `EnvVar("WANDB_API_KEY")`).

    Without a key, training runs log offline into the checkpoint folder (`wandb sync` later).
    With one, they log online to `host` and upload the best checkpoint, and `hf_model_*` exports
    upload their folder, as W&B Artifacts; a host that does not answer within seconds makes the
    run log offline (and the export skip its upload) instead of hanging. W&B's own files (the
    `.netrc` a login writes the key to, settings, cache) stay under `$DAGSTER_HOME/wandb/`, in
    the Dagster process and the trainer alike. dagster-wandb's resources for these settings:
    `wandb_resource_defs`.
    """

    project: str | None = Field(default=None, description="W&B project; empty: W&B off.")
    entity: str | None = Field(default=None, description="W&B entity (team or user).")
    mode: str | None = Field(default=None,
                             description="online or offline; empty: online with a key.")
    host: str | None = Field(default=None,
                             description="W&B server URL (a W&B Server's); empty: "
                                         "`$WANDB_BASE_URL`, else W&B's cloud.")
    api_key: str | None = Field(default=None,
                                description="Set with EnvVar('WANDB_API_KEY'); never stored. "
                                            "Empty: `$WANDB_API_KEY` if set.")

    _dagster_home: str | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        if context.instance is not None and context.instance.root_directory:
            self._dagster_home = context.instance.root_directory

    def base_url(self) -> str:
        """The W&B server: `host`, else `$WANDB_BASE_URL`, else W&B's cloud."""
        return self.host or os.environ.get("WANDB_BASE_URL") or WANDB_CLOUD_HOST

    def key(self) -> str | None:
        """The API key: the configured one, else `$WANDB_API_KEY`."""
        return self.api_key or os.environ.get("WANDB_API_KEY") or None

    @property
    def online(self) -> bool:
        """Runs log online: `mode: online`, or no mode and a key."""
        return self.mode == "online" or (not self.mode and self.key() is not None)

    def files_env(self) -> dict[str, str]:
        """`NETRC`, `WANDB_CONFIG_DIR`, `WANDB_CACHE_DIR` and `WANDB_DATA_DIR` under
        `$DAGSTER_HOME/wandb/` (see `model/telemetry.py`)."""
        return wandb_files_env(self._dagster_home or _dagster_home())

    def subprocess_env(self) -> dict[str, str]:
        """Environment for the trainer process (the key travels only here)."""
        env = {**self.files_env(), "WANDB_BASE_URL": self.base_url()}
        if self.api_key:
            env["WANDB_API_KEY"] = self.api_key
        if self.entity:
            env["WANDB_ENTITY"] = self.entity
        return env

    def upload_folder(self, log: Any, folder: Path, name: str, kind: str,
                      run_name: str) -> dict[str, Any]:
        """Upload `folder` as the W&B Artifact `name` of type `kind` from a short run of its
        own (`job_type: export`), when a project is set and runs are online; returns the
        asset metadata that names it. Unreachable host or any W&B error: a warning in the
        run's log and no upload; never fails the asset. Offline: nothing (offline runs do not
        copy model files into the W&B folder)."""
        if not self.project or not self.online:
            return {}
        key = self.key()
        if not host_answers(self.base_url()):
            log.warning(f"W&B unreachable at {self.base_url()}: {name} was not uploaded")
            return {"wandb_artifact": dg.MetadataValue.text("not uploaded: W&B unreachable")}
        os.environ.update(self.files_env())
        try:
            import wandb

            settings = wandb.Settings(base_url=self.base_url(), **({"api_key": key} if key else {}))
            with wandb.init(project=self.project, entity=self.entity, name=run_name,
                            job_type="export", mode="online", settings=settings,
                            dir=str(Path(self.files_env()["WANDB_DATA_DIR"]).parent)) as run:
                artifact = wandb.Artifact(name, type=kind)
                artifact.add_dir(str(folder))
                run.log_artifact(artifact)
                artifact.wait()
                return {"wandb_artifact": dg.MetadataValue.text(f"{name}:{artifact.version}"),
                        "wandb_run": dg.MetadataValue.url(run.url)}
        except Exception as exc:  # W&B is never a hard dependency of an export
            message = f"{type(exc).__name__}: {exc}"
            log.warning(f"W&B artifact {name} not uploaded: "
                        f"{message.replace(key, '***') if key else message}")
            return {"wandb_artifact": dg.MetadataValue.text("not uploaded: W&B error")}


def _dagster_home() -> Path:
    """`$DAGSTER_HOME` (`make` and `tsr` set it), else `~/.dagster` (outside a run; in a run,
    its instance's folder)."""
    return Path(os.environ.get("DAGSTER_HOME") or Path.home() / ".dagster")


def wandb_resource_defs(settings: WandbResource) -> dict[str, Any]:
    """What dagster-wandb adds to the resources for these W&B settings: nothing unless runs are
    online (`settings.online`: `mode: online`, or no mode and `$WANDB_API_KEY` set where the
    code loads); online, its `wandb_resource` (key from `{"env": "WANDB_API_KEY"}`, the
    settings' server), `wandb_config` (entity and project read from the `wandb` resource, so
    they are configured once) and its `wandb_artifacts_manager` IO manager (no local cache:
    models are not kept twice). Its login runs only after the host answered a TCP probe: an
    unreachable host fails the step in seconds, not after `wandb.login`'s ~11 s, and the key
    goes to `$DAGSTER_HOME/wandb/netrc`, never `~/.netrc`.

    No asset of the platform stores its output through the IO manager: `checkpoint_*` and
    `hf_model_*` write files into the data lake that downstream assets read by path and return
    a `MaterializeResult`, and the checkpoint's files are made in the trainer process, whose W&B
    run (metrics and checkpoint artifact) the IO manager's own run in the Dagster process
    cannot join. It is here for assets whose output value is an artifact
    (`io_manager_key="wandb_artifacts_manager"`)."""
    if not settings.online:
        return {}
    from dagster_wandb import wandb_artifacts_io_manager, wandb_resource

    @dg.resource(config_schema=wandb_resource.config_schema.as_field(),
                 description="dagster-wandb's wandb_resource, after a probe of the W&B host, "
                             "with W&B's files under $DAGSTER_HOME/wandb/.")
    def probed_wandb_resource(context: dg.InitResourceContext) -> dict[str, Any]:
        host = context.resource_config["host"]
        if not host_answers(host):
            raise dg.Failure(f"W&B unreachable at {host}: dagster-wandb's login and artifacts "
                             "need the W&B server", allow_retries=False)
        home = context.instance.root_directory if context.instance else None
        os.environ.update(wandb_files_env(home or _dagster_home()))
        return wandb_resource.resource_fn(context)

    @dg.resource(required_resource_keys={"wandb"},
                 description="dagster-wandb's entity and project: the `wandb` resource's.")
    def wandb_config(context: dg.InitResourceContext) -> dict[str, str | None]:
        return {"entity": context.resources.wandb.entity,
                "project": context.resources.wandb.project}

    return {
        "wandb_resource": probed_wandb_resource.configured(
            {"api_key": {"env": "WANDB_API_KEY"}, "host": settings.base_url()}),
        "wandb_config": wandb_config,
        "wandb_artifacts_manager": wandb_artifacts_io_manager.configured(
            {"cache_duration_in_minutes": 0}),
    }


class HuggingFaceResource(dg.ConfigurableResource):
    """Where exports are pushed on the Hugging Face Hub. The token comes from
    `EnvVar("HF_TOKEN")` (a write token) and is never stored or logged."""

    token: str | None = Field(default=None, description="Set with EnvVar('HF_TOKEN').")
    namespace: str | None = Field(
        default=None, description="User or organisation the repositories go under.")
    private: bool = Field(default=True, description="Create new repositories as private.")

    def repo_id(self, name: str) -> str:
        """`<namespace>/<name>` (or the name alone)."""
        return f"{self.namespace}/{name}" if self.namespace else name

    def push(self, folder: Path, name: str, repo_type: str, run_id: str) -> PushResult:
        """Upload `folder` as one commit that names the run (see `core/hub.py`)."""
        return push_folder(folder, self.repo_id(name), repo_type, self.token, self.private,
                           f"TinyStories Regional export from Dagster run {run_id}")


@dg.definitions
def defs() -> dg.Definitions:
    """The resources every stage shares (the Label Studio server comes with the human ratings:
    `defs/human_ratings.py`). Secrets only through `EnvVar`."""
    wandb = WandbResource(
        api_key=dg.EnvVar("WANDB_API_KEY") if os.environ.get("WANDB_API_KEY") else None)
    return dg.Definitions(resources={
        "data_lake": DataLakeResource(), "llm": LLMResource(), "warehouse": WarehouseResource(),
        "wandb": wandb, "judge": JudgeResource(),
        "hub": HuggingFaceResource(
            token=dg.EnvVar("HF_TOKEN") if os.environ.get("HF_TOKEN") else None),
        "pipes_subprocess_client": dg.PipesSubprocessClient(),
        # dagster-wandb's resource, config and artifacts IO manager, online only.
        **wandb_resource_defs(wandb),
    })
