"""Pages per second the sandbox serves to one keep-alive client (the number in
``src/pmcrm/sandbox/server.py``). From the repository's root:

    .venv/bin/python benchmarks/sandbox_speed.py --rows 20000 --resource tasks --pages 4000 --repeat 5

Starts a sandbox (in this process, or with ``--separate-process`` in a child
process), walks every page once to render and cache it, then times ``--pages``
requests cycling over them with one ``http.client`` connection that reads each
body whole without parsing it: the client's JSON work is not the server's.
Prints the median of ``--repeat`` runs.
"""

from __future__ import annotations

import os
import statistics
import time

import click

from pmcrm.sandbox import Sandbox, SandboxProcess
from pmcrm.sandbox.catalog import load_catalog
from pmcrm.sandbox.raw_client import SandboxClient


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pages_per_second(base_url: str, api_key: str, path: str, pages: int, limit: int = 100) -> tuple[float, int]:
    """Time ``pages`` sequential GETs over one connection; return (pages/s, mean bytes per page)."""
    client = SandboxClient(base_url, api_key)
    sizes = []
    while (reply := client.get(path, page=len(sizes) + 1, limit=limit)).body[:80].find(b'"count":0') < 0:
        sizes.append(len(reply.body))  # the warm-up walk renders and caches every page
    last_page = max(1, len(sizes))
    started = time.perf_counter()
    for i in range(pages):
        reply = client.get(path, page=i % last_page + 1, limit=limit)
        if reply.status != 200:
            raise RuntimeError(f"HTTP {reply.status}: {reply.body[:200]!r}")
    elapsed = time.perf_counter() - started
    client.close()
    return pages / elapsed, sum(sizes) // last_page


@click.command()
@click.option("--rows", default=20000, show_default=True, help="Rows of the measured resource.")
@click.option("--resource", default="tasks", show_default=True)
@click.option("--pages", default=4000, show_default=True, help="Timed requests per run.")
@click.option("--repeat", default=3, show_default=True, help="Runs; the median is printed.")
@click.option("--separate-process", is_flag=True, help="Serve from a child process instead of a thread.")
def main(rows: int, resource: str, pages: int, repeat: int, separate_process: bool) -> None:
    runner = SandboxProcess if separate_process else Sandbox
    path = load_catalog().path_of(resource)
    with runner(rows_per_resource={resource: rows}, rows=10) as sandbox:
        pages_per_second(sandbox.base_url, sandbox.api_key, path, 100)  # generate and cache first
        server_cpu, client_cpu = (cpu_seconds(sandbox.pid) if separate_process else 0.0), time.process_time()
        runs = [pages_per_second(sandbox.base_url, sandbox.api_key, path, pages) for _ in range(repeat)]
        server_cpu = (cpu_seconds(sandbox.pid) if separate_process else 0.0) - server_cpu
        client_cpu = time.process_time() - client_cpu
    rates = [rate for rate, _ in runs]
    where = "a child process" if separate_process else "a thread of the client's process"
    click.echo(f"{statistics.median(rates):,.0f} pages/s median of {', '.join(f'{r:,.0f}' for r in rates)} "
               f"({resource}, 100 rows and ~{runs[0][1] // 1024} KiB per page, server in {where})")
    if separate_process:
        timed = pages * repeat
        click.echo(f"CPU per page: server {server_cpu / timed * 1e6:,.0f} us, client {client_cpu / timed * 1e6:,.0f} us"
                   " (the client only reads the bytes: a real one also parses them)")


if __name__ == "__main__":
    main()
