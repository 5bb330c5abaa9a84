"""Incremental reading: the cursor kept in dlt state, the overlap window, and the
optional server-side filter.

Resources with an update timestamp (`ResourceSpec.cursor`) keep its highest loaded value
in dlt state. Each run reads only rows changed since then, minus an overlap window
(rows re-read in the window are deduplicated by the merge). dlt commits the new cursor
value with the load package, and pmcrm discards the local state of a failed run
(`pipeline.run_sync`), so the cursor never moves past data that was not loaded.

Filtering on the server is a per-deployment declaration (`ServerFilter`), off by default
because the platform's filter syntax is not guaranteed. Without it every page is still
read, but dlt drops unchanged rows before they are written, so nothing is re-merged;
rows certainly older than that are dropped before they are converted (`unchanged_rows_dropped`),
and rows of the overlap window that are exactly as last loaded are dropped too (`LoadedOverlap`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import dlt
import orjson

API_TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
DEFAULT_OVERLAP_SECONDS = 300.0
# Rows this much older than the read's lower bound are dropped before conversion; dlt
# applies the exact bound to the rest. A day covers any time-zone or DST slip.
PRE_FILTER_MARGIN = timedelta(days=1)


# LoadedOverlap remembers at most this many rows per resource (more: it remembers none): the
# hashes travel in dlt's state, stored with every load (26 x 100 x 16 characters at most).
OVERLAP_ROWS_KEPT = 100
# ... of the overlap window widened by this, for a DST change between two runs.
OVERLAP_SLACK = timedelta(hours=1)


# `--server-filter platform` / `--server-sort platform`: the syntax public clients of the
# platform use (platform-evidence: filter[<field>] with a JSON operator, order_by[asc][]).
PLATFORM_FILTER = 'filter[{cursor}]={"type":"more","value":"{since}"}'
PLATFORM_SORT = "order_by[asc][]={cursor}"
_NO_STAMP = ("", "0000")


@dataclass(frozen=True)
class ServerFilter:
    """How a deployment filters and sorts a list endpoint by update time.

    Given as `PARAM` (the cursor time is its value) or `PARAM=TEMPLATE`, where `{since}`
    is the cursor as 'YYYY-MM-DD HH:MM:SS' in the account's time zone and `{cursor}` the
    resource's update field, in the parameter or the value:
    `filter[{cursor}]={"type":"more","value":"{since}"}`. The sort likewise, `PARAM=VALUE`,
    its direction in either part (`sort=updated_desc`, `order_by[desc][]={cursor}`);
    newest first and no filter, paging stops at the first page older than the cursor.

    Whether a deployment honours a filter is not proven (platform-evidence: one client
    guards against a server that ignored both its filter and its sort), so every row
    returned is checked against it (`FilterCheck`); see pmcrm.source for the fallback.
    """

    since_param: str | None = None
    since_template: str = "{since}"
    sort_param: str | None = None
    sort_value: str | None = None
    newest_first: bool = False

    @classmethod
    def parse(cls, since: str | None, sort: str | None) -> ServerFilter | None:
        """From the CLI: `--server-filter updated_since --server-sort sort=updated_desc`."""
        if not since and not sort:
            return None
        since = PLATFORM_FILTER if since == "platform" else since
        sort = PLATFORM_SORT if sort == "platform" else sort
        since_param, _, template = (since or "").partition("=")
        if since and template and "{since}" not in template:
            raise ValueError("--server-filter PARAM=TEMPLATE needs {since} in the template, "
                             'e.g. filter[{cursor}]={"type":"more","value":"{since}"}')
        sort_param = sort_value = None
        if sort:
            if "=" not in sort:
                raise ValueError("--server-sort takes PARAM=VALUE, e.g. sort=updated_asc or order_by[asc][]={cursor}")
            sort_param, sort_value = sort.split("=", 1)
        newest_first = "desc" in f"{sort_param} {sort_value}".lower() if sort else False
        return cls(since_param or None, template or "{since}", sort_param, sort_value, newest_first)

    @property
    def sorted(self) -> str | None:
        """'asc', 'desc', or None when no sort is asked."""
        return None if self.sort_param is None else ("desc" if self.newest_first else "asc")

    def params(self, since: datetime | None, account_tz: str, cursor: str = "updated_date") -> dict[str, Any]:
        params: dict[str, Any] = {}
        if self.sort_param:
            params[_fill(self.sort_param, cursor)] = _fill(self.sort_value or "", cursor)
        if self.since_param and since is not None:
            value = self.since_template.replace("{since}", to_api_time(since, account_tz))
            params[_fill(self.since_param, cursor)] = _fill(value, cursor)
        return params


def _fill(text: str, cursor: str) -> str:
    return text.replace("{cursor}", cursor)


class FilterCheck:
    """Checks the rows of a server-filtered read, page after page, in order: each row
    updated at or after the filter's time (when one was sent) and, when a sort was asked,
    in that order. `ignored_by(rows)` returns the evidence that the API did not apply
    the filter or the sort, or None. Rows without a timestamp prove nothing either way."""

    def __init__(self, cursor: str, since_text: str | None, order: str | None):
        self.cursor, self.since_text, self.order = cursor, since_text, order
        self._previous: str | None = None

    def ignored_by(self, rows: list[dict[str, Any]]) -> str | None:
        for row in rows:
            stamp = row.get(self.cursor)
            if not isinstance(stamp, str) or stamp[:4] in _NO_STAMP:
                continue
            if self.since_text is not None and stamp < self.since_text:
                return f"row id {row.get('id')} has {self.cursor} {stamp}, before the filter's {self.since_text}"
            previous, self._previous = self._previous, stamp
            if previous is not None and self.order is not None and (stamp < previous if self.order == "asc" else stamp > previous):
                return (f"row id {row.get('id')} ({self.cursor} {stamp}) came after {previous}: "
                        f"not in the {self.order}ending order asked")
        return None


def to_api_time(moment: datetime, account_tz: str) -> str:
    return moment.astimezone(ZoneInfo(account_tz)).strftime(API_TIMESTAMP_FORMAT)


def parse_start_date(text: str | None, account_tz: str) -> datetime | None:
    """'2024-01-31' or '2024-01-31 08:00:00', read in the account's time zone."""
    if not text:
        return None
    for fmt in (API_TIMESTAMP_FORMAT, "%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"):
        try:
            naive = datetime.strptime(text, fmt)
        except ValueError:
            continue
        return naive.replace(tzinfo=ZoneInfo(account_tz)).astimezone(UTC)
    raise ValueError(f"--start-date {text!r}: use YYYY-MM-DD or 'YYYY-MM-DD HH:MM:SS'")


