"""Publishing and importing through Dagster: `hf_dataset` loads with `datasets`,
`hf_model_<preset>` with `transformers` (with a card from the warehouse), and a nanoGPT
checkpoint made elsewhere joins the comparison tables under the name it is given."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pytest
import torch
from datasets import load_dataset
from transformers import AutoModelForCausalLM, AutoTokenizer

from tsr_assets.definitions import build_definitions
from tsr_assets.defs.jobs import LANGUAGE_JOB, LANGUAGE_TOKENIZER_JOB
from tsr_assets.defs.partitions import language_tokenizer_key
from tsr_assets.stories.store import read_table
from tsr_assets.tokenizers.byte_tokenizer import ByteTokenizer
from tsr_assets.tokenizers.token_bins import val_mask
from tsr_assets_tests.model.test_hf_export import _model, _nanogpt_state

TRAIN = {"max_steps": 20, "eval_every": 10, "eval_batches": 2, "batch_size": 4}
SAMPLES = {"max_openers": 4, "samples_per_opener": 1, "max_new_tokens": 20}


def _chain(defs, instance, assets, tokenizer="byte", run_config=None):
    return defs.resolve_job_def(LANGUAGE_TOKENIZER_JOB).execute_in_process(
        instance=instance, partition_key=language_tokenizer_key("hindi", tokenizer),
        asset_selection=[dg.AssetKey(a) for a in assets], run_config=run_config or {},
        raise_on_error=False)


def _nanogpt_checkpoint(path: Path, vocab: int) -> Path:
    model = _model(bias=True, seed=9, vocab=vocab)
    cfg = model.config
    torch.save({"model": _nanogpt_state(model), "model_args": {
        "n_layer": cfg.n_layer, "n_head": cfg.n_head, "n_embd": cfg.n_embd,
        "block_size": cfg.block_size, "bias": True, "vocab_size": cfg.vocab_size}}, path)
    return path


def test_export_dataset_and_model_and_import_one(data_lake: Path, instance,
                                                  tmp_path: Path) -> None:
    published = _nanogpt_checkpoint(tmp_path / "ckpt.pt", vocab=258)
    defs = build_definitions(imports={"published": str(published)})
    language = defs.resolve_job_def(LANGUAGE_JOB).execute_in_process(
        instance=instance, partition_key="hindi",
        run_config={"ops": {"prompts": {"config": {"count": 60}}}})
    assert language.success

    # The dataset: train and validation by the token bins' split rule, with a card.
    folder = data_lake / "hf" / "datasets" / "hindi"
    loaded = load_dataset(str(folder))
    stories = read_table(data_lake / "stories" / "hindi")
    in_val = val_mask(stories["prompt_id"].to_list(), 0.025)
    assert loaded["train"].num_rows == int((~in_val).sum()) and \
        loaded["validation"].num_rows == int(in_val.sum())
    assert {"story", "noun", "template_hash", "provider"} <= set(loaded["train"].column_names)
    card = (folder / "README.md").read_text()
    assert card.startswith("---\nlanguage: [\"hi\"]") and "license: \"cc-by-4.0\"" in card
    assert "offline-template (sentence-banks-v1)" in card and "terms of use" in card

    run_config = {"ops": {"checkpoint_tiny": {"config": TRAIN},
                          "samples_tiny": {"config": SAMPLES},
                          "samples_published": {"config": SAMPLES}}}
    assert _chain(defs, instance, ["tokenizer", "token_bins", "tokenizer_stats",
                                   "checkpoint_tiny", "samples_tiny", "judge_scores_tiny",
                                   "hf_model_tiny"], run_config=run_config).success

    # The model: transformers loads it, with the platform's tokenizer ids and a card.
    export = data_lake / "hf" / "models" / "hindi" / "byte" / "tiny"
    model = AutoModelForCausalLM.from_pretrained(str(export))
    tok = AutoTokenizer.from_pretrained(str(export))
    story = stories["story"][0]
    assert tok(story)["input_ids"] == [256, *ByteTokenizer().encode(story), 257]
    # The default recipe (modern) exports as Qwen3.
    assert type(model).__name__ == "Qwen3ForCausalLM" and model.config.num_hidden_layers == 2
    card = (export / "README.md").read_text()
    assert "recipe `modern`" in card and "qwen3" in card
    assert "library_name: \"transformers\"" in card and "model-index" in card
    assert "| automatic | completeness |" in card and "bits per UTF-8 byte" in card

    # A nanoGPT checkpoint from elsewhere, sampled and judged like a trained model.
    imported = _chain(defs, instance, ["checkpoint_published", "samples_published",
                                       "judge_scores_published"], run_config=run_config)
    assert imported.success
    with duckdb.connect(str(data_lake / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute(
            "SELECT preset, n, parameters, val_loss, bits_per_byte FROM tokenizer_comparison "
            "WHERE metric = 'length_words' ORDER BY preset").fetchall()
        stop = con.execute("SELECT stop_reason FROM training_runs WHERE preset = 'published'"
                           ).fetchone()
        recipes = dict(con.execute("SELECT preset, recipe FROM training_runs").fetchall())
    assert recipes == {"tiny": "modern", "published": "imported"}
    assert [r[0] for r in rows] == ["published", "tiny"]
    assert rows[0][1] == 4 and rows[0][2] == _model(bias=True, vocab=258).num_params()
    assert np.isfinite(rows[0][3]) and rows[0][4] > 0 and stop == ("imported",)

    # A model whose vocabulary is not the partition tokenizer's is refused, naming both.
    assert _chain(defs, instance, ["tokenizer", "token_bins"], "gpt2").success
    refused = _chain(defs, instance, ["checkpoint_published"], "gpt2")
    error = str(next(e for e in refused.all_events if e.is_step_failure)
                .event_specific_data.error)
    assert "vocabulary of 258 ids but the tiktoken-gpt2 tokenizer" in error and "50,257" in error


def test_imported_names_are_checked() -> None:
    with pytest.raises(ValueError, match="is a model preset's name"):
        build_definitions(imports={"tiny": "/x.pt"})
    with pytest.raises(ValueError, match="lowercase"):
        build_definitions(imports={"My-Model": "/x.pt"})
