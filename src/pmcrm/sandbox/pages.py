"""Page bytes of the list endpoint, rendered once and cached until the data changes.

A page is keyed by ``(page, limit, updated_since, sort)`` within its path and
kept while the path's data version stays the same; any change to the path
drops its pages. Serving a cached page costs a dict lookup, so the sandbox's
CPU stays far below its client's.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from .data import Dataset

SORTS = ("id_asc", "updated_asc", "updated_desc")
MAX_CACHED_PAGES_PER_PATH = 50_000


@dataclass(frozen=True)
class PageRequest:
    """What a list request asks for, already validated."""

    path: str
    page: int
    limit: int
    updated_since: str | None = None
    sort: str = "id_asc"


class _PathCache:
    __slots__ = ("version", "pages", "views")

    def __init__(self, version: int):
        self.version = version
        self.pages: dict[tuple, bytes] = {}
        self.views: dict[tuple, list[dict]] = {}


class PageRenderer:
    """Renders and caches the envelope ``{"response": {total, page, count, items}}``."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset
        self._caches: dict[str, _PathCache] = {}

    def render(self, request: PageRequest) -> bytes:
        key = (request.page, request.limit, request.updated_since, request.sort)
        with self.dataset.lock:
            table = self.dataset.table(request.path)
            cache = self._caches.get(request.path)
            if cache is None or cache.version != table.version:
                cache = self._caches[request.path] = _PathCache(table.version)
            body = cache.pages.get(key)
            if body is None:
                if len(cache.pages) >= MAX_CACHED_PAGES_PER_PATH:
                    cache.pages.clear()
                rows = self._view(cache, table, request)
                body = cache.pages[key] = envelope(rows, request.page, request.limit)
            return body

    def _view(self, cache: _PathCache, table, request: PageRequest) -> list[dict]:
        """The path's rows as filtered and sorted for this request (cached per version)."""
        field = table.update_field
        if field is None or (request.updated_since is None and request.sort == "id_asc"):
            return table.rows
        key = (request.updated_since, request.sort)
        view = cache.views.get(key)
        if view is None:
            view = table.rows
            if request.updated_since is not None:
                view = [row for row in view if (row.get(field) or "") >= request.updated_since]
            if request.sort != "id_asc":
                view = sorted(view, key=lambda row: (row.get(field) or "", _id_key(row)),
                              reverse=request.sort == "updated_desc")
            cache.views[key] = view
        return view


def _id_key(row: dict) -> int:
    return -1 if row["id"] is None else row["id"]


def envelope(rows: list[dict], page: int, limit: int) -> bytes:
    start = (page - 1) * limit
    items = rows[start:start + limit]
    head = b'{"response":{"total":%d,"page":%d,"count":%d,"items":' % (len(rows), page, len(items))
    return head + orjson.dumps(items) + b"}}"
