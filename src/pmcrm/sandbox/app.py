"""The sandbox's HTTP face: the platform's list endpoint, and ``/_sandbox/`` for tests.

A list request goes through, in order: latency; a move (``moved_to``: HTTP 301 to
the new address, path and query kept); the URL form (with
``url_form="platform"`` anything outside ``/api/v1/module/`` gets the web server's
HTML 404); the API key (error 11); the rate limit (HTTP 429 with Retry-After, or
the configured refusal); the path (errors 31 / 30); a resource the key cannot use
(``unavailable``: error 22, 30 or 31); page and page size (error 12); the filters
when enabled (error 12); the fault plan; then the cached page. Errors arrive as
HTTP 200 with an ``error`` body in the configured shape, as the platform sends
them. ``/_sandbox/`` answers the ground truth, the stats and data changes, at the
root whatever the URL form; it needs the key too but no latency, limit or fault
touches it.
"""

from __future__ import annotations

import asyncio

import orjson
from aiohttp import web

from .catalog import module_of
from .data import Dataset
from .error_answers import BadRequest, error_body
from .faults import FaultPlan
from .filters import parse_row_query
from .gateway_limits import (
    RATE_LIMIT_MESSAGE,
    FixedWindow,
    SharedKey,
    SlidingWindow,
    SteadyPace,
    TokenBucket,
    parse_shared,
)
from .options import SandboxOptions
from .page_cache import PageRenderer, PageRequest
from .stats import Stats
from .url_forms import NOT_FOUND_HTML, spec_path

JSON = "application/json"
CHANGES = ("touch", "insert", "delete", "update")
SANDBOX_PREFIX = "/_sandbox/"


def json_response(body: bytes, status: int = 200, headers: dict | None = None) -> web.Response:
    return web.Response(body=body, status=status, content_type=JSON, headers=headers)


def html_response(status: int, html: str) -> web.Response:
    return web.Response(status=status, text=html, content_type="text/html")


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
        self.renderer = PageRenderer(dataset, options.total_field)
        self.faults = FaultPlan(options.seed, options.fault_rate, options.fault_kinds)
        self.limiter = make_limiter(options)
        if options.rate_limit:
            # A gateway counts requests whatever its backend is doing. The sandbox counts in
            # the event loop that also generates a table on its first request (up to 0.25 s
            # at 2,000 rows): requests that arrived meanwhile were counted together, and a
            # client pacing itself exactly to the limit was refused (seen at 50 requests/s).
            dataset.materialize()
        self.unavailable = {self.catalog.path_of(name): code for name, code in options.unavailable.items()}

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        """Every request: ``/_sandbox/...`` for tests, anything else is the platform's API.
        (aiohttp's low-level server: a router and middlewares would cost a fifth of the CPU.)"""
        if not request.path.startswith(SANDBOX_PREFIX):
            return await self.list_endpoint(request)
        if not self.authorized(request):
            return self.error_answer(11)
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
        return self.error_answer(30, f"{request.method} {request.path}")

    # ------------------------------------------------------------ the API
    async def list_endpoint(self, request: web.BaseRequest) -> web.StreamResponse:
        path = spec_path(request.path, self.options.url_form)  # None: not an API URL at all
        self.stats.request(path if path in self.paths else None)
        if self.options.latency:
            await asyncio.sleep(self.options.latency)
        if self.options.moved_to:
            # As a server that moved answers: the whole request, key included, sent elsewhere.
            return web.Response(status=301, headers={"Location": self.options.moved_to.rstrip("/") + request.path_qs})
        if path is None:
            return html_response(404, NOT_FOUND_HTML)
        api_key = request.query.get("api_key")
        refused = self.refuse(path, api_key)
        if refused is not None:
            return refused
        try:
            page_request = self.page_request(path, request.query)
        except BadRequest as problem:
            return self.error(12, str(problem))
        fault = self.faults.decide(api_key, (path, page_request.page, page_request.limit,
                                             *page_request.rows.parts()))
        if fault is not None:
            self.stats.fault(fault)
            return await self.inject(fault, request, page_request)
        body = self.renderer.render(page_request)
        self.stats.page(path)
        if self.options.mutate_while_paging:
            self.dataset.churn(path, self.options.mutate_while_paging)
        return json_response(body)

    def refuse(self, path: str, api_key: str | None) -> web.Response | None:
        """The answer to a request that may not be served (bad key, too fast, no such path,
        a resource the key cannot use), or None."""
        if api_key != self.options.api_key:
            return self.error(11)
        wait = self.limiter.retry_after(api_key)
        if wait is not None:
            self.stats.limited()
            status, body, headers = refusal(self.options, wait)
            return json_response(body, status, headers)
        if path not in self.paths:
            return self.error(30 if module_of(path) in self.catalog.modules else 31)
        if path in self.unavailable:
            return self.error(self.unavailable[path])
        return None

    def page_request(self, path: str, query) -> PageRequest:
        options = self.options
        page = positive_int(query, "page", 1)
        limit = min(positive_int(query, options.page_size_param, options.default_page_size), options.max_page_size)
        if not options.server_filter or options.server_filter_ignored:
            return PageRequest(path, page, limit)
        return PageRequest(path, page, limit, parse_row_query(query, self.dataset.field_types(path)))

    def error(self, code: int, detail: str | None = None) -> web.Response:
        """An API error answer, counted in the stats."""
        self.stats.error(code)
        return self.error_answer(code, detail)

    def error_answer(self, code: int, detail: str | None = None) -> web.Response:
        return json_response(error_body(code, detail, self.options.error_shape))

    async def inject(self, kind: str, request: web.BaseRequest, page_request: PageRequest) -> web.StreamResponse:
        """Fail the way real back ends and networks do."""
        if kind == "http500":
            return html_response(500, "<html><h1>500 Internal Server Error</h1></html>")
        if kind == "http503":
            return html_response(503, "<html><h1>503 Service Unavailable</h1></html>")
        if kind == "envelope13":
            return self.error_answer(13)
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
            return self.error_answer(20, "no such resource")
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
            return self.error_answer(12, "amount must be a number")
        resources = query.get("resources")
        try:
            result = getattr(self.dataset, kind)(amount, resources.split(",") if resources else None)
        except (KeyError, ValueError) as problem:
            return self.error_answer(21, str(problem))
        return json_response(orjson.dumps(result))


LIMITERS = {"bucket": TokenBucket, "sliding": SlidingWindow, "fixed": FixedWindow, "steady": SteadyPace}


def make_limiter(options: SandboxOptions) -> TokenBucket | SlidingWindow | FixedWindow | SteadyPace | SharedKey:
    """The gateway's limit in the configured style (shared for a while, with --rate-limit-shared)."""
    kind = LIMITERS[options.rate_limit_window]
    shared = parse_shared(options.rate_limit_shared)
    if shared is None:  # SandboxOptions refuses a shared key without a limit
        return kind(options.rate_limit)
    return SharedKey(kind, options.rate_limit, *shared)


def refusal(options: SandboxOptions, wait: int) -> tuple[int, bytes, dict[str, str]]:
    """The refusal's status, body and headers, in the configured style."""
    if options.rate_limit_body == "string":
        body = orjson.dumps({"error": RATE_LIMIT_MESSAGE})
    else:
        body = orjson.dumps({"message": "Too Many Requests", "retry_after": wait})
    headers = {"Retry-After": str(wait)} if options.retry_after else {}
    return options.rate_limit_status, body, headers
