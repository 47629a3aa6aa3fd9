"""Hugging Face tokenizers (Sarvam-1, SUTRA, or any other) through `transformers.AutoTokenizer`.

The source is a local folder (from config or an environment variable) or a hub id. Without
network and without a local copy, loading fails within seconds with a message that says how
to provide one, instead of hanging on retries.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tsr_assets.core.atomic_files import temp_path_for
from tsr_assets.core.hub import hub_offline_reason
from tsr_assets.tokenizers.base import (
    BuildInputs,
    Tokenizer,
    TokenizerBackend,
    TokenizerUnavailable,
)

# Hub ids of the tokenizers the platform knows by partition key, and the environment variable
# that points a partition at a local copy instead. Each becomes one backend (`HF_BACKENDS`).
HUB_TOKENIZERS: dict[str, tuple[str, str]] = {
    "sarvam": ("sarvamai/sarvam-1", "TSR_SARVAM_TOKENIZER"),
    "sutra": ("TWO/sutra-mlt256-v2", "TSR_SUTRA_TOKENIZER"),
}
_BYTE_PIECE = re.compile(r"^<0x[0-9A-Fa-f]{2}>$")


def hub_source(key: str, local_path: str | None = None) -> str:
    """Where partition `key`'s tokenizer comes from: config path, env var, else the hub id."""
    if key not in HUB_TOKENIZERS:
        raise ValueError(f"{key!r} is not a hub tokenizer; known: {', '.join(HUB_TOKENIZERS)}")
    hub_id, env_var = HUB_TOKENIZERS[key]
    return (local_path or os.environ.get(env_var, "").strip() or hub_id)


def _how_to_provide(source: str, key: str | None) -> str:
    env = f"set ${HUB_TOKENIZERS[key][1]} or " if key in HUB_TOKENIZERS else ""
    return (
        f"To use it offline, download it on a machine with network "
        f"(`huggingface-cli download {source} --include 'tokenizer*' 'special_tokens_map.json'`"
        f" or `AutoTokenizer.from_pretrained({source!r}).save_pretrained(DIR)`), copy DIR here "
        f"and {env}set the `local_path` run config of the `tokenizer` asset to DIR."
    )


def load_auto_tokenizer(source: str, key: str | None = None, connect_timeout_s: float = 3.0):
    """`AutoTokenizer.from_pretrained(source)` that fails fast and clearly when it cannot work.

    Raises:
        TokenizerUnavailable: a missing local folder, or a hub id that is neither cached nor
            reachable (HF_HUB_OFFLINE set, or no connection within `connect_timeout_s`).
    """
    from transformers import AutoTokenizer

    looks_local = source.startswith((".", "/", "~")) or Path(source).expanduser().exists()
    if looks_local:
        folder = Path(source).expanduser()
        if not folder.is_dir():
            raise TokenizerUnavailable(f"tokenizer folder {folder} does not exist. "
                                       + _how_to_provide("<hub id>", key))
        return AutoTokenizer.from_pretrained(str(folder), trust_remote_code=False)
    try:
        return AutoTokenizer.from_pretrained(source, local_files_only=True,
                                             trust_remote_code=False)
    except OSError:
        pass
    reason = hub_offline_reason(connect_timeout_s)
    if reason:
        raise TokenizerUnavailable(
            f"tokenizer {source!r} is not in the local Hugging Face cache and {reason}. "
            + _how_to_provide(source, key)
        )
    try:
        return AutoTokenizer.from_pretrained(source, trust_remote_code=False)
    except OSError as exc:
        raise TokenizerUnavailable(f"could not load tokenizer {source!r}: {exc}. "
                                   + _how_to_provide(source, key)) from exc


