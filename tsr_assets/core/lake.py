"""Where everything lives: the repository, the data lake, and every folder and file name in it.

The data lake (`$TSR_DATA_DIR`, default `<repo>/data_lake`) is laid out by asset and partition:

    wordlists/<language>/wordlists.json
    prompts/<language>/prompts.parquet
    stories/<language>/                      journal/, shards/, rejections/, failures/,
                                             limits.json (see stories/store.py)
    translated_stories/<language>/           the same layout, for stories translated from
                                             English (see translation/translating.py)
    tokenizer/<language>/<tokenizer>/        tsr_tokenizer.json and the backend's files
    token_bins/<language>/<tokenizer>/       train.bin, val.bin, meta.json, dropped_ids.txt
    data_quality/<language>/near_duplicates.json   summary of the last near-duplicate scan
    data_quality/<language>/fluency_reference_<corpus>.json  the automatic judge's reference
    checkpoint/<language>/<tokenizer>/<preset>/
                                             last.pt, best.pt, metrics.jsonl, summary.json,
                                             loss_curve.png
    samples/<language>/<tokenizer>/<preset>/samples.parquet
    judge_scores/<language>/<tokenizer>/<preset>/judge_scores.parquet, journal/
    judge_probes/<language>/<tokenizer>/<preset>/probe_scores.parquet, journal/
    hf/datasets/<language>/                  data/{train,validation}-*.parquet, README.md
    hf/models/<language>/<tokenizer>/<preset>/
                                             config.json, model.safetensors, tokenizer, README.md
    reports/report.md and its PNGs
    warehouse.duckdb

This module alone knows these names; the trainer, the assets, the reports and the CLI ask it.
Paths are resolved when asked (not at import), so `TSR_DATA_DIR` can change at any time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR_ENV = "TSR_DATA_DIR"

WORDLISTS_FILE = "wordlists.json"
PROMPTS_FILE = "prompts.parquet"
STORY_LIMITS_FILE = "limits.json"
TOKENIZER_DESCRIPTOR_FILE = "tsr_tokenizer.json"
BINS_META_FILE = "meta.json"
BINS_DROPPED_FILE = "dropped_ids.txt"
NEAR_DUPLICATES_FILE = "near_duplicates.json"
SAMPLES_FILE = "samples.parquet"
JUDGE_SCORES_FILE = "judge_scores.parquet"
PROBE_SCORES_FILE = "probe_scores.parquet"
JOURNAL_FOLDER = "journal"
#: Sub-folders of a story store, by record kind (each holds `part-*.parquet` shards).
STORY_KIND_FOLDERS = {"story": "shards", "rejection": "rejections", "failure": "failures"}
REPORT_FILE = "report.md"
WAREHOUSE_FILE = "warehouse.duckdb"

#: The assets that exist once per model preset, named `<stage>_<preset>`.
#: Training corpora and the story sources each is made of: `stories` (generated or imported)
#: and `translated_stories`.
CORPORA: dict[str, tuple[str, ...]] = {
    "generated": ("generated",),
    "translated": ("translated",),
    "both": ("generated", "translated"),
}
DEFAULT_CORPUS = "generated"
#: A corpus name, as run config takes it.
CorpusName = Literal["generated", "translated", "both"]
PRESET_STAGES = ("checkpoint", "samples", "judge_scores", "judge_probes", "hf_model")


def preset_asset(stage: str, preset: str) -> str:
    """The asset key of one preset's stage: `checkpoint_tiny`, `samples_e512_l6`, ..."""
    if stage not in PRESET_STAGES:
        raise ValueError(f"{stage!r} is not a per-preset stage; known: {', '.join(PRESET_STAGES)}")
    return f"{stage}_{preset}"


def data_lake_root() -> Path:
    """`$TSR_DATA_DIR` if set, else `<repo>/data_lake`."""
    configured = os.environ.get(DATA_DIR_ENV, "").strip()
    return Path(configured).expanduser().resolve() if configured else REPO_ROOT / "data_lake"


def bin_file(bins_dir: Path, split: str) -> Path:
    """`train.bin` or `val.bin` of a token-bins folder."""
    return bins_dir / f"{split}.bin"


