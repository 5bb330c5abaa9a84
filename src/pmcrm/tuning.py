"""What makes a sync fast without changing what it loads: dlt and DuckDB settings, and
first loads without merge work.

Measured with the benchmark's jobs at 36 resources x 20,000 rows into DuckDB, one setting
at a time, when each was added (benchmarks/README.md has the latest end-to-end run):
- dlt buffers up to 5,000 rows per table before writing them; pmcrm already hands it
  batches of a few MB (convert.TableBatcher), so the buffer only held memory.
- dlt sets DuckDB's `checkpoint_threshold` to 1 GB: every loaded row stayed in memory
  until the end of the load (~0.9 GB peak). A small threshold writes as it goes.
- dlt's 20 parallel load jobs each hold DuckDB buffers; 2 are as fast on 2 cores with
  less memory.
- One load file per table held a whole table: DuckDB's commit of a 40,000-row table
  needed more than its memory limit. Files of LOAD_FILE_ROWS rows keep each commit small.
- A first load into a missing or empty table has nothing to merge with, yet merge loads
  through a staging table and a delete-insert: about twice the load time. Such tables are
  appended to (and deletions skipped: nothing can be gone from a table that was empty).
A value the user set in dlt's config or environment always wins over these.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, Iterable, Iterator

import dlt
import pyarrow as pa
from dlt.destinations.exceptions import DatabaseUndefinedRelation, DestinationUndefinedEntity
from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials

from pmcrm.deletions import ReadLedger

# DuckDB writes loaded data to the file every this many MB of WAL instead of holding it.
DUCKDB_CHECKPOINT = "SET checkpoint_threshold = '32MB'"
DUCKDB_MEMORY = "SET memory_limit = '64MB'"
# Rows per load file. Each file is loaded (and committed) on its own, so a load's memory
# does not grow with a table's rows: at 40,000 rows a table loaded as one file failed to
# commit within DuckDB's memory limit ("could not allocate block").
LOAD_FILE_ROWS = 10_000
# dlt config key -> value, for every destination; DUCKDB_DLT_SETTINGS for DuckDB only.
DLT_SETTINGS: dict[str, Any] = {"data_writer.buffer_max_items": 1, "data_writer.file_max_items": LOAD_FILE_ROWS}
DUCKDB_DLT_SETTINGS: dict[str, Any] = {"load.workers": 2}


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


def duckdb_credentials(path: str) -> DuckDbCredentials:
    return DuckDbCredentials(path, statements=[DUCKDB_CHECKPOINT, DUCKDB_MEMORY])


@contextmanager
def dlt_settings(destination_type: str) -> Iterator[None]:
    """The settings above for the duration of one run, except those the user configured."""
    wanted = dict(DLT_SETTINGS)
    if destination_type.endswith("duckdb"):
        wanted.update(DUCKDB_DLT_SETTINGS)
    unset = {key: value for key, value in wanted.items() if dlt.config.get(key) is None}
    with dlt.config.values(unset):
        yield


def empty_tables(pipeline: dlt.Pipeline, tables: Iterable[str]) -> set[str]:
    """The tables that do not exist in the destination or hold no rows."""
    tables = list(tables)
    empty: set[str] = set()
    try:
        with pipeline.sql_client() as client:
            if not client.has_dataset():
                return set(tables)
            for table in tables:
                query = f"SELECT 1 FROM {client.make_qualified_table_name(table)} LIMIT 1"
                try:
                    if not client.execute_sql(query):
                        empty.add(table)
                except (DatabaseUndefinedRelation, DestinationUndefinedEntity):
                    empty.add(table)
    except DestinationUndefinedEntity:
        return set(tables)
    return empty


def append_first_loads(pipeline: dlt.Pipeline, source: Any, full_refresh: bool) -> set[str]:
    """Load the source's tables that are empty (or about to be dropped by a full refresh)
    with `append`: the same rows as merge or replace would leave, without their staging
    work. Returns those tables. The next sync merges again (the resources declare merge)."""
    names = set(source.resources.selected)
    try:
        first = names if full_refresh else empty_tables(pipeline, names)
    except Exception:  # noqa: BLE001 - a speed-up must never fail a sync: the run reports it
        return set()
    for name in first:
        source.resources[name].apply_hints(write_disposition="append")
    return first


def without_tables(ledger: ReadLedger, tables: set[str]) -> ReadLedger:
    """The ledger minus `tables` (deletions have nothing to do in a table that was empty)."""
    kept = ReadLedger()
    for name, ids in ledger.complete.items():
        if name not in tables:
            kept.record_complete(name, ids)
    return kept
