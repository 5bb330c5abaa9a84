"""The sandbox's HTTP face: the platform's list endpoint, and ``/_sandbox/`` for tests.

A list request goes through, in order: latency, the API key (error 11), the
rate limit (HTTP 429), the path (errors 31 / 30), page and limit (error 12),
the server-side filter when enabled (error 12), the fault plan, then the
cached page. Errors arrive as HTTP 200 with an ``error`` envelope, as the
platform sends them. ``/_sandbox/`` answers the ground truth, the stats and
data changes; it needs the key too but no latency, limit or fault touches it.
"""

from __future__ import annotations

import asyncio
import re

import orjson
from aiohttp import web

from .catalog import module_of
from .data import Dataset
from .faults import FaultPlan, RateLimiter, SandboxOptions
from .pages import SORTS, PageRenderer, PageRequest
from .stats import Stats
from .values import parse_timestamp

ERROR_MESSAGES = {
    10: "Unknown error",
    11: "Authorization failed",
    12: "Invalid request",
    13: "Internal error - retry later",
    20: "Not found",
    21: "Validation error",
    22: "Access denied",
    30: "Unknown method",
    31: "Unknown module",
}
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}( \d{2}:\d{2}:\d{2})?")
JSON = "application/json"
CHANGES = ("touch", "insert", "delete", "update")
SANDBOX_PREFIX = "/_sandbox/"


class BadRequest(Exception):
    """A request parameter the API refuses with error 12."""


def error_body(code: int, detail: str | None = None) -> bytes:
    message = ERROR_MESSAGES[code] + (f": {detail}" if detail else "")
    return orjson.dumps({"error": {"error_code": code, "error_msg": message}})


def json_response(body: bytes, status: int = 200, headers: dict | None = None) -> web.Response:
    return web.Response(body=body, status=status, content_type=JSON, headers=headers)


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


def positive_int(query, name: str, default: int) -> int:
    text = query.get(name)
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise BadRequest(f"{name} must be a positive integer, got {text!r}")
    return int(text)


class SandboxApp:
    """Request handling, with the state it needs: data, pages, faults, limits, stats."""

    def __init__(self, options: SandboxOptions, dataset: Dataset, stats: Stats):
        self.options = options
        self.dataset = dataset
        self.stats = stats
        self.catalog = dataset.catalog
        self.paths = frozenset(self.catalog.paths)
        self.renderer = PageRenderer(dataset)
        self.faults = FaultPlan(options)
        self.limiter = RateLimiter(options.rate_limit)

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        """Every request: ``/_sandbox/...`` for tests, anything else is the platform's API.
        (aiohttp's low-level server: a router and middlewares would cost a fifth of the CPU.)"""
        if not request.path.startswith(SANDBOX_PREFIX):
            return await self.list_endpoint(request)
        if not self.authorized(request):
            return json_response(error_body(11))
        route = request.path[len(SANDBOX_PREFIX):]
        if request.method == "GET" and route.startswith("truth/"):
            return self.truth(route[len("truth/"):])
        if request.method == "GET" and route == "stats":
            return json_response(orjson.dumps(self.stats.snapshot()))
        if request.method == "POST" and route == "stats/reset":
            self.stats.reset()
            return json_response(orjson.dumps(self.stats.snapshot()))
        if request.method == "POST" and route in CHANGES:
            return self.change(route, request.query)
        return json_response(error_body(30, f"{request.method} {request.path}"))

    # ------------------------------------------------------------ the API
    async def list_endpoint(self, request: web.BaseRequest) -> web.StreamResponse:
        path = request.path
        self.stats.request(path if path in self.paths else None)
        if self.options.latency:
            await asyncio.sleep(self.options.latency)
        api_key = request.query.get("api_key")
        if api_key != self.options.api_key:
            return self.error(11)
        wait = self.limiter.retry_after(api_key)
        if wait is not None:
            self.stats.limited()
            body = orjson.dumps({"message": "Too Many Requests", "retry_after": wait})
            return json_response(body, status=429, headers={"Retry-After": str(wait)})
        if path not in self.paths:
            return self.error(30 if module_of(path) in self.catalog.modules else 31)
        try:
            page_request = self.page_request(path, request.query)
        except BadRequest as problem:
            return self.error(12, str(problem))
        fault = self.faults.decide(api_key, (path, page_request.page, page_request.limit,
                                             page_request.updated_since, page_request.sort))
        if fault is not None:
            self.stats.fault(fault)
            return await self.inject(fault, request, page_request)
        body = self.renderer.render(page_request)
        self.stats.page(path)
        if self.options.mutate_while_paging:
            self.dataset.churn(path, self.options.mutate_while_paging)
        return json_response(body)

    def page_request(self, path: str, query) -> PageRequest:
        page = positive_int(query, "page", 1)
        limit = min(positive_int(query, "limit", self.options.max_page_size), self.options.max_page_size)
        if not self.options.server_filter:
            return PageRequest(path, page, limit)
        since = query.get("updated_since")
        if since is not None:
            since = valid_timestamp(since)
        sort = query.get("sort", "id_asc")
        if sort not in SORTS:
            raise BadRequest(f"sort must be one of {', '.join(SORTS)}, got {sort!r}")
        return PageRequest(path, page, limit, since, sort)

    def error(self, code: int, detail: str | None = None) -> web.Response:
        self.stats.error(code)
        return json_response(error_body(code, detail))

    async def inject(self, kind: str, request: web.BaseRequest, page_request: PageRequest) -> web.StreamResponse:
        """Fail the way real back ends and networks do."""
        if kind == "http500":
            return web.Response(status=500, text="<html><h1>500 Internal Server Error</h1></html>",
                                content_type="text/html")
        if kind == "http503":
            return web.Response(status=503, text="<html><h1>503 Service Unavailable</h1></html>",
                                content_type="text/html")
        if kind == "envelope13":
            return json_response(error_body(13))
        if kind == "cut":  # the full Content-Length, half the body, then the connection drops
            body = self.renderer.render(page_request)
            response = web.StreamResponse(headers={"Content-Type": JSON})
            response.content_length = len(body)
            await response.prepare(request)
            await response.write(body[: len(body) // 2])
        else:  # stall: hold the connection, then drop it without an answer
            await asyncio.sleep(self.options.stall_seconds)
            response = web.Response()
        if request.transport is not None:
            request.transport.close()
        return response

    # ------------------------------------------------------- /_sandbox/
    def authorized(self, request: web.BaseRequest) -> bool:
        return request.query.get("api_key") == self.options.api_key

    def truth(self, resource: str) -> web.Response:
        """The exact rows the list endpoint would serve now, as one JSON array."""
        try:
            path = self.catalog.path_of(resource)
        except KeyError:
            return json_response(error_body(20, "no such resource"))
        with self.dataset.lock:
            body = orjson.dumps(self.dataset.table(path).rows)
        return json_response(body)

    def change(self, kind: str, query) -> web.Response:
        """``POST /_sandbox/<touch|insert|delete|update>?amount=0.1&resources=tasks,lead``:
        the ``Sandbox`` mutation methods, for a sandbox running in another process."""
        text = query.get("amount", "")
        try:
            amount = float(text) if "." in text else int(text)
        except ValueError:
            return json_response(error_body(12, "amount must be a number"))
        resources = query.get("resources")
        try:
            result = getattr(self.dataset, kind)(amount, resources.split(",") if resources else None)
        except (KeyError, ValueError) as problem:
            return json_response(error_body(21, str(problem)))
        return json_response(orjson.dumps(result))