@dataclass(frozen=True)
class CheckpointFiles:
    """The files of one training run's folder (also the trainer's `out_dir`)."""

    folder: Path

    @property
    def last(self) -> Path:
        """The latest checkpoint (resume point)."""
        return self.folder / "last.pt"

    @property
    def best(self) -> Path:
        """The checkpoint with the lowest val loss so far."""
        return self.folder / "best.pt"

    @property
    def metrics(self) -> Path:
        """One JSON line per logged step and per evaluation."""
        return self.folder / "metrics.jsonl"

    @property
    def summary(self) -> Path:
        """The finished run's summary."""
        return self.folder / "summary.json"

    @property
    def loss_curve(self) -> Path:
        """PNG of train and val loss against step."""
        return self.folder / "loss_curve.png"

    @property
    def run_files(self) -> tuple[Path, ...]:
        """Every file one training run writes here."""
        return (self.last, self.best, self.metrics, self.summary, self.loss_curve)

    def corpus_archive(self, corpus: str) -> CheckpointFiles:
        """Where a model trained on another corpus is kept when this folder trains a new one."""
        return CheckpointFiles(self.folder / f"{corpus}_corpus")

    def checkpoint(self, which: str = "best") -> Path:
        """`best.pt` or `last.pt`; `best` falls back to `last` when no evaluation ran yet."""
        if which not in ("best", "last"):
            raise ValueError(f"checkpoint must be 'best' or 'last', not {which!r}")
        if which == "best" and not self.best.is_file():
            return self.last
        return self.best if which == "best" else self.last


