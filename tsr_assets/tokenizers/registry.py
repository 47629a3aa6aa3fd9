"""The tokenizer registry: every tokenizer partition, and storing tokenizers in the data lake.

Each backend module declares one `TokenizerBackend` (key, how it is built, saved and loaded;
its `Tokenizer` class says how it frames a batch). The partitions of every language x
tokenizer asset are `tokenizer_keys()`. Adding a tokenizer is one module and one
`register_tokenizer(...)` call before the definitions are built, like `register_language`.

A stored tokenizer's folder holds `tsr_tokenizer.json` (kind, name, version, vocabulary size,
bos, eos, source, and backend fields) and the backend's own files, so later stages load it
from the folder alone, never from the network or the original source.
"""

from __future__ import annotations

from pathlib import Path

from tsr_assets.core.atomic_files import write_json_atomic
from tsr_assets.core.data_files import read_json_file
from tsr_assets.core.lake import TOKENIZER_DESCRIPTOR_FILE
from tsr_assets.tokenizers.base import Tokenizer, TokenizerBackend
from tsr_assets.tokenizers.byte_tokenizer import BYTE_BACKEND
from tsr_assets.tokenizers.gpt2_tokenizer import GPT2_BACKEND
from tsr_assets.tokenizers.hf_tokenizer import HF_BACKENDS
from tsr_assets.tokenizers.spm_tokenizer import SPM_BACKEND

BUILTIN_BACKENDS: tuple[TokenizerBackend, ...] = (SPM_BACKEND, BYTE_BACKEND, GPT2_BACKEND,
                                                  *HF_BACKENDS)
_REGISTRY: dict[str, TokenizerBackend] = {b.key: b for b in BUILTIN_BACKENDS}


def register_tokenizer(backend: TokenizerBackend, *, replace: bool = False) -> TokenizerBackend:
    """Add a backend; definitions built afterwards get its partition."""
    if not backend.key or not all(c.isascii() and (c.isalnum() or c == "_") for c in backend.key):
        raise ValueError(f"tokenizer key {backend.key!r} must be ASCII letters, digits or '_' "
                         "(it is a partition key and a folder name)")
    if backend.key in _REGISTRY and not replace:
        raise ValueError(f"tokenizer {backend.key!r} is already registered; pass replace=True "
                         "to redefine it")
    _REGISTRY[backend.key] = backend
    return backend


def unregister_tokenizer(key: str) -> None:
    """Remove a backend added with `register_tokenizer` (built-in ones stay)."""
    if key in {b.key for b in BUILTIN_BACKENDS}:
        raise ValueError(f"{key!r} is a built-in tokenizer and cannot be removed")
    _REGISTRY.pop(key, None)


def get_backend(key: str) -> TokenizerBackend:
    """The backend of partition `key`, with an error that lists the known ones."""
    try:
        return _REGISTRY[key]
    except KeyError:
        raise KeyError(f"unknown tokenizer {key!r}; registered tokenizers: "
                       f"{', '.join(_REGISTRY)}. Add one with "
                       "tsr_assets.tokenizers.registry.register_tokenizer(...)") from None


def tokenizer_keys() -> list[str]:
    """Keys of every registered tokenizer, in registration order (the partition keys)."""
    return list(_REGISTRY)


def offline_tokenizer_keys() -> list[str]:
    """Those that build without network (what the main job runs by default)."""
    return [key for key, backend in _REGISTRY.items() if backend.offline]


def _backend_for_kind(kind: str, descriptor_path: Path) -> TokenizerBackend:
    for backend in _REGISTRY.values():
        if backend.kind == kind:
            return backend
    raise ValueError(f"{descriptor_path}: no registered tokenizer backend of kind {kind!r}; "
                     "register it before loading this tokenizer")


def save_tokenizer(tokenizer: Tokenizer, folder: Path, source: str = "") -> dict:
    """Write `tokenizer`'s files and descriptor into `folder`; returns the descriptor."""
    folder.mkdir(parents=True, exist_ok=True)
    backend = _backend_for_kind(tokenizer.kind, folder / TOKENIZER_DESCRIPTOR_FILE)
    descriptor = {**tokenizer.describe(), "source": source, **backend.save(tokenizer, folder)}
    write_json_atomic(folder / TOKENIZER_DESCRIPTOR_FILE, descriptor)
    return descriptor


def read_descriptor(folder: Path) -> dict:
    """The stored descriptor; a clear error when the `tokenizer` asset was not materialized."""
    path = folder / TOKENIZER_DESCRIPTOR_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: materialize the `tokenizer` asset for this partition first"
        )
    return read_json_file(path, "Materialize the `tokenizer` asset for this partition again "
                                "to rewrite it.")


def load_tokenizer(folder: Path) -> Tokenizer:
    """Load the tokenizer stored in `folder` and check it is the one the descriptor names."""
    descriptor = read_descriptor(folder)
    backend = _backend_for_kind(descriptor["kind"], folder / TOKENIZER_DESCRIPTOR_FILE)
    tokenizer = backend.load(folder, descriptor)
    if tokenizer.version != descriptor["version"]:
        raise ValueError(
            f"{folder}: the stored files are version {tokenizer.version} but the descriptor says "
            f"{descriptor['version']}; re-materialize the `tokenizer` asset"
        )
    return tokenizer
