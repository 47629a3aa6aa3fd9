"""Models from elsewhere are data, never code: a `.pt` whose pickle would run code is refused
before anything runs (model import, `init_from`, the checkpoint asset), while a checkpoint in
nanoGPT's exact format (optimizer, `iter_num`, tensor `best_val_loss`, `config` dict) still
imports and samples like its platform twin."""

from __future__ import annotations

import pathlib
from pathlib import Path

import dagster as dg
import pytest
import torch

from tsr_assets.core.hub import safe_loading_kwargs
from tsr_assets.definitions import build_definitions
from tsr_assets.defs.jobs import LANGUAGE_TOKENIZER_JOB
from tsr_assets.defs.partitions import language_tokenizer_key
from tsr_assets.model.checkpoints import (
    CheckpointError,
    UnsafeCheckpointError,
    load_checkpoint,
    read_torch_file,
)
from tsr_assets.model.hf_import import ExternalModelError, from_nanogpt, load_external
from tsr_assets.model.sample import generate
from tsr_assets.model.train import init_weights
from tsr_assets_tests.model.test_hf_export import GREEDY, _model, _nanogpt_state


class WritesAFile:
    """Unpickling this runs `Path.write_text`: what a hostile checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.write_text, (self.marker, "code from a checkpoint ran"))


def _nanogpt_checkpoint(path: Path, config_extra: dict | None = None):
    """A checkpoint as nanoGPT's train.py writes it, with its AdamW state after one step."""
    model = _model(bias=True, seed=5)
    cfg = model.config
    named = _nanogpt_state(model)
    params = [torch.nn.Parameter(v.clone()) for v in named.values()]
    optimizer = torch.optim.AdamW(params, lr=6e-4, betas=(0.9, 0.95), weight_decay=0.1)
    sum(p.sum() for p in params).backward()
    optimizer.step()
    config = {"out_dir": "out", "eval_interval": 2000, "batch_size": 12, "block_size": 64,
              "learning_rate": 6e-4, "decay_lr": True, "dtype": "bfloat16", "compile": True,
              "wandb_log": False, "init_from": "scratch", **(config_extra or {})}
    torch.save({"model": named, "optimizer": optimizer.state_dict(),
                "model_args": {"n_layer": cfg.n_layer, "n_head": cfg.n_head,
                               "n_embd": cfg.n_embd, "block_size": cfg.block_size,
                               "bias": True, "vocab_size": cfg.vocab_size, "dropout": 0.0},
                "iter_num": 5000, "best_val_loss": torch.tensor(1.2345), "config": config}, path)
    return model, path


def test_a_nanogpt_checkpoint_in_its_exact_format_imports_and_samples_the_same(
        tmp_path: Path) -> None:
    model, path = _nanogpt_checkpoint(tmp_path / "ckpt.pt")
    twin = load_external(str(path))
    prompts = [[256, 72, 105], [256, 10]]
    assert [g.ids for g in generate(twin, prompts, 257, GREEDY, torch.Generator())] == \
        [g.ids for g in generate(model, prompts, 257, GREEDY, torch.Generator())]
    assert init_weights(str(path), torch.device("cpu"))["model_config"]["n_embd"] == 32


def test_a_checkpoint_that_would_run_code_is_refused_and_nothing_runs(tmp_path: Path) -> None:
    marker = tmp_path / "written_by_the_checkpoint.txt"
    _, path = _nanogpt_checkpoint(tmp_path / "evil.pt", {"payload": WritesAFile(marker)})
    with pytest.raises(ExternalModelError) as refused:
        from_nanogpt(path)
    message = str(refused.value)
    assert str(path) in message and "(builtins.getattr, pathlib.Path, pathlib.PosixPath)" \
        in message
    assert "model.safetensors" in message and "save_pretrained" in message
    with pytest.raises(ExternalModelError, match="refused"):
        load_external(str(path))
    with pytest.raises(CheckpointError, match="refused"):  # as a starting point for training
        init_weights(str(path), torch.device("cpu"))
    with pytest.raises(UnsafeCheckpointError, match="pathlib.PosixPath"):
        load_checkpoint(path)  # and as a platform checkpoint
    assert not marker.exists()
    # The payload is live: the unsafe loader the platform no longer uses would have run it.
    torch.load(path, weights_only=False)
    assert marker.read_text() == "code from a checkpoint ran"


def test_numpy_scalars_are_plain_data_but_truncated_files_are_named(tmp_path: Path) -> None:
    import numpy as np

    torch.save({"loss": np.float64(1.5), "steps": np.arange(3)}, tmp_path / "np.pt")
    loaded = read_torch_file(tmp_path / "np.pt")
    assert loaded["loss"] == 1.5 and loaded["steps"].tolist() == [0, 1, 2]
    _, path = _nanogpt_checkpoint(tmp_path / "ckpt.pt")
    cut = tmp_path / "cut.pt"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ExternalModelError, match=r"cut\.pt cannot be read.*truncated"):
        from_nanogpt(cut)


def test_transformers_folders_load_safetensors_and_no_remote_code(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").write_bytes(b"")
    assert safe_loading_kwargs(str(tmp_path)) == {"trust_remote_code": False,
                                                  "use_safetensors": True}
    assert safe_loading_kwargs(str(tmp_path / "nothing_here")) == {
        "trust_remote_code": False, "use_safetensors": None}


def test_the_checkpoint_asset_refuses_a_hostile_import(data_lake: Path, instance,
                                                        tmp_path: Path) -> None:
    marker = tmp_path / "written_by_the_checkpoint.txt"
    _, path = _nanogpt_checkpoint(tmp_path / "evil.pt", {"payload": WritesAFile(marker)})
    defs = build_definitions(imports={"evil": str(path)})
    result = defs.resolve_job_def(LANGUAGE_TOKENIZER_JOB).execute_in_process(
        instance=instance, partition_key=language_tokenizer_key("hindi", "byte"),
        asset_selection=[dg.AssetKey("checkpoint_evil")], raise_on_error=False)
    assert not result.success
    error = str(next(e for e in result.all_events if e.is_step_failure)
                .event_specific_data.error)
    assert "checkpoint_evil hindi|byte" in error and "refused" in error and str(path) in error
    assert not marker.exists()
    assert not list(data_lake.rglob("*.pt"))  # nothing converted, nothing half-written