@dataclass(frozen=True)
class Lake:
    """The data lake under `root`: one method per thing an asset writes or reads."""

    root: Path

    @classmethod
    def default(cls) -> Lake:
        """The lake at `$TSR_DATA_DIR` (else `<repo>/data_lake`)."""
        return cls(data_lake_root())

    def partition_dir(self, asset: str, language: str, tokenizer: str | None = None,
                      preset: str | None = None) -> Path:
        """Folder of one partition: `<root>/<asset>/<language>[/<tokenizer>[/<preset>]]`."""
        path = self.root / asset / language
        if tokenizer is not None:
            path = path / tokenizer
            if preset is not None:
                path = path / preset
        elif preset is not None:
            raise ValueError("a preset folder needs a tokenizer folder above it")
        return path

    def asset_partition_dir(self, asset: str, partition: str) -> Path:
        """The folder the asset `asset` writes partition `partition` (`hindi`, `hindi|spm`)
        into: `<asset>/<language>[/<tokenizer>]`, `<stage>/<language>/<tokenizer>/<preset>`
        for a model preset's assets (`checkpoint_tiny`), the export folders for `hf_dataset`
        and `hf_model_<preset>`."""
        language, _, tokenizer = partition.partition("|")
        if asset == "hf_dataset":
            return self.hf_dataset_dir(language)
        for stage in sorted(PRESET_STAGES, key=len, reverse=True):
            if asset.startswith(f"{stage}_") and tokenizer:
                preset = asset[len(stage) + 1:]
                if stage == "hf_model":
                    return self.hf_model_dir(language, tokenizer, preset)
                return self.partition_dir(stage, language, tokenizer, preset)
        return self.partition_dir(asset, language, tokenizer or None)

    def wordlists_file(self, language: str) -> Path:
        """The stored word lists of a language."""
        return self.partition_dir("wordlists", language) / WORDLISTS_FILE

    def prompts_file(self, language: str) -> Path:
        """The prompts table of a language."""
        return self.partition_dir("prompts", language) / PROMPTS_FILE

    def stories_dir(self, language: str) -> Path:
        """The story store of a language (journal, shards, rejections, failures)."""
        return self.partition_dir("stories", language)

    def translated_stories_dir(self, language: str) -> Path:
        """The store of stories translated from English into a language."""
        return self.partition_dir("translated_stories", language)

    def translated_limits_file(self, language: str) -> Path:
        """The story limits the last `translated_stories` run used."""
        return self.translated_stories_dir(language) / STORY_LIMITS_FILE

    def near_duplicates_file(self, language: str) -> Path:
        """Summary of the last near-duplicate scan of a language's stories."""
        return self.partition_dir("data_quality", language) / NEAR_DUPLICATES_FILE

    def fluency_reference_file(self, language: str, corpus: str) -> Path:
        """The automatic judge's fluency reference of a language's training corpus."""
        return self.partition_dir("data_quality", language) / f"fluency_reference_{corpus}.json"

    def corpus_dirs(self, language: str, corpus: str) -> dict[str, Path]:
        """The story stores a training corpus is made of, by source (`CORPORA`)."""
        if corpus not in CORPORA:
            raise ValueError(f"corpus {corpus!r}: use one of {', '.join(CORPORA)}")
        stores = {"generated": self.stories_dir(language),
                  "translated": self.translated_stories_dir(language)}
        return {name: stores[name] for name in CORPORA[corpus]}

    def story_limits_file(self, language: str) -> Path:
        """The validation limits the last `stories` run used (read by the stories checks)."""
        return self.stories_dir(language) / STORY_LIMITS_FILE

    def tokenizer_dir(self, language: str, tokenizer: str) -> Path:
        """The stored tokenizer of a partition."""
        return self.partition_dir("tokenizer", language, tokenizer)

    def bins_dir(self, language: str, tokenizer: str) -> Path:
        """The token bins of a partition."""
        return self.partition_dir("token_bins", language, tokenizer)

    def bins_meta_file(self, language: str, tokenizer: str) -> Path:
        """The token bins' `meta.json` (written last, so its presence means complete bins)."""
        return self.bins_dir(language, tokenizer) / BINS_META_FILE

    def checkpoint(self, language: str, tokenizer: str, preset: str) -> CheckpointFiles:
        """The training folder of a partition and preset."""
        return CheckpointFiles(self.partition_dir("checkpoint", language, tokenizer, preset))

    def samples_file(self, language: str, tokenizer: str, preset: str) -> Path:
        """Samples of a trained model."""
        return self.partition_dir("samples", language, tokenizer, preset) / SAMPLES_FILE

    def judge_dir(self, language: str, tokenizer: str, preset: str) -> Path:
        """Judge scores and the LLM judge's journals of a partition and preset."""
        return self.partition_dir("judge_scores", language, tokenizer, preset)

    def judge_scores_file(self, language: str, tokenizer: str, preset: str) -> Path:
        """The latest judge's scores in long form."""
        return self.judge_dir(language, tokenizer, preset) / JUDGE_SCORES_FILE

    def judge_journal(self, language: str, tokenizer: str, preset: str, judge: str,
                      samples_run: str) -> Path:
        """The LLM judge's journal for one judge and one samples run."""
        name = f"{judge.replace('/', '_')}-{samples_run}.jsonl"
        return self.judge_dir(language, tokenizer, preset) / JOURNAL_FOLDER / name

    def probes_dir(self, language: str, tokenizer: str, preset: str) -> Path:
        """Judge probes (the probed stories' scores, the LLM judge's journals) of a model."""
        return self.partition_dir("judge_probes", language, tokenizer, preset)

    def probe_scores_file(self, language: str, tokenizer: str, preset: str) -> Path:
        """Every probed story of the last probe run, with its scores."""
        return self.probes_dir(language, tokenizer, preset) / PROBE_SCORES_FILE

    def probe_journal(self, language: str, tokenizer: str, preset: str, judge: str,
                      stories_key: str) -> Path:
        """The LLM judge's journal of one probe run's stories (`stories_key` names them)."""
        name = f"{judge.replace('/', '_')}-{stories_key}.jsonl"
        return self.probes_dir(language, tokenizer, preset) / JOURNAL_FOLDER / name

    def rating_tasks_dir(self) -> Path:
        """Every human rating export: `rating_tasks/<language>/<export id>/` (tasks, labeling
        configuration, the key from opaque id to sample)."""
        return self.root / "rating_tasks"

    def rating_export_dir(self, language: str, export_id: str) -> Path:
        """One rating export of a language."""
        return self.rating_tasks_dir() / language / export_id

    def human_ratings_dir(self) -> Path:
        """Copies of the ratings files imported (Label Studio exports pulled from a server)."""
        return self.root / "human_ratings"

    def hf_dataset_dir(self, language: str) -> Path:
        """A language's stories as a Hugging Face dataset folder."""
        return self.root / "hf" / "datasets" / language

    def hf_model_dir(self, language: str, tokenizer: str, preset: str) -> Path:
        """A trained model as a `transformers` folder."""
        return self.root / "hf" / "models" / language / tokenizer / preset

    def reports_dir(self) -> Path:
        """Where the report and its images go."""
        return self.root / "reports"

    def report_file(self) -> Path:
        """The markdown report."""
        return self.reports_dir() / REPORT_FILE

    def warehouse_file(self) -> Path:
        """The DuckDB warehouse."""
        return self.root / WAREHOUSE_FILE

    def llm_cache_file(self) -> Path:
        """The request cache: every LLM answer paid for, by model, body and occurrence."""
        return self.root / "llm_cache" / "answers.sqlite"

    def trained_partitions(self) -> list[tuple[str, str, str]]:
        """(language, tokenizer, preset) of every training folder that has a loss curve."""
        found = []
        metrics_name = CheckpointFiles(Path()).metrics.name
        for metrics in sorted((self.root / "checkpoint").glob(f"*/*/*/{metrics_name}")):
            preset_dir = metrics.parent
            found.append((preset_dir.parent.parent.name, preset_dir.parent.name, preset_dir.name))
        return found
