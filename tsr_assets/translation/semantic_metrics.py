"""The published study's translation metrics beside chrF++: LaBSE similarity (the cosine of the
source's and the translation's sentence embeddings, from a `sentence-transformers` model) and
COMET-DA (`unbabel-comet`, a regression model over source, translation and reference).

Both need a model: a local folder or a Hub id (`sentence-transformers/LaBSE`,
`Unbabel/wmt22-comet-da`). A model that cannot be found or loaded raises `MetricModelError`,
which names the run config field and how to provide the model. COMET runs in an environment of
its own (see `comet_worker.py`); `comet_python` is that environment's interpreter. No Dagster.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tsr_assets.core.lake import REPO_ROOT

LABSE_HUB_ID = "sentence-transformers/LaBSE"
COMET_HUB_ID = "Unbabel/wmt22-comet-da"
#: The environment `make comet` builds; `$TSR_COMET_PYTHON` names another.
COMET_PYTHON_ENV = "TSR_COMET_PYTHON"
DEFAULT_COMET_PYTHON = REPO_ROOT / ".venv-comet" / "bin" / "python"
WORKER = Path(__file__).with_name("comet_worker.py")


class MetricModelError(ValueError):
    """A metric's model (or the environment that runs it) is missing; the message names the
    config field and how to provide it."""


def _local_or_hub(model: str) -> str:
    path = Path(model).expanduser()
    return str(path) if path.exists() else model


def labse_similarities(sources: Sequence[str], translations: Sequence[str], model: str,
                       device: str = "cpu", batch_size: int = 32) -> list[float]:
    """The cosine similarity of each source and its translation, embedded by the
    `sentence-transformers` model `model` (a folder or a Hub id; LaBSE: `LABSE_HUB_ID`).

    Raises:
        MetricModelError: the package is missing or the model cannot be loaded.
    """
    if len(sources) != len(translations):
        raise ValueError(f"{len(translations)} translations for {len(sources)} sources")
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise MetricModelError(f"labse_model: sentence-transformers is not installed ({exc}); "
                               "pip install -e '.[metrics]' (make setup does)") from None
    try:
        encoder = SentenceTransformer(_local_or_hub(model), device=device,
                                      trust_remote_code=False)
    except Exception as exc:  # OSError, HF hub errors, ValueError: all "no such model here"
        raise MetricModelError(
            f"labse_model: {model!r} is not a sentence-transformers folder and could not be "
            f"loaded from the Hub ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); "
            f"download it (`hf download {LABSE_HUB_ID} --local-dir <folder>`) and set "
            "labse_model to the folder, or leave labse_model empty to skip LaBSE") from None
    texts = [*sources, *(t or "" for t in translations)]
    vectors = encoder.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                             convert_to_numpy=True, show_progress_bar=False)
    n = len(sources)
    return [float(vectors[i] @ vectors[n + i]) for i in range(n)]


@dataclass(frozen=True)
class CometScores:
    """COMET's score of each translation and of the system (their mean)."""

    scores: list[float]
    system_score: float


def comet_python(configured: str = "") -> Path:
    """The interpreter that runs COMET: `configured`, else `$TSR_COMET_PYTHON`, else
    `.venv-comet/bin/python` (from `make comet`), else this one."""
    for candidate in (configured, os.environ.get(COMET_PYTHON_ENV, "")):
        if candidate.strip():
            return Path(candidate.strip()).expanduser()
    return DEFAULT_COMET_PYTHON if DEFAULT_COMET_PYTHON.exists() else Path(sys.executable)


def comet_scores(sources: Sequence[str], translations: Sequence[str],
                 references: Sequence[str], model: str, python: str = "",
                 batch_size: int = 32, timeout_s: float = 1800.0) -> CometScores:
    """COMET scores of `translations` from the checkpoint `model` (a `model.ckpt`, a folder
    holding `checkpoints/model.ckpt`, or a Hub id: `COMET_HUB_ID`), run by `comet_python`.

    Raises:
        MetricModelError: the environment lacks unbabel-comet, or the model is missing.
        RuntimeError: COMET failed otherwise (its output's last lines).
    """
    interpreter = comet_python(python)
    if not interpreter.exists():
        raise MetricModelError(f"comet_python: {interpreter} does not exist; `make comet` "
                               "builds .venv-comet, or set comet_python")
    local = Path(model).expanduser()
    if (local.is_absolute() or model.startswith((".", "~"))) and not local.exists():
        raise MetricModelError(f"comet_model: {model} does not exist; give a COMET checkpoint "
                               f"folder (with checkpoints/model.ckpt) or a Hub id such as "
                               f"{COMET_HUB_ID}, or leave comet_model empty to skip COMET")
    data = [{"src": s, "mt": t or "", "ref": r}
            for s, t, r in zip(sources, translations, references, strict=True)]
    with tempfile.TemporaryDirectory(prefix="tsr-comet-") as folder:
        request, result = Path(folder) / "request.json", Path(folder) / "result.json"
        request.write_text(json.dumps({"model": _local_or_hub(model), "data": data,
                                       "batch_size": batch_size}), encoding="utf-8")
        try:
            done = subprocess.run([str(interpreter), str(WORKER), str(request), str(result)],
                                  cwd=folder, capture_output=True, text=True,
                                  timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"COMET took longer than {timeout_s:.0f}s") from None
        answer = json.loads(result.read_text(encoding="utf-8")) if result.is_file() else {}
    if answer.get("kind") == "not_installed":
        raise MetricModelError(f"comet_python: {answer['error']}; `make comet` builds "
                               ".venv-comet with unbabel-comet")
    if answer.get("kind") == "model_missing":
        raise MetricModelError(
            f"comet_model: {answer['error']}; download it (`hf download {COMET_HUB_ID} "
            "--local-dir <folder>`, and its encoder, e.g. xlm-roberta-large) and set "
            "comet_model to the folder, or leave comet_model empty to skip COMET")
    if done.returncode != 0 or "scores" not in answer:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
        raise RuntimeError(f"COMET failed (exit {done.returncode}): {tail}")
    return CometScores(answer["scores"], answer["system_score"])
