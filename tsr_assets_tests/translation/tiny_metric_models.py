"""Tiny random models of the shapes the translation metrics load, built offline: a
sentence-transformers folder (a 2-layer BERT with a character vocabulary of the evaluation
openers, mean pooling, normalization) for LaBSE, and a COMET regression checkpoint (the same
kind of BERT encoder under `unbabel-comet`'s `RegressionMetric`, saved as
`checkpoints/model.ckpt` + `hparams.yaml`, the layout of `Unbabel/wmt22-comet-da`), built by
the COMET environment's Python. Their scores mean nothing; the plumbing is what is tested."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

from tsr_assets.core.languages import get_language


def _characters() -> list[str]:
    chars: set[str] = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.,!?'\"")
    for language in ("english", "hindi", "bengali", "marathi"):
        path = get_language(language).package_data_dir / "eval_openers.txt"
        chars |= set(path.read_text(encoding="utf-8"))
    return sorted(c for c in chars if c.strip())


def write_char_vocab(path: Path) -> Path:
    """A WordPiece vocabulary of single characters, each also as a word's continuation
    (`##c`), BERT's specials first: every word of the openers tokenizes into characters."""
    chars = _characters()
    path.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars,
                               *(f"##{c}" for c in chars)]) + "\n", encoding="utf-8")
    return path


def build_tiny_sentence_transformer(folder: Path, seed: int = 0) -> Path:
    """Save a tiny sentence-transformers model (BERT, mean pooling, normalize) to `folder`."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import (
        Normalize,
        Pooling,
        Transformer,
    )
    from transformers import BertConfig, BertModel, BertTokenizerFast

    bert = folder / "bert"
    bert.mkdir(parents=True, exist_ok=True)
    words = write_char_vocab(bert / "vocab.txt").read_text(encoding="utf-8").split()
    # transformers 5 takes the vocabulary itself (`vocab`), 4.x a file (`vocab_file`).
    tokenizer = BertTokenizerFast(vocab={w: i for i, w in enumerate(words)},
                                  do_lower_case=False, tokenize_chinese_chars=False)
    tokenizer.save_pretrained(bert)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64,
                        max_position_embeddings=256)
    BertModel(config).save_pretrained(bert)
    encoder = Transformer(str(bert), max_seq_length=128)
    pooling = Pooling(encoder.get_embedding_dimension(), pooling_mode="mean")
    model = SentenceTransformer(modules=[encoder, pooling, Normalize()], device="cpu")
    out = folder / "labse-tiny"
    model.save(str(out))
    return out


#: Run by the COMET environment's Python: argv[1] the output folder, argv[2] the vocabulary.
_COMET_BUILDER = textwrap.dedent('''
    import sys
    from pathlib import Path

    import pytorch_lightning
    import torch
    import yaml
    from transformers import BertConfig, BertModel, BertTokenizerFast

    out, vocab = Path(sys.argv[1]), Path(sys.argv[2])
    encoder = out / "encoder"
    encoder.mkdir(parents=True, exist_ok=True)
    tokenizer = BertTokenizerFast(vocab_file=str(vocab), do_lower_case=False,
                                  tokenize_chinese_chars=False)
    tokenizer.save_pretrained(encoder)
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2,
                         num_attention_heads=2, intermediate_size=64,
                         max_position_embeddings=512)).save_pretrained(encoder)
    from comet.models import RegressionMetric

    model = RegressionMetric(encoder_model="BERT", pretrained_model=str(encoder), layer="mix",
                             hidden_sizes=[16], load_pretrained_weights=True,
                             local_files_only=True)
    (out / "checkpoints").mkdir(exist_ok=True)
    hparams = dict(model.hparams)
    torch.save({"state_dict": model.state_dict(), "hyper_parameters": hparams,
                "pytorch-lightning_version": pytorch_lightning.__version__, "epoch": 0,
                "global_step": 0}, out / "checkpoints" / "model.ckpt")
    (out / "hparams.yaml").write_text(yaml.safe_dump(
        {"class_identifier": "regression_metric", **hparams}))
''')


def build_tiny_comet(folder: Path, python: Path) -> Path:
    """Build a tiny COMET checkpoint folder with the COMET environment's `python`."""
    out = folder / "comet-tiny"
    vocab = write_char_vocab(folder / "comet_vocab.txt")
    done = subprocess.run([str(python), "-c", _COMET_BUILDER, str(out), str(vocab)],
                          cwd=folder, capture_output=True, text=True, timeout=600,
                          env={"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                               "PATH": "/usr/bin:/bin"}, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return out
