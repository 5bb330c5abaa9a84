"""Turn one page of API items into a typed arrow table, keeping every value.

Why by hand: dlt's own normalizer types values row by row (slow), and dlt's arrow path
has no variant columns (a wrong-typed value fails the whole load). Here every page is
typed column by column in arrow (fast path), and only a column that does not fit falls
back to per-value conversion, where a value that cannot be typed is kept as text in
`<column>__v_text` and reported as a `BadValue`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from pmcrm.declarations import ColumnKind, ResourceSpec
from pmcrm.schema import (
    DECIMAL_PRECISION,
    DECIMAL_SCALE,
    VARIANT_SUFFIX,
    arrow_type,
    column_name,
)

# PHP back ends send these for "no date".
NO_DATE = ("", "0000-00-00 00:00:00", "0000-00-00")
TIMESTAMP_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d", "%Y-%m-%dT%H:%M:%S")
_INT64_MAX = 2**63 - 1
_DECIMAL_QUANTUM = Decimal(1).scaleb(-DECIMAL_SCALE)
_DECIMAL_MAX = Decimal(10) ** (DECIMAL_PRECISION - DECIMAL_SCALE)
# Arrow raises these when a Python value does not fit the requested type.
_ARROW_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError)


class MissingIdError(ValueError):
    """A row without `id` in a resource merged on `id`: it cannot be loaded safely."""


@dataclass(frozen=True)
class BadValue:
    """A value that did not fit its declared column; it is kept in the variant column."""

    resource: str
    row_id: Any
    column: str
    value: str


@dataclass
class ConvertedPage:
    table: pa.Table
    bad_values: list[BadValue] = field(default_factory=list)


def as_text(value: Any) -> str | None:
    """Lossless text for any JSON value: strings as they are, the rest as JSON."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    # json, not orjson: orjson refuses integers beyond 64 bits inside containers.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value if -_INT64_MAX - 1 <= value <= _INT64_MAX else None
    if isinstance(value, float) and value.is_integer():
        return _as_int(int(value))
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return _as_int(int(value.strip()))
    return None


def _as_decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = Decimal(str(value).strip()).quantize(_DECIMAL_QUANTUM)
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() and abs(number) < _DECIMAL_MAX else None


def _typed_or_variant(
    values: Sequence[Any], convert: Callable[[Any], Any], arrow: pa.DataType
) -> tuple[pa.Array, list[str | None]]:
    """Per-value fallback: typed value where it converts, else NULL plus raw text."""
    typed, raw = [], []
    for value in values:
        if value is None or value == "":
            typed.append(None)
            raw.append(None)
            continue
        converted = convert(value)
        typed.append(converted)
        raw.append(as_text(value) if converted is None else None)
    return pa.array(typed, type=arrow), raw


def _blank_to_none(values: Sequence[Any]) -> list[Any]:
    return [None if value == "" else value for value in values]


def _integer_column(values: Sequence[Any]) -> tuple[pa.Array, list[str | None] | None]:
    # Inferred first: pa.array(..., type=int64) would silently truncate 1.5 to 1.
    try:
        inferred = pa.array(values)
    except _ARROW_ERRORS:
        inferred = None
    if inferred is not None and (pa.types.is_integer(inferred.type) or pa.types.is_null(inferred.type)):
        return inferred.cast(pa.int64()), None
    return _typed_or_variant(values, _as_int, pa.int64())


def _decimal_column(values: Sequence[Any]) -> tuple[pa.Array, list[str | None] | None]:
    target = arrow_type("decimal")
    try:
        return pa.array(values, type=pa.float64()).cast(target), None
    except _ARROW_ERRORS:
        return _typed_or_variant(values, _as_decimal, target)


def _text_column(values: Sequence[Any]) -> tuple[pa.Array, list[str | None] | None]:
    try:
        return pa.array(values, type=pa.string()), None
    except _ARROW_ERRORS:
        return pa.array([as_text(value) for value in values], type=pa.string()), None