def cursor_for(cursor_field: str, start: datetime | None, overlap_seconds: float) -> Any:
    """A dlt incremental on the (renamed-free) cursor column of a resource."""
    return dlt.sources.incremental(
        cursor_field,
        initial_value=start,
        lag=overlap_seconds,
        on_cursor_value_missing="include",  # a row without timestamp is loaded, not dropped
    )


def api_timestamp(value: Any) -> datetime | None:
    """`value` as a naive datetime when it is a well-formed API timestamp (fixed-width
    'YYYY-MM-DD HH:MM:SS' text, which sorts as time does, of a real date), else None: no
    value, another format, the "no date" 0000-00-00 00:00:00 or a bad date (convert.py
    reports those)."""
    if type(value) is not str or len(value) != 19 or value[10] != " ":
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def unchanged_rows_dropped(cursor: str, since: datetime, account_tz: str) -> Callable[[list], list]:
    """A filter over a page's rows that drops those whose cursor is a well-formed API
    timestamp older than `since` minus PRE_FILTER_MARGIN. Why: without a server filter a
    nightly sync reads every row, and dlt's incremental drops the unchanged ones only
    after pmcrm converted them to arrow - most of a nightly read's CPU. Anything else (no
    value, another format, a bad date) is kept, so dlt decides exactly as before."""
    boundary = to_api_time(since - PRE_FILTER_MARGIN, account_tz)

    def certainly_older(value: Any) -> bool:
        # The text comparison first: it rules out most rows without parsing a date.
        return type(value) is str and value < boundary and api_timestamp(value) is not None

    def newer_rows(items: list) -> list:
        return [item for item in items if not certainly_older(item.get(cursor))]

    return newer_rows


