"""What a destination table should hold for a sandbox resource, derived independently of
pmcrm's converter: the API row, typed by the declared kind, renamed like the pipeline."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from dlt.common.schema import Schema

from pmcrm.declarations import RESOURCES_BY_NAME
from pmcrm.schema import DECIMAL_SCALE, column_name

NO_DATE = {"", "0000-00-00 00:00:00", "0000-00-00"}


def expected_value(kind: str, value: Any, tz: str = "UTC") -> Any:
    if value is None:
        return None
    if kind == "text":
        return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    if value == "":
        return None
    if kind == "integer":
        return int(value)
    if kind == "decimal":
        return Decimal(str(value)).quantize(Decimal(1).scaleb(-DECIMAL_SCALE))
    if value in NO_DATE:
        return None
    naive = datetime.strptime(value, "%Y-%m-%d %H:%M:%S")
    return naive.replace(tzinfo=ZoneInfo(tz)).astimezone(UTC)


def expected_rows(resource: str, api_rows: list[dict], normalize, neutral_names=True, tz="UTC") -> list[dict]:
    """The API rows typed by their declared kinds, renamed like the pipeline renames them."""
    kinds = RESOURCES_BY_NAME[resource].columns()
    columns = {normalize(column_name(f, neutral_names)): f for f in kinds}
    for row in api_rows:
        columns.update({normalize(column_name(f, neutral_names)): f for f in row if f not in kinds})
    return [
        {name: expected_value(kinds.get(field, "text"), row.get(field), tz) for name, field in columns.items()}
        for row in api_rows
    ]


def normalize_loaded(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC)
    return value


def read_table(pipeline, table: str) -> list[dict]:
    with pipeline.sql_client() as client:
        qualified = client.make_qualified_table_name(table)
        with client.execute_query(f"SELECT * FROM {qualified}") as cursor:
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, map(normalize_loaded, row))) for row in cursor.fetchall()]


def _canonical(row: dict) -> str:
    return json.dumps({k: str(v) for k, v in sorted(row.items())})


def deleted_ids(pipeline, resource: str) -> set:
    """Ids of rows marked deleted at the source (`_pmcrm_deleted_at` set)."""
    return {row["id"] for row in read_table(pipeline, resource) if row.get("_pmcrm_deleted_at") is not None}


def assert_table_equals_truth(pipeline, resource: str, api_rows: list[dict], **options) -> int:
    """Same rows, same value in every field (after typing and renaming), no duplicates,
    no value pushed into a variant column. Rows marked deleted are not live rows."""
    # A failed run drops the local schema (pipeline.discard_failed_run): same default naming.
    schema = pipeline.default_schema if pipeline.default_schema_name else Schema(pipeline.pipeline_name)
    normalize = schema.naming.normalize_identifier
    loaded = [row for row in read_table(pipeline, resource) if row.get("_pmcrm_deleted_at") is None]
    return assert_rows_equal_truth(loaded, resource, api_rows, normalize, **options)


def assert_rows_equal_truth(loaded: list[dict], resource: str, api_rows: list[dict], normalize, **options) -> int:
    """The comparison behind assert_table_equals_truth, for rows read any way (SQL,
    Delta files, ...): `normalize` maps API field names to the destination's names."""
    loaded = [{k: normalize_loaded(v) for k, v in row.items()} for row in loaded]
    expected = expected_rows(resource, api_rows, normalize, **options)
    assert len(loaded) == len(api_rows), f"{resource}: {len(loaded)} rows loaded, API holds {len(api_rows)}"
    for row in loaded:
        variants = {k: v for k, v in row.items() if k.endswith("__v_text") and v is not None}
        assert not variants, f"{resource} id={row.get('id')}: values did not fit their columns: {variants}"
    columns = set(expected[0]) if expected else set()
    loaded = [{k: row.get(k) for k in columns} for row in loaded]
    by_id = {row["id"]: row for row in loaded if row.get("id") is not None}
    assert len(by_id) == len([r for r in loaded if r.get("id") is not None]), f"{resource}: duplicate ids"
    for want in expected:
        if want.get("id") is None:
            continue
        got = by_id.get(want["id"])
        assert got is not None, f"{resource}: id {want['id']} missing"
        for column, value in want.items():
            assert got[column] == value, f"{resource} id={want['id']} {column}: loaded {got[column]!r}, API {value!r}"
    assert sorted(map(_canonical, loaded)) == sorted(map(_canonical, expected)), f"{resource}: rows differ"
    return len(loaded)
