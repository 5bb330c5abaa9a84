"""Incremental reading: the cursor kept in dlt state, the overlap window, and the
optional server-side filter.

Resources with an update timestamp (`ResourceSpec.cursor`) keep its highest loaded value
in dlt state. Each run reads only rows changed since then, minus an overlap window
(rows re-read in the window are deduplicated by the merge). dlt commits the new cursor
value with the load package, and pmcrm discards the local state of a failed run
(`pipeline.run_sync`), so the cursor never moves past data that was not loaded.

Filtering on the server is a per-deployment declaration (`ServerFilter`), off by default
because the platform's filter syntax is not guaranteed. Without it every page is still
read, but dlt drops unchanged rows before they are written, so nothing is re-merged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

import dlt

API_TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
DEFAULT_OVERLAP_SECONDS = 300.0


@dataclass(frozen=True)
class ServerFilter:
    """How a deployment filters and sorts a list endpoint by update time.

    `since_param` gets the cursor as 'YYYY-MM-DD HH:MM:SS' in the account's time zone
    (rows updated at or after it). `sort_param`/`sort_value` ask for an order; with a
    newest-first order (`newest_first=True`) and no `since_param`, paging stops at the
    first page older than the cursor.
    """

    since_param: str | None = None
    sort_param: str | None = None
    sort_value: str | None = None
    newest_first: bool = False

    @classmethod
    def parse(cls, since: str | None, sort: str | None) -> "ServerFilter | None":
        """From the CLI: `--server-filter updated_since --server-sort sort=updated_desc`."""
        if not since and not sort:
            return None
        sort_param = sort_value = None
        if sort:
            if "=" not in sort:
                raise ValueError("--server-sort takes PARAM=VALUE, e.g. sort=updated_asc")
            sort_param, sort_value = sort.split("=", 1)
        newest_first = bool(sort_value and "desc" in sort_value.lower())
        return cls(since or None, sort_param, sort_value, newest_first)

    def params(self, since: datetime | None, account_tz: str) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if self.sort_param:
            params[self.sort_param] = self.sort_value
        if self.since_param and since is not None:
            params[self.since_param] = to_api_time(since, account_tz)
        return params


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
        return naive.replace(tzinfo=ZoneInfo(account_tz)).astimezone(timezone.utc)
    raise ValueError(f"--start-date {text!r}: use YYYY-MM-DD or 'YYYY-MM-DD HH:MM:SS'")


def cursor_for(cursor_field: str, start: datetime | None, overlap_seconds: float) -> Any:
    """A dlt incremental on the (renamed-free) cursor column of a resource."""
    return dlt.sources.incremental(
        cursor_field,
        initial_value=start,
        lag=overlap_seconds,
        on_cursor_value_missing="include",  # a row without timestamp is loaded, not dropped
    )


def read_since(incremental: Any) -> datetime | None:
    """The lower bound this run reads from: the last cursor (or the start date) minus the
    overlap window - dlt applies its `lag` to `start_value` when it binds the state."""
    return incremental.start_value if incremental is not None else None
