"""A cache of answers already paid for, keyed by (model, full request body, occurrence).

Every HTTP 200 answer of an OpenAI-compatible endpoint, online or from a batch, is stored as
the raw response text before it is parsed or validated, so a rerun after the parsing,
cleaning or gates changed re-validates the stored answers instead of paying for them again.

The key counts occurrences: the first time a run sends a body is occurrence 1, a retry of the
same prompt (a rejected answer asks again) is occurrence 2, and so on, so retries still get new
answers while a rerun replays the same sequence. One SQLite file (WAL mode) serves every run of
the lake; concurrent runs may read and write it.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

_SCHEMA = """CREATE TABLE IF NOT EXISTS answers (
    key TEXT PRIMARY KEY, model TEXT, response TEXT NOT NULL, created_at TEXT)"""


def body_hash(body: dict) -> str:
    """A stable hash of a request body (the model is part of the body)."""
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class RequestCache:
    """Raw answers by key; `next_key(body)` gives the key of the body's next occurrence."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._occurrences: Counter[str] = Counter()
        self.hits = 0
        with self._connection() as con:
            con.execute(_SCHEMA)

    def _connection(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            self._local.con = con
        return con

    def next_key(self, body: dict) -> str:
        """The key of this body's next occurrence in this run (1 for the first)."""
        digest = body_hash(body)
        self._occurrences[digest] += 1
        return f"{digest}:{self._occurrences[digest]}"

    def peek_key(self, body: dict) -> str:
        """The key `next_key` would give, without counting the occurrence."""
        digest = body_hash(body)
        return f"{digest}:{self._occurrences[digest] + 1}"

    def contains(self, key: str) -> bool:
        """True when an answer is stored under `key` (not counted as a hit)."""
        return self._connection().execute("SELECT 1 FROM answers WHERE key = ?",
                                          (key,)).fetchone() is not None

    def get(self, key: str) -> str | None:
        """The stored response text, or None."""
        row = self._connection().execute("SELECT response FROM answers WHERE key = ?",
                                         (key,)).fetchone()
        if row is not None:
            self.hits += 1
        return None if row is None else row[0]

    def put(self, key: str, model: str, response: str) -> None:
        """Store an answer that was paid for (the first one stored for a key stays)."""
        self._connection().execute(
            "INSERT OR IGNORE INTO answers VALUES (?, ?, ?, ?)",
            (key, model, response, datetime.now(UTC).isoformat()))

    def __len__(self) -> int:
        return self._connection().execute("SELECT count(*) FROM answers").fetchone()[0]
