"""Page bytes of the list endpoint, rendered once and cached until the data changes.

A page is keyed by ``(page, limit, row query)`` within its path and kept while
the path's data version stays the same; any change to the path drops its pages
and its filtered views. Serving a cached page costs a dict lookup, so the sandbox's
CPU stays far below its client's.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from .data import Dataset
from .filters import RowQuery, select

TOTAL_FIELDS = ("total", "total_result", "both")  # the envelope's row count: which key(s)
MAX_CACHED_PAGES_PER_PATH = 50_000


@dataclass(frozen=True)
class PageRequest:
    """What a list request asks for, already validated."""

    path: str
    page: int
    limit: int
    rows: RowQuery = RowQuery()  # noqa: RUF009 - frozen: one shared empty query is safe


class _PathCache:
    __slots__ = ("pages", "version", "views")

    def __init__(self, version: int):
        self.version = version
        self.pages: dict[tuple, bytes] = {}
        self.views: dict[RowQuery, list[dict]] = {}


class PageRenderer:
    """Renders and caches the envelope ``{"response": {total, page, count, items}}``
    (``total_result`` instead of or besides ``total``: both count rows, not pages)."""

    def __init__(self, dataset: Dataset, total_field: str = "total"):
        self.dataset = dataset
        self.total_keys = ("total", "total_result") if total_field == "both" else (total_field,)
        self._caches: dict[str, _PathCache] = {}

    def render(self, request: PageRequest) -> bytes:
        key = (request.page, request.limit, request.rows)
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
                body = cache.pages[key] = envelope(rows, request.page, request.limit, self.total_keys)
            return body

    @staticmethod
    def _view(cache: _PathCache, table, request: PageRequest) -> list[dict]:
        """The path's rows as filtered and sorted for this request (cached per version)."""
        if request.rows.selects_all(table.update_field is not None):
            return table.rows
        view = cache.views.get(request.rows)
        if view is None:
            view = cache.views[request.rows] = select(table.rows, request.rows, table.update_field)
        return view


def envelope(rows: list[dict], page: int, limit: int, total_keys: tuple[str, ...] = ("total",)) -> bytes:
    start = (page - 1) * limit
    items = rows[start:start + limit]
    totals = b"".join(b'"%s":%d,' % (key.encode(), len(rows)) for key in total_keys)
    head = b'{"response":{%s"page":%d,"count":%d,"items":' % (totals, page, len(items))
    return head + orjson.dumps(items) + b"}}"
