"""Token bins: every story framed as `<bos> story <eos>`, concatenated into `train.bin`/`val.bin`.

The nanoGPT convention: raw little-endian ids (`uint16` when the vocabulary fits, else
`uint32`) readable with `np.memmap`, plus `meta.json`. Stories stream through in batches, so
neither the corpus nor its ids are ever held in memory whole. Files are written under
temporary names and renamed into place; `meta.json` goes last and records the token count of
each file, so a reader can tell a complete set from a stale one.
"""

from __future__ import annotations

import hashlib
import itertools
import os
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tsr_assets.core.atomic_files import atomic_path, write_json_atomic, write_text_atomic
from tsr_assets.core.data_files import read_json_file
from tsr_assets.core.lake import BINS_DROPPED_FILE, BINS_META_FILE, DEFAULT_CORPUS, bin_file
from tsr_assets.core.read_ahead import read_ahead
from tsr_assets.tokenizers.arrow_text import as_large_strings, utf8_views
from tsr_assets.tokenizers.base import SpanFramer, Tokenizer, bins_dtype

SPLITS = ("train", "val")
DEFAULT_VAL_SHARE = 0.025
#: Stories per batch: a whole 5,000-row story shard, so each batch's word dictionary is built once.
DEFAULT_BATCH_ROWS = 8192
#: More threads than this rarely help: the one thread that reads parquet becomes the limit.
MAX_DEFAULT_WORKERS = 8


def val_mask(prompt_ids: Sequence[str], val_share: float) -> np.ndarray:
    """True for the stories that belong to the val split.

    Decided by a hash of each prompt_id alone, so a story keeps its split when stories are
    added or reordered, and the split is the same on every machine and Python version.
    """
    if not 0.0 <= val_share < 1.0:
        raise ValueError(f"val_share {val_share}: must be in [0, 1)")
    threshold = int(val_share * 2**64)
    digests = b"".join([hashlib.blake2b(p.encode(), digest_size=8).digest() for p in prompt_ids])
    return np.frombuffer(digests, dtype="<u8") < np.uint64(threshold)


def iter_story_batches(
    shard_paths: Sequence[Path], batch_rows: int = DEFAULT_BATCH_ROWS,
    skip_ids: Collection[str] = (),
) -> Iterator[tuple[pa.Array, pa.Array]]:
    """(prompt_ids, stories) in batches of Arrow string arrays, read shard by shard in order,
    without the stories whose prompt_id is in `skip_ids` (deduplication).

    They stay Arrow arrays (the bins pipeline reads the stories' bytes in place); call
    `.to_pylist()` for Python strings.
    """
    skip = pa.array(sorted(skip_ids), type=pa.string()) if skip_ids else None
    for path in shard_paths:
        for batch in pq.ParquetFile(path).iter_batches(batch_rows, columns=["prompt_id", "story"]):
            if skip is not None:
                batch = batch.filter(pc.invert(pc.is_in(batch.column(0), value_set=skip)))
            yield batch.column(0), batch.column(1)


def sample_mask(prompt_ids: Sequence[str], share: float, seed: int) -> np.ndarray:
    """True for a seeded pseudo-random `share` of the stories, decided by a hash of the seed and
    each prompt_id alone: the same stories on every machine, and a story keeps its place in
    the sample as others are added."""
    if share >= 1.0:
        return np.ones(len(prompt_ids), dtype=bool)
    threshold = int(max(share, 0.0) * 2**64)
    salt = f"{seed}:".encode()
    digests = b"".join([hashlib.blake2b(salt + p.encode(), digest_size=8).digest()
                        for p in prompt_ids])
    return np.frombuffer(digests, dtype="<u8") < np.uint64(threshold)


