"""Keep glibc from spreading a long async run's allocations over many malloc arenas.

glibc gives each thread that allocates (aiohttp's resolver pool, pyarrow and polars workers)
its own arena, and freed memory in an arena is rarely returned to the OS. In a story
generation run of 100,000 requests that grew peak RSS from ~250 MB to ~400 MB although
Python-level allocations stayed flat (tracemalloc). Capping the arenas at 2 keeps it at
~270 MB. `MALLOC_ARENA_MAX` in the environment does the same and takes precedence.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

_M_ARENA_MAX = -8  # from glibc's malloc.h


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Cap glibc malloc arenas for this process; False where not glibc or already set."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return False
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        return bool(libc.mallopt(_M_ARENA_MAX, arenas))
    except (OSError, AttributeError):
        return False