class HFTokenizer(Tokenizer):
    """A `transformers` tokenizer with the platform's framing (its own special tokens off)."""

    kind = "hf"

    def __init__(self, tokenizer, source: str) -> None:
        self._tok = tokenizer
        self.source = source
        bos = tokenizer.bos_token_id
        eos = tokenizer.eos_token_id
        if eos is None and bos is None:
            raise ValueError(f"tokenizer {source!r} has neither a bos nor an eos token; the "
                             "platform needs at least an eos token to frame stories")
        # A tokenizer without bos frames like GPT-2: eos on both sides.
        self._bos = bos if bos is not None else eos
        self._eos = eos if eos is not None else bos

    @classmethod
    def load(cls, source: str, key: str | None = None) -> HFTokenizer:
        """Load from a local folder or hub id (see `load_auto_tokenizer`)."""
        return cls(load_auto_tokenizer(source, key), source)

    @property
    def name(self) -> str:
        return f"hf:{self._tok.name_or_path}"

    @property
    def version(self) -> str:
        vocab = sorted(self._tok.get_vocab().items(), key=lambda kv: kv[1])
        digest = hashlib.sha256(json.dumps(vocab, ensure_ascii=False).encode()).hexdigest()
        return f"hf-{digest[:16]}"

    @property
    def vocab_size(self) -> int:
        return max(len(self._tok), max(self._tok.get_vocab().values()) + 1)

    @property
    def bos_id(self) -> int:
        return self._bos

    @property
    def eos_id(self) -> int:
        return self._eos

    def special_ids(self) -> set[int]:
        return {self._bos, self._eos, *self._tok.all_special_ids}

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        if not texts:
            return []
        return self._tok(list(texts), add_special_tokens=False)["input_ids"]

    def decode(self, ids: Sequence[int]) -> str:
        return self._tok.decode([int(i) for i in ids], skip_special_tokens=True,
                                clean_up_tokenization_spaces=False)

    def pieces(self, ids: Sequence[int]) -> list[str]:
        """The tokenizer's own token strings (`convert_ids_to_tokens`)."""
        return list(self._tok.convert_ids_to_tokens([int(i) for i in ids]))

    def fallback_mask(self) -> np.ndarray:
        mask = np.zeros(self.vocab_size, dtype=bool)
        unk = self._tok.unk_token_id
        for token, token_id in self._tok.get_vocab().items():
            if _BYTE_PIECE.match(token) or token_id == unk:
                mask[token_id] = True
        return mask

    def to_transformers(self):
        """The stored tokenizer with the platform's framing as its special-token template."""
        from tokenizers import Tokenizer as FastTokenizer

        from tsr_assets.tokenizers.hf_export import framed

        if not getattr(self._tok, "is_fast", False):
            raise NotImplementedError(f"{self.name} is a slow tokenizer; only fast ones export")
        fast = FastTokenizer.from_str(self._tok.backend_tokenizer.to_str())
        bos, eos = self._tok.convert_ids_to_tokens([self._bos, self._eos])
        return framed(fast, bos, eos, self._bos, self._eos)

    def save(self, folder: Path) -> None:
        """Save the tokenizer files (`save_pretrained`) so later stages need no hub."""
        self._tok.save_pretrained(str(folder))


#: The `save_pretrained` folder in a stored tokenizer's folder.
HF_FOLDER = "hf"


def _save(tokenizer: Tokenizer, folder: Path) -> dict:
    assert isinstance(tokenizer, HFTokenizer)
    tmp = temp_path_for(folder / HF_FOLDER)
    try:
        tokenizer.save(tmp)
        shutil.rmtree(folder / HF_FOLDER, ignore_errors=True)
        os.replace(tmp, folder / HF_FOLDER)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {}


def hub_backend(key: str) -> TokenizerBackend:
    """The backend of hub tokenizer `key`: loaded with `AutoTokenizer`, stored with
    `save_pretrained`, so later stages never need the hub again."""
    hub_id, env_var = HUB_TOKENIZERS[key]

    def build(inputs: BuildInputs) -> tuple[Tokenizer, str]:
        source = hub_source(key, inputs.settings.local_path)
        return HFTokenizer.load(source, key), source

    return TokenizerBackend(
        key=key, kind=HFTokenizer.kind,
        summary=f"`AutoTokenizer` of {hub_id} (or a local copy: ${env_var}, `local_path`)",
        build=build, save=_save,
        load=lambda folder, descriptor: HFTokenizer.load(str(folder / HF_FOLDER)),
        offline=False,
    )


HF_BACKENDS = tuple(hub_backend(key) for key in HUB_TOKENIZERS)
