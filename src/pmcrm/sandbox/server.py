"""Running the sandbox: in a background thread (tests), blocking (the CLI), or in a
child process (tests that need a real separate server).

Speed, measured on this 2-core machine: one keep-alive client (``http.client``,
reading each body whole without parsing it), zero latency, 100 rows per page of
``tasks`` (~143 KiB a page), pages already rendered and cached, median of 5 runs:

    .venv/bin/python benchmarks/sandbox_speed.py --rows 20000 --resource tasks --pages 4000 --repeat 5
    .venv/bin/python benchmarks/sandbox_speed.py --rows 20000 --resource tasks --pages 4000 --repeat 5 --separate-process

    server in a thread of the client's process  2,500 - 4,000 pages/s (sharing one GIL with the client)
    server in its own process                   2,800 - 3,500 pages/s
    server CPU per page                         ~200 us, i.e. ~5,000 pages/s per core

The ranges are the machine's noise: its two cores were shared with other test runs
(under heavy load the same commands gave 1,200 - 2,000 pages/s). The server spends
about as much CPU per page as a client that only reads the bytes; a real client,
which parses the JSON and loads the rows, spends many times more. Most of the
server's share is aiohttp's own request handling (its low-level server: no router,
no middlewares); the sandbox's part is a cached-bytes lookup.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Self
from urllib.parse import urlencode
from urllib.request import Request, urlopen

import orjson
from aiohttp import web

from .app import SandboxApp
from .catalog import load_catalog
from .data import Dataset
from .options import SandboxOptions
from .stats import Stats
from .url_forms import api_url

SHUTDOWN_SECONDS = 1.0  # stalled requests are cut off rather than waited for


def make_options(options: SandboxOptions | None, knobs: dict) -> SandboxOptions:
    return replace(options or SandboxOptions(), **knobs)


async def start_site(app: SandboxApp, host: str, port: int) -> tuple[web.ServerRunner, str]:
    """Start serving; return the runner (to clean up) and the base URL actually bound."""
    server = web.Server(app.handle, handler_cancellation=True, access_log=None)
    runner = web.ServerRunner(server, shutdown_timeout=SHUTDOWN_SECONDS)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024)
    await site.start()
    bound_host, bound_port = runner.addresses[0][:2]
    return runner, f"http://{bound_host}:{bound_port}"


class DataChanges:
    """Changing the served data between runs; every method returns the affected ids per path."""

    def _change(self, kind: str, amount: float, resources: Iterable[str] | None) -> dict[str, list]:
        raise NotImplementedError

    def touch(self, fraction: float, resources: Iterable[str] | None = None) -> dict[str, list]:
        """Bump the update time of ``fraction`` of the rows past every existing one."""
        return self._change("touch", fraction, resources)

    def insert(self, n: int, resources: Iterable[str] | None = None) -> dict[str, list]:
        """Add ``n`` rows to each path: new ids, created now, foreign keys to existing rows."""
        return self._change("insert", n, resources)

    def delete(self, n_or_fraction: float, resources: Iterable[str] | None = None) -> dict[str, list]:
        """Delete ``n`` rows (an int) or a share (a float) of each path; owned children go too,
        other references become null. Returns the deleted ids, cascades included."""
        return self._change("delete", n_or_fraction, resources)

    def update(self, fraction: float, resources: Iterable[str] | None = None) -> dict[str, list]:
        """Change one or two field values and the update time of ``fraction`` of the rows."""
        return self._change("update", fraction, resources)


class ClientSettings:
    """What a client is given: the API's URL and key (subclasses have ``options`` and ``base_url``)."""

    options: SandboxOptions
    base_url: str

    @property
    def api_url(self) -> str:
        """The base URL a user would configure: ``base_url``, plus ``/api/v1/module``
        with ``url_form="platform"``. (``/_sandbox/`` stays under ``base_url``.)"""
        return api_url(self.base_url, self.options.url_form)

    @property
    def api_key(self) -> str:
        return self.options.api_key


