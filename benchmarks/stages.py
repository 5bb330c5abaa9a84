"""Scenario 1's stages one at a time, in one thread, without pmcrm's threads or dlt: what
each costs alone, to compare with the same stages inside a sync (benchmarks/README.md,
"Where scenario 1's time goes").

    .venv/bin/python benchmarks/stages.py --rows 20000

Per resource: every page fetched over one keep-alive urllib3 connection (server time
included), parsed by orjson, converted by pmcrm's TableBatcher, and written as parquet to
memory. The sandbox runs in its own process and serves every page once before timing.
"""

from __future__ import annotations

import io
import math
import time
from collections import Counter

import click
import orjson
import pyarrow.parquet as pq
import urllib3

from pmcrm.convert import PageConverter, TableBatcher
from pmcrm.declarations import RESOURCES
from pmcrm.sandbox import SandboxOptions, SandboxProcess


def fetch_pages(http: urllib3.HTTPConnectionPool, api_key: str, spec) -> list[bytes]:
    pages, number, last = [], 1, 1
    while number <= last:
        reply = http.request("GET", spec.path, fields={"api_key": api_key, "page": number, "limit": spec.page_size})
        pages.append(reply.data)
        if number == 1:
            last = math.ceil(orjson.loads(reply.data)["response"]["total"] / spec.page_size)
        number += 1
    return pages


@click.command()
@click.option("--rows", default=20_000, show_default=True, help="Rows per resource.")
def main(rows: int) -> None:
    seconds: Counter = Counter()
    with SandboxProcess(SandboxOptions(seed=1, rows=rows)) as api:
        http = urllib3.HTTPConnectionPool("127.0.0.1", int(api.base_url.rsplit(":", 1)[1].split("/")[0]), maxsize=1)
        for spec in RESOURCES:  # warm-up: every page rendered once
            fetch_pages(http, api.api_key, spec)
        for spec in RESOURCES:
            started = time.perf_counter()
            pages = fetch_pages(http, api.api_key, spec)
            seconds["fetch"] += time.perf_counter() - started
            started = time.perf_counter()
            parsed = [orjson.loads(page)["response"]["items"] for page in pages]
            seconds["orjson"] += time.perf_counter() - started
            started = time.perf_counter()
            batcher, tables = TableBatcher(PageConverter(spec)), []
            for number, items in enumerate(parsed, start=1):
                batcher.add(items, number)
                if batcher.ready:
                    tables.append(batcher.take())
            batcher.flush()
            tables.append(batcher.take())
            seconds["convert"] += time.perf_counter() - started
            started = time.perf_counter()
            for table in tables:
                writer = pq.ParquetWriter(io.BytesIO(), table.schema)
                writer.write_table(table)
                writer.close()
            seconds["parquet"] += time.perf_counter() - started
    for stage, spent in seconds.items():
        click.echo(f"{stage:<8} {spent:6.2f} s")
    click.echo(f"{'total':<8} {sum(seconds.values()):6.2f} s")


if __name__ == "__main__":
    main()
