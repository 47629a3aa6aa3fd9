"""COMET scores of translations, run by the Python of an environment that has `unbabel-comet`
(`.venv-comet/` from `make comet`): unbabel-comet 2.2.7 pins numpy<2, transformers<5,
huggingface-hub<1, protobuf<5 and torchmetrics<0.11, which the platform's environment cannot
hold, so the platform runs this file as a script in that environment.

    <comet python> comet_worker.py REQUEST.json RESULT.json

REQUEST holds `model` (a checkpoint file `.../checkpoints/model.ckpt`, a folder holding
`checkpoints/model.ckpt`, or a Hub id such as `Unbabel/wmt22-comet-da`), `batch_size` and
`data` (a list of `{src, mt, ref}`); RESULT gets `{scores, system_score}` or `{error, kind}`
with kind `model_missing` or `not_installed` (exit status 3 or 4). Standard library and
`comet` only: nothing of the platform is imported here.
"""

import json
import os
import sys
from pathlib import Path

MODEL_MISSING, NOT_INSTALLED = 3, 4


def _checkpoint(model: str) -> Path | None:
    path = Path(model).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        found = path / "checkpoints" / "model.ckpt"
        return found if found.is_file() else None
    return None


def _fail(result: Path, kind: str, error: str, status: int) -> int:
    result.write_text(json.dumps({"kind": kind, "error": error}), encoding="utf-8")
    return status


def main(argv: list[str]) -> int:
    """Score the request's data and write the result; the exit status says how it went."""
    request_file, result = Path(argv[0]), Path(argv[1])
    request = json.loads(request_file.read_text(encoding="utf-8"))
    try:
        from comet import download_model, load_from_checkpoint
    except ImportError as exc:
        return _fail(result, "not_installed", f"unbabel-comet does not import in "
                     f"{sys.executable}: {exc}", NOT_INSTALLED)
    model = request["model"]
    checkpoint = _checkpoint(model)
    local = checkpoint is not None
    if checkpoint is None:
        if Path(model).expanduser().exists() or model.startswith((".", "/", "~")):
            return _fail(result, "model_missing", f"{model} holds no checkpoints/model.ckpt",
                         MODEL_MISSING)
        try:
            checkpoint = Path(download_model(model))
        except Exception as exc:  # the Hub's errors vary by version; all mean "not there"
            return _fail(result, "model_missing", f"{model} is not a local checkpoint and "
                         f"could not be fetched from the Hub: {type(exc).__name__}: {exc}",
                         MODEL_MISSING)
    try:
        loaded = load_from_checkpoint(str(checkpoint), local_files_only=local or bool(
            os.environ.get("HF_HUB_OFFLINE")))
    except Exception as exc:  # a checkpoint whose encoder cannot be found or read
        return _fail(result, "model_missing", f"{checkpoint} could not be loaded: "
                     f"{type(exc).__name__}: {exc}", MODEL_MISSING)
    prediction = loaded.predict(request["data"], batch_size=int(request["batch_size"]),
                                gpus=int(request.get("gpus", 0)), progress_bar=False)
    result.write_text(json.dumps({"scores": [float(s) for s in prediction.scores],
                                  "system_score": float(prediction.system_score)}),
                      encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
