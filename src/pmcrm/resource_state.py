"""What a pipeline remembers per resource, read back for people: the incremental cursor,
when the resource was last read completely, how its table is written, and the rows it
holds. `pmcrm state` prints it; a sync uses it to say when `--start-date` cannot apply.

The cursor lives in dlt's state (the pipeline folder, and `_dlt_pipeline_state` in the
destination); it moves only with a successful load (pmcrm.incremental).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import dlt

from pmcrm import remembered_limit
from pmcrm.deletions import DELETED_AT
from pmcrm.destinations import DestinationTraits
from pmcrm.source import LAST_COMPLETE_READS, SOURCE_NAME, ReadOptions, select_resources


@dataclass
class PipelineState:
    """What `pmcrm state` shows: one ResourceState per resource, and the rate limit the
    pipeline remembers (pmcrm.remembered_limit), in words."""

    resources: list[ResourceState]
    rate_limit: str | None


@dataclass
class ResourceState:
    resource: str
    mode: str  # incremental | full | snapshot (pmcrm.pipeline.read_modes)
    cursor: str | None  # the highest update time loaded (UTC), for incremental tables
    last_complete_read: str | None  # when a sync last read every row (UTC)
    rows: int | None  # live rows in the destination table (None: no table, or no SQL)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def cursors(pipeline: dlt.Pipeline) -> dict[str, str]:
    """resource -> the last loaded value of its cursor, from the pipeline's state."""
    resources = pipeline.state.get("sources", {}).get(SOURCE_NAME, {}).get("resources", {})
    found = {}
    for name, state in resources.items():
        for cursor in state.get("incremental", {}).values():
            if cursor.get("last_value") is not None:
                found[name] = utc_text(cursor["last_value"])
    return found


def last_complete_reads(pipeline: dlt.Pipeline) -> dict[str, str]:
    reads = pipeline.state.get("sources", {}).get(SOURCE_NAME, {}).get(LAST_COMPLETE_READS, {})
    return {name: utc_text(value) for name, value in reads.items()}


def utc_text(value: Any) -> str:
    """'2024-05-29 03:07:03' for a UTC moment however it was stored (datetime or ISO text)."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def start_date_note(pipeline: dlt.Pipeline, selected: Sequence[str], read: ReadOptions) -> str | None:
    """`--start-date` bounds a resource's first run only; say so where a cursor exists."""
    if not read.start_date or not read.incremental:
        return None
    kept = sorted(set(cursors(pipeline)) & set(selected))
    if not kept:
        return None
    return (f"--start-date {read.start_date} applies to a first run only; these already have a cursor and were "
            f"read from it: {', '.join(kept)}. To read from the start date again: --full-refresh --start-date ...")


def pipeline_state(pipeline: dlt.Pipeline, traits: DestinationTraits, modes: dict[str, str],
                   resources: Sequence[str] | None = None) -> PipelineState:
    source_state = pipeline.state.get("sources", {}).get(SOURCE_NAME, {})
    return PipelineState(resource_states(pipeline, traits, modes, resources), remembered_limit.describe(source_state))


def resource_states(pipeline: dlt.Pipeline, traits: DestinationTraits, modes: dict[str, str],
                    resources: Sequence[str] | None = None) -> list[ResourceState]:
    """One line per resource, from state restored from the destination, and row counts
    where the destination has SQL."""
    found, reads = cursors(pipeline), last_complete_reads(pipeline)
    names = [spec.name for spec in select_resources(resources)]
    counts = _row_counts(pipeline, names) if traits.sql else {}
    return [ResourceState(name, modes[name], found.get(name), reads.get(name), counts.get(name)) for name in names]


def _row_counts(pipeline: dlt.Pipeline, names: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    tables = set(pipeline.default_schema.data_table_names()) if pipeline.default_schema_name else set()
    with pipeline.sql_client() as client:
        for name in names:
            if name not in tables:
                continue
            live = ""
            if DELETED_AT in pipeline.default_schema.tables[name]["columns"]:
                live = f" WHERE {client.escape_column_name(DELETED_AT)} IS NULL"
            table = client.make_qualified_table_name(name)
            counts[name] = int(client.execute_sql(f"SELECT COUNT(*) FROM {table}{live}")[0][0])
    return counts
