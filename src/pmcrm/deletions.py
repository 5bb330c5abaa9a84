"""Rows deleted at the source: found on full reads, then marked or removed.

A complete read of a merge resource knows every id the API holds. After the run's data
is loaded, those ids go to a small `_pmcrm_seen_ids` table and one SQL statement per
resource marks (`_pmcrm_deleted_at`) or removes the rows that are no longer at the
source. A row that comes back is merged in again with `_pmcrm_deleted_at` NULL.
Only SQL destinations can do this; for file destinations deletions are reported as
skipped (the summary says so).
"""

from __future__ import annotations

import threading
from typing import Literal

import dlt
import pyarrow as pa

DELETED_AT = "_pmcrm_deleted_at"
SEEN_IDS_TABLE = "_pmcrm_seen_ids"
DeletionMode = Literal["mark", "remove", "keep"]
DELETION_MODES: tuple[str, ...] = ("mark", "remove", "keep")


class ReadLedger:
    """The ids of every merge resource that was read completely in this run."""

    def __init__(self) -> None:
        self._ids: dict[str, list] = {}
        self._lock = threading.Lock()

    def record_complete(self, resource: str, ids: list) -> None:
        with self._lock:
            self._ids[resource] = ids

    @property
    def complete(self) -> dict[str, list]:
        with self._lock:
            return dict(self._ids)


def deleted_at_column() -> dict:
    return {"name": DELETED_AT, "data_type": "timestamp", "timezone": True, "nullable": True}


def apply_deletions(pipeline: dlt.Pipeline, ledger: ReadLedger, mode: DeletionMode, file_format: str | None) -> dict[str, int]:
    """Mark or remove destination rows whose id the source no longer has.
    Returns rows affected per table; raises if the destination has no SQL."""
    complete = ledger.complete
    if mode == "keep" or not complete:
        return {}
    resources = [name for name in complete for _ in complete[name]] 
    ids = [row_id for name in complete for row_id in complete[name]]
    seen = pa.table({"resource": pa.array(resources, pa.string()), "id": pa.array(ids, pa.int64())})
    pipeline.run(
        dlt.resource(seen, name=SEEN_IDS_TABLE, write_disposition="replace"),
        loader_file_format=file_format,
    )
    affected: dict[str, int] = {}
    with pipeline.sql_client() as client:
        seen_table = client.make_qualified_table_name(SEEN_IDS_TABLE)
        for resource in complete:
            table = client.make_qualified_table_name(resource)
            gone = f"id NOT IN (SELECT id FROM {seen_table} WHERE resource = %s)"
            if mode == "mark":
                gone += f" AND {DELETED_AT} IS NULL"
            count = client.execute_sql(f"SELECT COUNT(*) FROM {table} WHERE {gone}", resource)[0][0]
            if count:
                if mode == "mark":
                    client.execute_sql(f"UPDATE {table} SET {DELETED_AT} = CURRENT_TIMESTAMP WHERE {gone}", resource)
                else:
                    client.execute_sql(f"DELETE FROM {table} WHERE {gone}", resource)
            affected[resource] = int(count)
    return affected