def iter_split_texts(
    shard_paths: Sequence[Path], split: str, val_share: float,
    batch_rows: int = DEFAULT_BATCH_ROWS, skip_ids: Collection[str] = (),
    sample_share: float = 1.0, sample_seed: int = 0,
) -> Iterator[str]:
    """The stories of one split, in bins order; with `sample_share` below 1, only that seeded
    share of them (`sample_mask`)."""
    for prompt_ids, stories in iter_story_batches(shard_paths, batch_rows, skip_ids):
        ids = prompt_ids.to_pylist()
        keep = val_mask(ids, val_share) == (split == "val")
        if sample_share < 1.0:
            keep &= sample_mask(ids, sample_share, sample_seed)
        if keep.any():
            yield from stories.filter(pa.array(keep)).to_pylist()


def framer_for(tokenizer: Tokenizer) -> Callable[[pa.Array | Sequence[str]], np.ndarray]:
    """The tokenizer's span framer without the spans: `<bos> ids <eos>` of every text."""
    frame = tokenizer.span_framer()
    return lambda texts: frame(texts)[0]


def _encode_batch(
    frame: SpanFramer,
    prompt_ids: pa.Array | Sequence[str],
    stories: pa.Array | Sequence[str],
    val_share: float,
    dtype: np.dtype,
) -> dict[str, tuple[np.ndarray, int, int]]:
    """Framed ids (as `dtype`), story count and UTF-8 bytes of each split of one batch.

    The batch is framed once and its ids are then divided between the splits.

    Raises:
        ValueError: when the batch is ragged or an id does not fit `dtype`.
    """
    stories = as_large_strings(stories)
    if isinstance(prompt_ids, pa.Array | pa.ChunkedArray):
        prompt_ids = prompt_ids.to_pylist()
    if len(prompt_ids) != len(stories):
        raise ValueError(f"batch has {len(prompt_ids)} prompt_ids but {len(stories)} stories")
    in_val = val_mask(prompt_ids, val_share)
    ids, lengths = frame(stories)
    if ids.size and int(ids.max()) > np.iinfo(dtype).max:
        raise ValueError(f"id {int(ids.max())} does not fit {dtype.name}")
    ids = ids.astype(dtype, copy=False)
    text_bytes = np.diff(utf8_views(stories)[0])
    if not in_val.any():
        return {"train": (ids, len(stories), int(text_bytes.sum()))} if len(stories) else {}
    id_in_val = np.repeat(in_val, lengths)
    encoded: dict[str, tuple[np.ndarray, int, int]] = {}
    for split, keep, id_keep in (("train", ~in_val, ~id_in_val), ("val", in_val, id_in_val)):
        if keep.any():
            encoded[split] = (ids[id_keep], int(keep.sum()), int(text_bytes[keep].sum()))
    return encoded


def encode_in_parallel(
    frame: SpanFramer,
    batches: Iterable[tuple[pa.Array | Sequence[str], pa.Array | Sequence[str]]],
    val_share: float,
    dtype: np.dtype,
    workers: int,
) -> Iterator[dict[str, tuple[np.ndarray, int, int]]]:
    """`_encode_batch` of every batch, in order, on `workers` threads.

    Batches are read on their own thread (`read_ahead`) and encoded on `workers` threads
    while the caller writes: Arrow, numpy, parquet and the native tokenizers release the GIL,
    so the three overlap. At most `workers + 3` batches are in memory at once, which keeps
    memory flat in corpus size.
    """
    if workers <= 1:
        for prompt_ids, stories in batches:
            yield _encode_batch(frame, prompt_ids, stories, val_share, dtype)
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="token-bins") as pool:
        pending: deque[Future] = deque()
        try:
            for prompt_ids, stories in read_ahead(batches, depth=2, name="token-bins-reader"):
                pending.append(pool.submit(_encode_batch, frame, prompt_ids, stories, val_share,
                                           dtype))
                if len(pending) > workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


