"""How dlt and DuckDB are set to load fast without holding a table in memory. Changes
only how, never what, is loaded.

Measured with the benchmark's jobs at 36 resources x 20,000 rows into DuckDB, one setting
at a time, when each was added (benchmarks/README.md has the latest end-to-end run):
- dlt buffers up to 5,000 rows per table before writing them; pmcrm already hands it
  batches of a few MB (convert.TableBatcher), so the buffer only held memory.
- dlt sets DuckDB's `checkpoint_threshold` to 1 GB: every loaded row stayed in memory
  until the end of the load (~0.9 GB peak). A small threshold writes as it goes.
- dlt's 20 parallel load jobs each hold DuckDB buffers; 2 are as fast on 2 cores with
  less memory.
- The same 20 jobs on PostgreSQL each hold a load file: the ADBC driver reads it into arrow
  and libpq buffers its COPY (up to 32 MB): ~45 MB a job (memray, tasks x 100,000 rows),
  so the peak grew with the number of load files until 20 ran at once (~1 GB).
- One load file per table held a whole table: DuckDB's commit of a 40,000-row table
  needed more than its memory limit. Files of LOAD_FILE_ROWS rows keep each commit small.
- dlt opens the DuckDB file for each load job and closes it when the job is done, and
  DuckDB checkpoints the file on every close (DuckDbHold).
- pmcrm's resources are async generators and adapt how many read at once
  (pmcrm.admission); each one reading or waiting for its turn holds one of dlt's extract
  slots (EXTRACT_SLOTS).
A value the user set in dlt's config or environment always wins over these, except
EXTRACT_SLOTS, which the read needs (see there).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Self

import dlt
from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials

from pmcrm.declarations import RESOURCES
from pmcrm.resolve_once import resolved_once

# DuckDB writes loaded data to the file every this many MB of WAL instead of holding it.
DUCKDB_CHECKPOINT = "SET checkpoint_threshold = '32MB'"
DUCKDB_MEMORY = "SET memory_limit = '64MB'"
# One DuckDB thread in the load. Why: each thread compresses a row group of its own when
# DuckDB checkpoints, and with 2 the checkpoint of a 1,000,000-row table needed more than
# the memory limit: the first sync failed ("Failed to create checkpoint ... could not
# allocate block", 61/61 MiB used), and the second sync's merge ran out of memory. With
# 1 thread both passed at 64 MB, peak RSS 315 / 338 MB; a 256 MB limit passed too, at
# 510 MB (tasks x 1,000,000 rows, first sync then 1% changed, 2026-12-01). The 36 x 20,000
# account loads as fast within noise.
DUCKDB_THREADS = "SET threads = 1"
# Rows per load file. Each file is loaded (and committed) on its own, so a load's memory
# does not grow with a table's rows: at 40,000 rows a table loaded as one file failed to
# commit within DuckDB's memory limit ("could not allocate block").
LOAD_FILE_ROWS = 10_000
# dlt's extract steps in flight at once (its `max_parallel_items`, 20 by default): one for
# each resource, and some to spare. Given to dlt's extract, not a setting the user's
# config overrides: a resource waiting for its turn to read holds a slot, and with fewer
# slots than resources the reader whose turn it is could find none free - the sync hung
# (tests/test_admission.py). Readers, not slots, bound the memory (pmcrm.admission).
EXTRACT_SLOTS = len(RESOURCES) + 4
# dlt config key -> value, for every destination; DUCKDB_DLT_SETTINGS for DuckDB only.
DLT_SETTINGS: dict[str, Any] = {"data_writer.buffer_max_items": 1, "data_writer.file_max_items": LOAD_FILE_ROWS}
DUCKDB_DLT_SETTINGS: dict[str, Any] = {"load.workers": 2}
# PostgreSQL: 2 load jobs at once bound the load's memory whatever the rows (see above).
POSTGRES_DLT_SETTINGS: dict[str, Any] = {"load.workers": 2}


def duckdb_credentials(path: str, load_tuning: bool = True) -> DuckDbCredentials:
    """`path` made absolute here: dlt resolves a relative one against the folder the
    pipeline first ran in (its saved `initial_cwd`), so a demo run from a second clone
    wrote into the first clone's file and then could not find its own. `load_tuning`: the
    memory, thread and checkpoint settings above, which bound a sync's load; a reader of
    the dataset (the report) runs with DuckDB's defaults - at 64 MB one of the report's
    queries ran out of memory on a 400-row account."""
    statements = [DUCKDB_CHECKPOINT, DUCKDB_MEMORY, DUCKDB_THREADS] if load_tuning else []
    return DuckDbCredentials(os.path.abspath(path), statements=statements)


@contextmanager
def dlt_settings(duckdb: bool, postgres: bool = False) -> Iterator[None]:
    """The settings above for the duration of one run, except those the user configured,
    each resolved once (resolve_once)."""
    wanted = dict(DLT_SETTINGS)
    if duckdb:
        wanted.update(DUCKDB_DLT_SETTINGS)
    if postgres:
        wanted.update(POSTGRES_DLT_SETTINGS)
    unset = {key: value for key, value in wanted.items() if dlt.config.get(key) is None}
    with dlt.config.values(unset), resolved_once():
        yield


class DuckDbHold:
    """The DuckDB file held open by pmcrm from the load to the end of the sync. Why: dlt
    opens the database for every load job (and for the deletions, the views and the runs
    row) and DuckDB checkpoints the file each time the last connection closes. DuckDB
    shares one open database per file within a process, so while this connection is open
    dlt's connections join it: the load of 36 x 2,000 rows took 0.44 s instead of 0.58 s,
    a sync merging every row 0.93 s instead of 1.1-1.3 s (measured when this was added).
    Not held while the API is read (hours under a rate limit): other programs can still
    open the file then. `open` does nothing for other destinations, and never fails a
    sync: if the file cannot be opened here, dlt opens it as it always does."""

    def __init__(self) -> None:
        self._connection: Any = None  # a duckdb connection

    def open(self, pipeline: dlt.Pipeline) -> None:
        if self._connection is not None:
            return
        try:
            import duckdb  # here: only DuckDB syncs need it

            credentials = pipeline.destination_client().config.credentials
            if not isinstance(credentials, DuckDbCredentials) or credentials.external_conn() is not None:
                return
            # dlt's own connect arguments: DuckDB refuses a second connection to an open
            # file with another configuration.
            config = {key: value for key, value in (credentials.global_config or {}).items()
                      if key == "custom_user_agent"}
            self._connection = duckdb.connect(credentials._conn_str(), read_only=credentials.read_only,
                                              config=config)
        except Exception:  # noqa: BLE001 - a speed-up must never fail a sync (see docstring)
            self._connection = None

    @property
    def held(self) -> bool:
        return self._connection is not None

    def close(self) -> str | None:
        """Closing the last connection checkpoints the file: the sync ends with it written.
        Returns what went wrong, if the checkpoint failed (the committed rows are in
        DuckDB's write-ahead log, replayed on the next open) - for the sync's notes."""
        connection, self._connection = self._connection, None
        if connection is None:
            return None
        try:
            connection.close()
        except Exception as exc:  # noqa: BLE001 - reported by the caller, never masks the sync's result
            return (f"the DuckDB file was not checkpointed at the end ({type(exc).__name__}: {exc}); "
                    "its committed rows are in the write-ahead log, which DuckDB replays on the next open")
        return None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()  # on the way out of an error: the error is what the caller reports