class Sandbox(ClientSettings, DataChanges):
    """The fake platform API, served from a background thread with its own event loop.

    >>> with Sandbox(rows=50, seed=3) as sandbox:
    ...     url = f"{sandbox.api_url}/v1/task/tasks/list?api_key={sandbox.api_key}"
    """

    def __init__(self, options: SandboxOptions | None = None, **knobs):
        self.options = make_options(options, knobs)
        self.dataset = Dataset(self.options.seed, self.options.rows, self.options.rows_per_resource,
                               shape=self.options.shape)
        self._stats = Stats()
        self._app = SandboxApp(self.options, self.dataset, self._stats)
        self._base_url: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._startup_error: BaseException | None = None

    # ------------------------------------------------------------ running
    def start(self) -> Sandbox:
        if self._thread is not None:
            raise RuntimeError("the sandbox is already running")
        self._thread = threading.Thread(target=self._serve, name="pmcrm-sandbox", daemon=True)
        self._thread.start()
        self._started.wait()
        if self._startup_error is not None:
            self._thread.join()
            self._thread = None
            raise self._startup_error
        return self

    def stop(self) -> None:
        if self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._thread = None
        self._base_url = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _serve(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        try:
            runner, self._base_url = loop.run_until_complete(
                start_site(self._app, self.options.host, self.options.port))
        except BaseException as error:  # noqa: BLE001 - handed to the thread that called start()
            self._startup_error = error
            self._started.set()
            loop.close()
            return
        self._started.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(runner.cleanup())
            loop.close()

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("the sandbox is not running: use it as a context manager or call start()")
        return self._base_url

    # --------------------------------------------------- ground truth, stats
    def truth(self, resource_or_path: str) -> list[dict]:
        """The exact rows the API serves now for a resource or path, in API order."""
        return self.dataset.rows(resource_or_path)

    def stats(self) -> dict:
        return self._stats.snapshot()

    def reset_stats(self) -> None:
        self._stats.reset()

    def _change(self, kind: str, amount: float, resources: Iterable[str] | None) -> dict[str, list]:
        return getattr(self.dataset, kind)(amount, resources)


def serve_forever(options: SandboxOptions, announce: Callable[[str], None]) -> None:
    """Serve in the foreground until SIGINT or SIGTERM; ``announce`` gets the base URL once bound."""

    async def main() -> None:
        dataset = Dataset(options.seed, options.rows, options.rows_per_resource, shape=options.shape)
        runner, base_url = await start_site(SandboxApp(options, dataset, Stats()), options.host, options.port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        announce(base_url)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()

    asyncio.run(main())


class SandboxProcess(ClientSettings, DataChanges):
    """The sandbox as a child process (``python -m pmcrm.sandbox --port 0 ...``), with the
    same ground-truth and change methods, spoken over ``/_sandbox/``."""

    def __init__(self, options: SandboxOptions | None = None, **knobs):
        self.options = make_options(options, knobs)
        self._process: subprocess.Popen | None = None
        self._base_url: str | None = None

    def start(self) -> SandboxProcess:
        args = [sys.executable, "-m", "pmcrm.sandbox", *self.options.to_cli_args()]
        self._process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        first_line = self._process.stdout.readline().strip()
        if not first_line.startswith("http://"):
            self._process.kill()
            _, stderr = self._process.communicate()
            raise RuntimeError(f"the sandbox process did not start: {stderr.strip() or first_line}")
        self._base_url = first_line
        return self

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.communicate()
        self._process = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("the sandbox process is not running")
        return self._base_url

    @property
    def pid(self) -> int:
        return self._process.pid

    def _call(self, method: str, route: str, **params) -> object:
        query = urlencode({"api_key": self.api_key, **{k: v for k, v in params.items() if v is not None}})
        with urlopen(Request(f"{self.base_url}/_sandbox/{route}?{query}", method=method), timeout=60) as reply:
            return orjson.loads(reply.read())

    def truth(self, resource_or_path: str) -> list[dict]:
        catalog = load_catalog()
        name = catalog.resources_on(catalog.path_of(resource_or_path))[0].name
        return self._call("GET", f"truth/{name}")

    def stats(self) -> dict:
        return self._call("GET", "stats")

    def reset_stats(self) -> None:
        self._call("POST", "stats/reset")

    def _change(self, kind: str, amount: float, resources: Iterable[str] | None) -> dict[str, list]:
        names = [resources] if isinstance(resources, str) else resources
        return self._call("POST", kind, amount=amount, resources=",".join(names) if names else None)