def write_token_bins(
    tokenizer: Tokenizer,
    batches: Iterable[tuple[pa.Array | Sequence[str], pa.Array | Sequence[str]]],
    folder: Path,
    val_share: float = DEFAULT_VAL_SHARE,
    log: Callable[[str], None] | None = None,
    workers: int | None = None,
    extra_meta: dict | None = None,
) -> dict:
    """Frame, encode and write every story into `folder`/{train,val}.bin; returns the meta
    (with `extra_meta` added, e.g. the corpus and its stories per source).

    Batches are encoded on `workers` threads (default: one per CPU, at most
    `MAX_DEFAULT_WORKERS`) and written in order.

    Raises:
        ValueError: when there are no stories, or an id does not fit the bins' dtype.
    """
    dtype = bins_dtype(tokenizer.vocab_size)
    workers = workers or min(os.cpu_count() or 1, MAX_DEFAULT_WORKERS)
    counts = {split: {"stories": 0, "tokens": 0, "bytes": 0} for split in SPLITS}
    folder.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        temps = {split: stack.enter_context(atomic_path(bin_file(folder, split)))
                 for split in SPLITS}
        files = {split: stack.enter_context(temps[split].open("wb")) for split in SPLITS}
        encoded_batches = encode_in_parallel(tokenizer.span_framer(), batches, val_share, dtype,
                                             workers)
        for batch_no, encoded in enumerate(encoded_batches):
            for split, (ids, stories, utf8_bytes) in encoded.items():
                files[split].write(memoryview(np.ascontiguousarray(ids)).cast("B"))
                counts[split]["stories"] += stories
                counts[split]["tokens"] += int(ids.size)
                counts[split]["bytes"] += utf8_bytes
            if log and batch_no % 50 == 49:
                log(f"token_bins: {counts['train']['stories'] + counts['val']['stories']} "
                    "stories encoded")
        if counts["train"]["stories"] + counts["val"]["stories"] == 0:
            raise ValueError("no stories to encode: materialize `stories` first")
        for handle in files.values():
            handle.flush()
    meta = {
        "tokenizer": tokenizer.describe(),
        "dtype": dtype.name,
        "val_share": val_share,
        "framing": "<bos> story <eos>, concatenated",
        "splits": counts,
        "created_at": datetime.now(UTC).isoformat(),
        **(extra_meta or {}),
    }
    write_json_atomic(folder / BINS_META_FILE, meta)
    return meta


def corpus_fields(meta: dict) -> dict:
    """The corpus a bins `meta` was made from and its stories per source (bins made before
    the corpus choice existed: `generated`)."""
    return {"corpus": meta.get("corpus", DEFAULT_CORPUS),
            "stories_by_source": meta.get("stories_by_source")}


def read_meta(folder: Path) -> dict:
    """`meta.json` of a bins folder; a clear error when it is missing."""
    path = folder / BINS_META_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: materialize `token_bins` for this partition")
    return read_json_file(path, "Materialize `token_bins` for this partition again to rewrite "
                                "it (the bins beside it are rebuilt from the stories).")


def open_bins(folder: Path, split: str, meta: dict | None = None) -> np.memmap:
    """A read-only memmap of `split`.bin, checked against the token count in `meta.json`."""
    meta = meta or read_meta(folder)
    path = bin_file(folder, split)
    dtype = np.dtype(meta["dtype"])
    expected = meta["splits"][split]["tokens"]
    size = path.stat().st_size if path.is_file() else -1
    if size != expected * dtype.itemsize:
        raise ValueError(
            f"{path}: {size} bytes, but meta.json says {expected} {dtype.name} tokens; "
            "re-materialize `token_bins` for this partition"
        )
    if expected == 0:
        return np.memmap(path, dtype=dtype, mode="r", shape=(0,)) if size else np.zeros(0, dtype)
    return np.memmap(path, dtype=dtype, mode="r")


#: Ids read at a time when a whole bin file is scanned.
SCAN_CHUNK_IDS = 1 << 24


