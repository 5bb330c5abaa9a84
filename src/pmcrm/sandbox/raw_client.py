"""A tiny keep-alive HTTP client for the sandbox: what its tests and benchmark speak.

Deliberately plain (``http.client``): it shows faults as they are - a cut body
raises ``http.client.IncompleteRead``, a dropped connection
``http.client.RemoteDisconnected`` - and retries nothing.
"""

from __future__ import annotations

import http.client
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

import orjson


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        return orjson.loads(self.body)


class SandboxClient:
    """GETs over one reused connection, reopened after the server closes it."""

    def __init__(self, base_url: str, api_key: str | None, timeout: float = 30.0):
        url = urlsplit(base_url)
        self.host, self.port = url.hostname, url.port
        self.api_key = api_key
        self.timeout = timeout
        self._connection: http.client.HTTPConnection | None = None
        self.connections_opened = 0  # stays 1 over any number of GETs while the server keeps it alive

    def get(self, path: str, **params) -> Reply:
        """GET ``path`` with ``api_key`` (unless given as None) and the other params."""
        params = {"api_key": self.api_key, **params}
        query = urlencode({k: v for k, v in params.items() if v is not None})
        connection = self._connection or self._open()
        self._connection = None
        connection.request("GET", f"{path}?{query}" if query else path)
        response = connection.getresponse()
        try:
            body = response.read()
        except Exception:
            connection.close()
            raise
        if response.will_close:
            connection.close()
        else:
            self._connection = connection
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, body)

    def _open(self) -> http.client.HTTPConnection:
        self.connections_opened += 1
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def page(self, path: str, page: int = 1, limit: int | None = None, **params) -> dict:
        """One list page's ``response`` object (fails on an error envelope)."""
        document = self.get(path, page=page, limit=limit, **params).json()
        if "response" not in document:
            raise AssertionError(f"{path} page {page}: {document}")
        return document["response"]

    def all_rows(self, path: str, limit: int = 100, **params) -> list[dict]:
        """Every row of a path, page by page until an empty page."""
        rows, page = [], 1
        while items := self.page(path, page, limit, **params)["items"]:
            rows.extend(items)
            page += 1
        return rows

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