def read_since(incremental: Any) -> datetime | None:
    """The lower bound this run reads from: the last cursor (or the start date) minus the
    overlap window - dlt applies its `lag` to `start_value` when it binds the state."""
    return incremental.start_value if incremental is not None else None


class LoadedOverlap:
    """The rows of the overlap window that the last good load holds, by content hash.
    Why: the window re-reads the newest rows on every run, and dlt merges them again even
    when nothing changed - a one-row merge per incremental table on a quiet night (0.6 s
    of a 6.9 s sync at 36 x 2,000 rows, A/B: benchmarks/ab_second_sync.py --quiet). A row
    is dropped only when its whole raw content hashes to one that was loaded (the hash
    covers how rows are converted too); anything else goes to dlt as before.
    `remembered()` is what the next run gets: the hashes of every row read whose cursor
    lies within the window (plus OVERLAP_SLACK) of the newest cursor read, or None when
    there are more than OVERLAP_ROWS_KEPT of them. A hash missing only costs a merge; a
    hash too many is of a row that was loaded."""

    def __init__(self, cursor: str, loaded: Iterable[str], window_seconds: float, conversion: str):
        self.cursor, self.loaded = cursor, frozenset(loaded)
        self.window = timedelta(seconds=window_seconds) + OVERLAP_SLACK
        self.salt = conversion.encode()
        self.newest, self.near = "", ""  # cursor texts: the newest read, and the window's start
        self._read: dict[str, str] | None = {}  # hash -> cursor text, of rows at or after `near`

    def __call__(self, items: list) -> list:
        kept = []
        for item in items:
            value = item.get(self.cursor)
            near = type(value) is str and len(value) == 19 and value >= self.near and self._newest(value)
            near = near and self._read is not None
            digest = self._hash(item) if near or self.loaded else None
            if digest is not None and near:
                self._read[digest] = value
            if digest is None or digest not in self.loaded:
                kept.append(item)
        if self._read is not None and len(self._read) > 2 * OVERLAP_ROWS_KEPT:
            self._keep_window()
            if len(self._read) > 2 * OVERLAP_ROWS_KEPT:
                self._read = None  # a bulk change: too many to remember, none are
        return kept

    def remembered(self) -> list[str] | None:
        if self._read is None:
            return None
        self._keep_window()
        return list(self._read) if len(self._read) <= OVERLAP_ROWS_KEPT else None

    def _keep_window(self) -> None:
        """Forget the rows the window has moved past."""
        self._read = {digest: value for digest, value in self._read.items() if value >= self.near}

    def _newest(self, value: str) -> bool:
        """Whether `value` is a well-formed timestamp in the window (moving it if newest)."""
        if value <= self.newest:
            return True
        stamp = api_timestamp(value)
        if stamp is None:
            return False
        self.newest, self.near = value, (stamp - self.window).strftime(API_TIMESTAMP_FORMAT)
        return True

    def _hash(self, item: dict) -> str | None:
        try:
            content = orjson.dumps(item, option=orjson.OPT_SORT_KEYS)
        except (orjson.JSONEncodeError, TypeError):
            return None  # an integer beyond 64 bits: compared by nobody, merged as before
        return hashlib.blake2b(self.salt + content, digest_size=8).hexdigest()