def iter_bin_chunks(folder: Path, split: str, meta: dict | None = None,
                    chunk: int = SCAN_CHUNK_IDS) -> Iterator[np.ndarray]:
    """The ids of `split`.bin in arrays of at most `chunk` ids, read with plain file reads.

    For scans of a whole file (counts, statistics): unlike a memmap, the pages read do not stay
    mapped into the process, so its resident memory stays one chunk however large the bins.
    """
    meta = meta or read_meta(folder)
    open_bins(folder, split, meta)  # the size check against meta.json
    dtype = np.dtype(meta["dtype"])
    with bin_file(folder, split).open("rb") as handle:
        while True:
            ids = np.fromfile(handle, dtype=dtype, count=chunk)
            if not ids.size:
                return
            yield ids


def split_stories(
    ids: np.ndarray, bos: int, eos: int, limit: int | None = None
) -> list[np.ndarray]:
    """Cut framed ids back into stories (without bos/eos), at most `limit` of them.

    Works when bos equals eos (GPT-2): framing then alternates opening and closing marks.
    """
    stories: list[np.ndarray] = []
    position = 0
    while position < ids.size and (limit is None or len(stories) < limit):
        if int(ids[position]) != bos:
            found = int(ids[position])
            raise ValueError(f"expected bos {bos} at position {position}, found {found}")
        window = 1 << 14
        while True:  # look for the eos in a growing window, so a memmap is read only as needed
            rest = np.asarray(ids[position + 1:position + 1 + window])
            ends = np.flatnonzero(rest == eos)
            if ends.size or position + 1 + window >= ids.size:
                break
            window *= 4
        if ends.size == 0:
            raise ValueError(f"story starting at {position} has no eos {eos}")
        stories.append(rest[: ends[0]])
        position += int(ends[0]) + 2
    return stories


def count_ids(chunks: Iterable[np.ndarray], targets: Sequence[int]) -> dict[int, int]:
    """How often each of `targets` occurs in the id arrays `chunks` (see `iter_bin_chunks`)."""
    totals = dict.fromkeys(targets, 0)
    for part in chunks:
        for target in totals:
            totals[target] += int(np.count_nonzero(part == target))
    return totals


def write_dropped(folder: Path, prompt_ids: Collection[str]) -> None:
    """Record which stories deduplication left out of the bins (one prompt_id per line)."""
    write_text_atomic(folder / BINS_DROPPED_FILE, "".join(f"{p}\n" for p in sorted(prompt_ids)))


def read_dropped(folder: Path) -> frozenset[str]:
    """The prompt_ids deduplication left out of the bins in `folder` (none recorded: empty)."""
    path = folder / BINS_DROPPED_FILE
    if not path.is_file():
        return frozenset()
    return frozenset(line for line in path.read_text(encoding="utf-8").splitlines() if line)


def round_trip(folder: Path, tokenizer: Tokenizer, shard_paths: Sequence[Path],
               stories: int = 5) -> dict:
    """Check stored bins against their sources: the first `stories` train stories decode back
    to their text, and each split holds exactly one bos and one eos per story.

    Returns stories_compared, mismatches, framing_ok and the bos/eos counts per split.
    """
    meta = read_meta(folder)
    sources = list(itertools.islice(iter_split_texts(
        shard_paths, "train", meta["val_share"], skip_ids=read_dropped(folder)), stories))
    decoded = [tokenizer.decode(ids.tolist()) for ids in split_stories(
        open_bins(folder, "train", meta), tokenizer.bos_id, tokenizer.eos_id, stories)]
    mismatches = sum(a != b for a, b in zip(decoded, sources, strict=False))
    mismatches += abs(len(decoded) - len(sources))
    framing_ok, counted = True, {}
    for split in SPLITS:
        count = meta["splits"][split]["stories"]
        counted[split] = count_ids(iter_bin_chunks(folder, split, meta),
                                   [tokenizer.bos_id, tokenizer.eos_id])
        expected = ({tokenizer.bos_id: 2 * count} if tokenizer.bos_id == tokenizer.eos_id
                    else {tokenizer.bos_id: count, tokenizer.eos_id: count})
        framing_ok &= counted[split] == expected
    return {"stories_compared": len(decoded), "mismatches": mismatches,
            "framing_ok": framing_ok, "bos_eos_counts": counted}
