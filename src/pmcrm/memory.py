"""Process memory during a sync: arrow's allocator and glibc's arenas, and handing freed
heap back to the OS. Measured at 36 resources x 20,000 rows into DuckDB when each was
added (benchmarks/README.md has the latest end-to-end run)."""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import lru_cache
from typing import Any

import pyarrow as pa

# glibc's mallopt(M_ARENA_MAX, ...): how many malloc arenas threads may spread over.
_M_ARENA_MAX = -8
_MALLOC_ARENAS = 2


@lru_cache(maxsize=1)
def _glibc() -> Any:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        return libc if libc is not None and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


def lean_allocators() -> None:
    """Process-wide, for a sync: arrow buffers from the system allocator, and threads
    sharing 2 glibc malloc arenas. Why: at 36 x 20,000 rows, mimalloc's caches and one
    arena per thread kept ~150 MB of freed memory, the difference between a peak that
    grows with the rows and one that grows far less (measured when this was added)."""
    pa.set_memory_pool(pa.system_memory_pool())
    libc = _glibc()
    if libc is not None:
        libc.mallopt(_M_ARENA_MAX, _MALLOC_ARENAS)


def release_free_memory() -> None:
    """Hand freed heap memory back to the OS (glibc keeps it for reuse otherwise): called
    as each resource finishes reading, so the load does not start on the read's peak."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