def _parse_timestamps(text: pa.Array) -> pa.Array:
    parsed = pc.strptime(text, format=TIMESTAMP_FORMATS[0], unit="s", error_is_null=True)
    for fmt in TIMESTAMP_FORMATS[1:]:
        retry = pc.strptime(text, format=fmt, unit="s", error_is_null=True)
        parsed = pc.coalesce(parsed, retry)
    return parsed


def timestamp_column_factory(timezone: str) -> Callable[[Sequence[Any]], tuple[pa.Array, Any]]:
    """Parse naive API timestamps as wall-clock time in the account's `timezone`."""

    def timestamp_column(values: Sequence[Any]) -> tuple[pa.Array, list[str | None] | None]:
        try:
            text = pa.array(values, type=pa.string())
        except _ARROW_ERRORS:
            text = pa.array([as_text(value) for value in values], type=pa.string())
        parsed = _parse_timestamps(text)
        no_date = pc.or_kleene(pc.is_null(text), pc.is_in(text, pa.array(NO_DATE)))
        unparsed = pc.and_(pc.is_null(parsed), pc.invert(no_date))
        raw = None
        if pc.any(unparsed).as_py():
            raw = pc.if_else(unparsed, text, pa.scalar(None, pa.string())).to_pylist()
        if timezone != "UTC":
            parsed = pc.assume_timezone(
                parsed, timezone=timezone, ambiguous="earliest", nonexistent="earliest"
            )
        else:
            parsed = parsed.cast(pa.timestamp("s", tz="UTC"))
        return parsed.cast(arrow_type("timestamp")), raw

    return timestamp_column


class PageConverter:
    """Types the items of one resource's pages into arrow tables with a fixed schema."""

    def __init__(self, spec: ResourceSpec, neutral_names: bool = True, timezone: str = "UTC"):
        self.spec = spec
        self.neutral_names = neutral_names
        self.declared: dict[str, ColumnKind] = spec.columns()
        self._builders: dict[ColumnKind, Callable[[Sequence[Any]], tuple[pa.Array, Any]]] = {
            "integer": _integer_column,
            "decimal": _decimal_column,
            "timestamp": timestamp_column_factory(timezone),
            "text": _text_column,
        }

    def __call__(self, items: list[dict[str, Any]], page: int = 0) -> ConvertedPage:
        ids = [item.get("id") for item in items]
        if self.spec.id_required and any(row_id is None or row_id == "" for row_id in ids):
            position = next(i for i, row_id in enumerate(ids) if row_id is None or row_id == "")
            raise MissingIdError(
                f"resource '{self.spec.name}', page {page}: row {position} has no 'id', "
                "but the table is merged on 'id'; refusing to load it"
            )
        fields: list[pa.Field] = []
        arrays: list[pa.Array] = []
        bad: list[BadValue] = []
        for api_field, kind in self.declared.items():
            values = [item.get(api_field) for item in items]
            if kind != "text":
                values = _blank_to_none(values)
            array, raw = self._builders[kind](values)
            name = column_name(api_field, self.neutral_names)
            key = api_field == "id" and self.spec.id_required
            fields.append(pa.field(name, array.type, nullable=not key))
            arrays.append(array)
            if raw is not None and any(value is not None for value in raw):
                fields.append(pa.field(name + VARIANT_SUFFIX, pa.string()))
                arrays.append(pa.array(raw, type=pa.string()))
                bad.extend(
                    BadValue(self.spec.name, ids[i], name, value)
                    for i, value in enumerate(raw)
                    if value is not None
                )
        for extra in sorted(set().union(*items) - self.declared.keys()) if items else ():
            array, _ = _text_column([item.get(extra) for item in items])
            fields.append(pa.field(extra, pa.string()))
            arrays.append(array)
        return ConvertedPage(pa.Table.from_arrays(arrays, schema=pa.schema(fields)), bad)

    def empty_table(self) -> pa.Table:
        """The declared schema with no rows: creates the table for an empty resource."""
        return self(items=[]).table
