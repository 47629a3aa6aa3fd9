"""GPT-2's byte-level BPE through tiktoken, loadable on a machine without network.

GPT-2 has no bos token. The platform frames each story as `<|endoftext|> story <|endoftext|>`:
id 50256 serves as both bos and eos, so a story boundary in the bins reads `... eot eot ...`.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import tiktoken
from tiktoken.load import load_tiktoken_bpe

from tsr_assets.core.atomic_files import write_bytes_atomic
from tsr_assets.tokenizers.base import (
    BuildInputs,
    SpanFramer,
    Tokenizer,
    TokenizerBackend,
    TokenizerUnavailable,
)
from tsr_assets.tokenizers.byte_level import byte_level_name
from tsr_assets.tokenizers.word_cache import WordCacheEncoder

GPT2_EOT = 50256
EOT_TOKEN = "<|endoftext|>"
GPT2_RANKS_ENV = "TSR_GPT2_RANKS"
# GPT-2's pre-tokenization pattern (tiktoken's r50k pattern).
GPT2_PATTERN = (
    r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
)
_TIKTOKEN_GPT2_URLS = (
    "https://openaipublic.blob.core.windows.net/gpt-2/encodings/main/vocab.bpe",
    "https://openaipublic.blob.core.windows.net/gpt-2/encodings/main/encoder.json",
)


def tiktoken_cache_has_gpt2() -> bool:
    """Whether tiktoken's own cache already holds GPT-2's files (then no download happens)."""
    import tempfile

    cache_dir = os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR")
    cache = Path(cache_dir) if cache_dir else Path(tempfile.gettempdir()) / "data-gym-cache"
    return all((cache / hashlib.sha1(url.encode()).hexdigest()).is_file()
               for url in _TIKTOKEN_GPT2_URLS)


def shipped_gpt2_ranks() -> Path | None:
    """`gpt2.tiktoken` as shipped inside the openai-whisper distribution, if installed.

    Found without importing `whisper` (its import needs numba, which is not installed).
    """
    spec = importlib.util.find_spec("whisper")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "assets" / "gpt2.tiktoken"
        if path.is_file():
            return path
    return None


def gpt2_ranks_file() -> Path | None:
    """A local GPT-2 ranks file: `$TSR_GPT2_RANKS` if set, else the one openai-whisper ships."""
    configured = os.environ.get(GPT2_RANKS_ENV, "").strip()
    if configured:
        path = Path(configured).expanduser()
        if not path.is_file():
            raise TokenizerUnavailable(
                f"${GPT2_RANKS_ENV} is {configured!r}, which is not a file. Point it at a "
                "gpt2.tiktoken ranks file, or unset it."
            )
        return path
    return shipped_gpt2_ranks()


def load_gpt2_encoding(ranks_file: str | Path | None = None) -> tuple[tiktoken.Encoding, str]:
    """GPT-2's encoding and where it came from.

    Order: an explicit ranks file; `$TSR_GPT2_RANKS`; tiktoken's cache; the ranks file that
    openai-whisper ships; finally tiktoken's download. Raises `TokenizerUnavailable` with the
    ways to provide it when none works.
    """
    path = Path(ranks_file) if ranks_file else None
    if path is None and not os.environ.get(GPT2_RANKS_ENV) and tiktoken_cache_has_gpt2():
        return tiktoken.get_encoding("gpt2"), "tiktoken-cache"
    path = path or gpt2_ranks_file()
    if path is not None:
        encoding = tiktoken.Encoding(
            name="gpt2",
            pat_str=GPT2_PATTERN,
            mergeable_ranks=load_tiktoken_bpe(str(path)),
            special_tokens={EOT_TOKEN: GPT2_EOT},
        )
        return encoding, str(path)
    try:
        return tiktoken.get_encoding("gpt2"), "tiktoken-download"
    except Exception as exc:
        raise TokenizerUnavailable(
            "GPT-2's BPE ranks are not on this machine and could not be downloaded "
            f"({type(exc).__name__}). Provide them in one of these ways: "
            "`pip install --no-deps openai-whisper==20250625` (ships gpt2.tiktoken; `make` "
            f"does this), set ${GPT2_RANKS_ENV} to a gpt2.tiktoken file, or fill tiktoken's "
            "cache ($TIKTOKEN_CACHE_DIR) on a machine with network."
        ) from exc


class GPT2Tokenizer(Tokenizer):
    """tiktoken GPT-2 (50,257 ids); `<|endoftext|>` is both bos and eos."""

    kind = "gpt2"
    word_cacheable = True
    word_cache_space_prefix = True

    def __init__(self, ranks_file: str | Path | None = None, num_threads: int | None = None):
        self._encoding, self.source = load_gpt2_encoding(ranks_file)
        self._threads = num_threads or os.cpu_count() or 1

    @property
    def name(self) -> str:
        return "tiktoken-gpt2"

    @functools.cached_property
    def version(self) -> str:
        ranks = self._encoding._mergeable_ranks  # noqa: SLF001 - the only handle on the ranks
        digest = hashlib.sha256()
        for token, rank in sorted(ranks.items(), key=lambda kv: kv[1]):
            digest.update(token + rank.to_bytes(4, "little"))
        return f"gpt2-{digest.hexdigest()[:16]}"

    @property
    def vocab_size(self) -> int:
        return self._encoding.n_vocab

    @property
    def bos_id(self) -> int:
        return GPT2_EOT

    @property
    def eos_id(self) -> int:
        return GPT2_EOT

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return self._encoding.encode_ordinary_batch(list(texts), num_threads=self._threads)

    def encode(self, text: str) -> list[int]:
        return self._encoding.encode_ordinary(text)

    def encode_words(self, words: Sequence[str]) -> list[list[int]]:
        # Words are short: a thread-pool task per word costs more than encoding it.
        return [self._encoding.encode_ordinary(w) for w in words]

    def decode(self, ids: Sequence[int]) -> str:
        return self._encoding.decode([int(i) for i in ids if i != GPT2_EOT])

    def pieces(self, ids: Sequence[int]) -> list[str]:
        """GPT-2's token names as `transformers`' `GPT2Tokenizer` gives them: each token's
        bytes in the byte-level alphabet (`Ġ` for a space); 50256 is `<|endoftext|>`."""
        return [EOT_TOKEN if int(i) == GPT2_EOT
                else byte_level_name(self._encoding.decode_single_token_bytes(int(i)))
                for i in ids]

    def fallback_mask(self) -> np.ndarray:
        mask = np.zeros(self.vocab_size, dtype=bool)
        for token_id in range(GPT2_EOT):
            try:
                self._encoding.decode_single_token_bytes(token_id).decode("utf-8")
            except UnicodeDecodeError:
                mask[token_id] = True
        return mask

    def span_framer(self) -> SpanFramer:
        """Each distinct word is encoded once and its ids gathered (see `word_cache.py`)."""
        return WordCacheEncoder(self).encode_framed_spans

    def to_transformers(self):
        """GPT-2's BPE in the `tokenizers` library, framed with `<|endoftext|>` on both sides."""
        import tempfile

        from tsr_assets.tokenizers.hf_export import framed, tiktoken_fast

        with tempfile.TemporaryDirectory() as tmp:
            ranks = Path(tmp) / GPT2_FILE
            ranks.write_bytes(self.ranks_bytes())
            fast = tiktoken_fast(ranks, GPT2_PATTERN, EOT_TOKEN)
        return framed(fast, EOT_TOKEN, EOT_TOKEN, GPT2_EOT, GPT2_EOT)

    def ranks_bytes(self) -> bytes:
        """The ranks in tiktoken's file format (base64 token, rank per line)."""
        import base64

        ranks = self._encoding._mergeable_ranks  # noqa: SLF001
        return b"".join(base64.b64encode(token) + b" " + str(rank).encode() + b"\n"
                        for token, rank in sorted(ranks.items(), key=lambda kv: kv[1]))


#: The ranks file in a stored tokenizer's folder.
GPT2_FILE = "gpt2.tiktoken"


def _build(inputs: BuildInputs) -> tuple[Tokenizer, str]:
    tokenizer = GPT2Tokenizer()
    return tokenizer, tokenizer.source


def _save(tokenizer: Tokenizer, folder: Path) -> dict:
    assert isinstance(tokenizer, GPT2Tokenizer)
    write_bytes_atomic(folder / GPT2_FILE, tokenizer.ranks_bytes())
    return {}


GPT2_BACKEND = TokenizerBackend(
    key="gpt2", kind=GPT2Tokenizer.kind,
    summary="tiktoken's GPT-2 BPE from a local ranks file (<|endoftext|> is bos and eos)",
    build=_build, save=_save, load=lambda folder, descriptor: GPT2Tokenizer(folder / GPT2_FILE),
)
