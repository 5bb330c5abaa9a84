"""Which rows a list request selects, and in what order (with ``server_filter=True``).

Two vocabularies, both optional:

- the sandbox's own: ``updated_since=2024-03-01 14:05:00`` (rows updated at or after)
  and ``sort=id_asc|updated_asc|updated_desc``; paths without an update time ignore them;
- the platform's: ``filter[<field>]=<value>`` for any field of the path - a value means
  equality, a comma list means "in" (``filter[pipeline_stage_id]=3,4,5``), a JSON object
  compares (``filter[id]={"type": "more", "value": 42}``); and
  ``order_by[asc][]=<field>`` / ``order_by[desc][]=<field>``, first given first, ties by
  id ascending, null and '' first in ascending order. When given, ``order_by`` wins over
  ``sort``.

Numbers compare as numbers and strings as strings ('YYYY-MM-DD HH:MM:SS' sorts as
time); a null or '' never passes a comparison. Filters combine with AND. Anything
malformed - bad JSON, an unknown comparison, an unknown field - is error 12.
A request is parsed once into a hashable ``RowQuery``: the page cache's key.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Mapping
from dataclasses import dataclass

import orjson

from .error_answers import BadRequest
from .values import parse_timestamp

SORTS = ("id_asc", "updated_asc", "updated_desc")
COMPARISONS = {"more": operator.gt, "less": operator.lt, "more_or_equal": operator.ge, "less_or_equal": operator.le}
ORDER_PARAMS = {"order_by[asc][]": False, "order_by[desc][]": True}  # -> descending
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}( \d{2}:\d{2}:\d{2})?")
FILTER_FORMS = ('a value, a comma-separated list, or {"type": "more|less|more_or_equal|less_or_equal", '
                '"value": X}')


@dataclass(frozen=True)
class Condition:
    """One ``filter[field]=...``: the row's value is one of ``wanted``, or compares with ``bound``."""

    field: str
    numeric: bool  # the field holds numbers
    comparison: str = "in"  # or a key of COMPARISONS
    wanted: tuple = ()
    bound: float | str | None = None

    def matches(self, row: Mapping) -> bool:
        value = row.get(self.field)
        if not isinstance(value, (int, float) if self.numeric else str):
            return False  # null, or not the field's type
        if self.comparison == "in":
            return value in self.wanted
        return value != "" and COMPARISONS[self.comparison](value, self.bound)


@dataclass(frozen=True)
class RowQuery:
    """What a list request asks of the rows, validated; the default selects every row in id order."""

    updated_since: str | None = None
    sort: str = "id_asc"
    conditions: tuple[Condition, ...] = ()
    order: tuple[tuple[str, bool], ...] = ()  # (field, descending), first key first

    def selects_all(self, has_update_field: bool) -> bool:
        by_time = has_update_field and (self.updated_since is not None or self.sort != "id_asc")
        return not (by_time or self.conditions or self.order)

    def parts(self) -> tuple:
        """Plain parts naming the query (the fault plan's seed); just (updated_since, sort) without filters."""
        return (self.updated_since, self.sort, *self.conditions, *self.order)


def parse_row_query(query: Mapping[str, str], field_types: Mapping[str, str]) -> RowQuery:
    """The request's filters and order; ``query`` is a multidict (order_by repeats)."""
    sort = query.get("sort", "id_asc")
    if sort not in SORTS:
        raise BadRequest(f"sort must be one of {', '.join(SORTS)}, got {sort!r}")
    since = query.get("updated_since")
    conditions, order = [], []
    for name, text in query.items():
        if name.startswith("filter[") and name.endswith("]"):
            conditions.append(parse_condition(name[len("filter["):-1], text, field_types))
        elif name.startswith("order_by"):
            if name not in ORDER_PARAMS:
                raise BadRequest(f"order with order_by[asc][]=<field> or order_by[desc][]=<field>, got {name!r}")
            known_field(text, field_types, name)
            order.append((text, ORDER_PARAMS[name]))
    return RowQuery(None if since is None else valid_timestamp(since), sort, tuple(conditions), tuple(order))


def parse_condition(field: str, text: str, field_types: Mapping[str, str]) -> Condition:
    numeric = known_field(field, field_types, f"filter[{field}]") == "number"
    if not text.startswith("{"):
        wanted = {typed_value(field, item, numeric) for item in text.split(",")}
        return Condition(field, numeric, wanted=tuple(sorted(wanted)))
    try:
        spec = orjson.loads(text)
    except orjson.JSONDecodeError:
        spec = None
    if not isinstance(spec, dict) or spec.get("type") not in COMPARISONS or "value" not in spec:
        raise BadRequest(f"filter[{field}] must be {FILTER_FORMS}, got {text!r}")
    return Condition(field, numeric, spec["type"], bound=typed_value(field, spec["value"], numeric))


def known_field(field: str, field_types: Mapping[str, str], where: str) -> str:
    """The field's JSON type, or error 12."""
    if field not in field_types:
        raise BadRequest(f"{where}: no field {field!r} on this path")
    return field_types[field]


def typed_value(field: str, value: object, numeric: bool) -> float | str:
    """A filter value as the field's type: a finite number, or a string; else error 12."""
    number = math.nan
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        if not numeric:
            return str(value)
        try:
            number = float(value)
        except ValueError:
            pass
    if not math.isfinite(number):
        raise BadRequest(f"filter[{field}] wants a {'number' if numeric else 'string'}, got {value!r}")
    return number


def valid_timestamp(text: str) -> str:
    """'YYYY-MM-DD HH:MM:SS' (a date alone means its midnight), or error 12."""
    if TIMESTAMP.fullmatch(text):
        text = text if len(text) > 10 else text + " 00:00:00"
        try:
            parse_timestamp(text)
            return text
        except ValueError:
            pass
    raise BadRequest(f"updated_since must be a time like 2024-03-01 14:05:00, got {text!r}")


def select(rows: list[dict], query: RowQuery, update_field: str | None) -> list[dict]:
    """The rows (in API order: null ids first, then by id) that ``query`` selects, in its order."""
    view = rows
    if update_field is not None and query.updated_since is not None:
        view = [row for row in view if (row.get(update_field) or "") >= query.updated_since]
    for condition in query.conditions:
        view = [row for row in view if condition.matches(row)]
    if query.order:  # stable sorts, last key first: ties keep the id order (reverse=True too)
        for field, descending in reversed(query.order):
            view = sorted(view, key=lambda row: order_key(row.get(field)), reverse=descending)
    elif update_field is not None and query.sort != "id_asc":
        view = sorted(view, key=lambda row: (row.get(update_field) or "", id_key(row)),
                      reverse=query.sort == "updated_desc")
    return view


def order_key(value: object) -> tuple:
    """Null and '' first, then numbers, then strings."""
    if value is None or value == "":
        return (0, 0, "")
    if isinstance(value, (int, float)):
        return (1, value, "")
    return (2, 0, str(value))


def id_key(row: Mapping) -> int:
    return -1 if row["id"] is None else row["id"]
