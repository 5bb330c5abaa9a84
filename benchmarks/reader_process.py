"""A prototype measurement, not part of pmcrm: does scenario 1 get faster when the read runs
in a second process? (benchmarks/README.md, run K.)

    .venv/bin/python benchmarks/reader_process.py --rows 20000 --pairs 2

Each variant runs in a fresh process against one warm sandbox, alternating. `in-process`
reads the 36 resources with pmcrm's own reader (`_ResourceRun.tables`: transport, pages,
conversion) inside dlt's extract, as `pmcrm sync` does; `reader-process` forks a child
before dlt starts, reads there, and sends every typed table to the parent as an arrow IPC
stream through a `multiprocessing` queue, where dlt's resources yield them. Both load into
DuckDB (replace, parquet) with no incremental, deletions, views or run row, so they
compare the split alone. `--threads PAGES/READERS` sets the requests in flight and the
threads reading resources (default 16/10, pmcrm's).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import queue
import resource
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import click
import pyarrow as pa

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from alternating import alternate
from jobs import KEY_VARIABLE

DONE = None  # a resource's last message


def readers(base_url: str, api_key: str, pages: int):
    """pmcrm's reader for every resource, first sync, its source state a plain dict."""
    import dlt

    from pmcrm import source
    from pmcrm.client import ApiClient
    from pmcrm.pages import PageBudget
    from pmcrm.transport import HttpSettings

    state: dict = {}
    dlt.current.source_state = lambda: state  # outside dlt's extract (the child) as inside
    http = HttpSettings(concurrency=pages)
    plan, record = source.ReadOptions().parsed(), source.RunRecord()
    client = ApiClient(base_url, api_key, http, record.stats, "", source.endpoint_tails())
    pool = ThreadPoolExecutor(pages, thread_name_prefix="pmcrm-page")
    budget = PageBudget(source.READ_AHEAD_PER_CONNECTION * pages)
    return {spec.name: source._ResourceRun(spec, client, pool, plan, record, budget)
            for spec in source.select_resources(None)}


def read_in_child(channel, base_url: str, api_key: str, pages: int, reading_threads: int) -> None:
    def send(item):
        name, run = item
        try:
            for table in run.tables(since=None):
                sink = pa.BufferOutputStream()
                with pa.ipc.new_stream(sink, table.schema) as writer:
                    writer.write_table(table)
                channel.put((name, sink.getvalue().to_pybytes()))
            channel.put((name, DONE))
        except BaseException as exc:  # noqa: BLE001 - the parent raises it
            channel.put((name, repr(exc)))

    with ThreadPoolExecutor(reading_threads) as pool:
        list(pool.map(send, readers(base_url, api_key, pages).items()))


def child_resources(base_url: str, api_key: str, pages: int, reading_threads: int):
    import dlt

    from pmcrm.source import select_resources

    names = [spec.name for spec in select_resources(None)]
    fork = multiprocessing.get_context("fork")
    channel = fork.Queue(maxsize=64)
    child = fork.Process(target=read_in_child, args=(channel, base_url, api_key, pages, reading_threads))
    child.start()
    inboxes = {name: queue.Queue() for name in names}

    def route() -> None:
        finished = 0
        while finished < len(names):
            name, message = channel.get()
            inboxes[name].put(message)
            finished += not isinstance(message, bytes)

    threading.Thread(target=route, daemon=True).start()

    def tables(name: str):
        while (message := inboxes[name].get()) is not DONE:
            if isinstance(message, str):
                raise RuntimeError(f"{name}: {message}")  # noqa: TRY004 - the reader process failed and said why
            yield pa.ipc.open_stream(message).read_all()

    return [dlt.resource(tables(name), name=name, parallelized=True, write_disposition="replace")
            for name in names], child


def job(mode: str, base_url: str, pages: int, reading_threads: int, workdir: str) -> dict:
    """One sync of the prototype; its seconds and each process's CPU."""
    import dlt

    api_key = os.environ[KEY_VARIABLE]
    started = time.monotonic()
    child = None
    if mode == "reader-process":
        resources, child = child_resources(base_url, api_key, pages, reading_threads)
    else:
        os.environ["EXTRACT__WORKERS"] = str(reading_threads)
        resources = [dlt.resource(run.tables(since=None), name=name, parallelized=True, write_disposition="replace")
                     for name, run in readers(base_url, api_key, pages).items()]
    pipeline = dlt.pipeline("reader_process", destination=dlt.destinations.duckdb(f"{workdir}/prototype.duckdb"),
                            dataset_name="data", pipelines_dir=f"{workdir}/pipelines")
    pipeline.extract(resources, loader_file_format="parquet")
    if child is not None:
        child.join()
    pipeline.normalize()
    pipeline.load()
    seconds = time.monotonic() - started
    rows = pipeline.last_trace.last_normalize_info.row_counts
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"seconds": seconds, "rows": sum(n for table, n in rows.items() if not table.startswith("_dlt")),
            "cpu": own.ru_utime + own.ru_stime, "reader_cpu": children.ru_utime + children.ru_stime}


@click.command()
@click.option("--rows", default=20_000, show_default=True, type=click.IntRange(1), help="Rows per resource.")
@click.option("--pairs", default=2, show_default=True, type=click.IntRange(1), help="Runs of each variant.")
@click.option("--threads", "thread_sets", multiple=True, default=["16/10", "2/1"], show_default=True,
              help="PAGES/READERS: requests in flight / threads reading resources (repeatable).")
@click.option("--job", "job_args", hidden=True, nargs=4, type=(str, str, int, int), default=None)
def main(rows: int, pairs: int, thread_sets: tuple[str, ...], job_args) -> None:
    if job_args:
        mode, base_url, pages, reading_threads = job_args
        with tempfile.TemporaryDirectory() as workdir:
            click.echo(json.dumps(job(mode, base_url, pages, reading_threads, workdir)))
        return
    from run import Bench, Plan

    bench = Bench(Plan(), lambda text: click.echo(text, err=True))
    try:
        with bench.sandbox(rows) as api:
            def measure(mode: str, pages: int, reading_threads: int) -> float:
                reply = subprocess.run(
                    [sys.executable, __file__, "--job", mode, api.base_url, str(pages), str(reading_threads)],
                    env={**os.environ, KEY_VARIABLE: api.api_key}, capture_output=True, text=True, check=True)
                result = json.loads(reply.stdout.splitlines()[-1])
                click.echo(f"  {mode} {pages}/{reading_threads}: {result['seconds']:.2f} s, {result['rows']:,} rows, "
                           f"CPU {result['cpu']:.1f} s here + {result['reader_cpu']:.1f} s in the reader")
                return result["seconds"]

            variants = {}
            for text in thread_sets:
                pages, reading_threads = (int(part) for part in text.split("/"))
                for mode in ("in-process", "reader-process"):
                    variants[f"{mode} {text}"] = (lambda m=mode, p=pages, r=reading_threads: measure(m, p, r))
            seconds = alternate(variants, pairs)
    finally:
        bench.close()
    for label, times in seconds.items():
        click.echo(f"{label:<24} {', '.join(f'{t:.2f}' for t in times)} s")


if __name__ == "__main__":
    main()
