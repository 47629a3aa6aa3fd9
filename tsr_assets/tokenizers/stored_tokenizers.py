"""Saving a tokenizer into its data-lake folder and loading it back from there.

The `tokenizer` asset's folder holds `tsr_tokenizer.json` (kind, name, version, vocabulary
size, bos, eos, source) and the files the backend needs: `spm.model`, `gpt2.tiktoken` or an
`hf/` folder written by `save_pretrained`. Later stages load from the folder only, so they
never need the network or the original source again.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from tsr_assets.atomic_files import temp_path_for, write_bytes_atomic, write_json_atomic
from tsr_assets.tokenizers.base import Tokenizer
from tsr_assets.tokenizers.byte_tokenizer import ByteTokenizer
from tsr_assets.tokenizers.gpt2_tokenizer import GPT2Tokenizer
from tsr_assets.tokenizers.hf_tokenizer import HFTokenizer
from tsr_assets.tokenizers.spm_tokenizer import SentencePieceTokenizer

DESCRIPTOR_FILE = "tsr_tokenizer.json"
SPM_FILE = "spm.model"
GPT2_FILE = "gpt2.tiktoken"
HF_FOLDER = "hf"


def save_tokenizer(tokenizer: Tokenizer, folder: Path, source: str = "") -> dict:
    """Write `tokenizer`'s files and descriptor into `folder`; returns the descriptor."""
    folder.mkdir(parents=True, exist_ok=True)
    descriptor = {**tokenizer.describe(), "source": source}
    if isinstance(tokenizer, SentencePieceTokenizer):
        write_bytes_atomic(folder / SPM_FILE, tokenizer.model_bytes())
        descriptor["model_type"] = tokenizer.model_type
    elif isinstance(tokenizer, GPT2Tokenizer):
        write_bytes_atomic(folder / GPT2_FILE, tokenizer.ranks_bytes())
    elif isinstance(tokenizer, HFTokenizer):
        tmp = temp_path_for(folder / HF_FOLDER)
        try:
            tokenizer.save(tmp)
            shutil.rmtree(folder / HF_FOLDER, ignore_errors=True)
            os.replace(tmp, folder / HF_FOLDER)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    write_json_atomic(folder / DESCRIPTOR_FILE, descriptor)
    return descriptor


def read_descriptor(folder: Path) -> dict:
    """The stored descriptor; a clear error when the `tokenizer` asset was not materialized."""
    path = folder / DESCRIPTOR_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: materialize the `tokenizer` asset for this partition first"
        )
    return json.loads(path.read_text(encoding="utf-8"))


def load_tokenizer(folder: Path) -> Tokenizer:
    """Load the tokenizer stored in `folder` and check it is the one the descriptor names."""
    descriptor = read_descriptor(folder)
    kind = descriptor["kind"]
    if kind == "spm":
        tokenizer: Tokenizer = SentencePieceTokenizer(
            folder / SPM_FILE, model_type=descriptor.get("model_type", "unigram")
        )
    elif kind == "byte":
        tokenizer = ByteTokenizer()
    elif kind == "gpt2":
        tokenizer = GPT2Tokenizer(folder / GPT2_FILE)
    elif kind == "hf":
        tokenizer = HFTokenizer.load(str(folder / HF_FOLDER))
    else:
        raise ValueError(f"{folder / DESCRIPTOR_FILE}: unknown tokenizer kind {kind!r}")
    if tokenizer.version != descriptor["version"]:
        raise ValueError(
            f"{folder}: the stored files are version {tokenizer.version} but the descriptor says "
            f"{descriptor['version']}; re-materialize the `tokenizer` asset"
        )
    return tokenizer
