"""A rate-limited sync, step by step: when the sandbox saw the first and the last request,
and what each of pmcrm's and dlt's steps took around them. Why: the ideal of scenario 3 is
requests / limit, and what a told run spends beyond it is the pacer's margin plus the
steps before the first request and after the last one (benchmarks/README.md, "After run M").

    .venv/bin/python benchmarks/told_timeline.py --rows 2000 --limit 50 --syncs 2

The sandbox (sliding window, 50 ms) runs in this process and notes each request's arrival;
each sync runs in a fresh process (`run_sync`, as the benchmark's jobs), on one pipeline, so
the second sync is the nightly case. Both processes read the same monotonic clock.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections import Counter

import click

from pmcrm.sandbox import Sandbox
from pmcrm.sandbox.stats import Stats

# The sync's process: its settings arrive on stdin (the key never on a command line); it
# wraps the steps worth timing and prints one JSON line of (step, start, seconds).
SYNC = r"""
import functools, json, sys, time
import dlt
import pmcrm.pipeline as pipeline
from dlt.destinations.job_client_impl import SqlJobClientBase
from dlt.destinations.impl.duckdb.duck import DuckDbCopyJob

steps = []

def timed(owner, name, label):
    original = getattr(owner, name)
    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        started = time.monotonic()
        try:
            return original(*args, **kwargs)
        finally:
            steps.append((label, started, time.monotonic() - started))
    setattr(owner, name, wrapper)

for name in ("pmcrm_source", "append_first_loads", "apply_deletions", "refresh_views", "record_run"):
    timed(pipeline, name, name)
for name in ("sync_destination", "extract", "normalize", "load"):
    timed(dlt.Pipeline, name, "dlt " + name)
timed(SqlJobClientBase, "update_stored_schema", "load: tables created or altered")
timed(DuckDbCopyJob, "run", "load: one table's insert")
timed(pipeline.DuckDbHold, "close", "DuckDB file closed")

settings = json.loads(sys.stdin.read())
request = pipeline.SyncRequest.from_flags(**settings)
started = time.monotonic()
result = pipeline.run_sync(request)
print(json.dumps({"started": started, "finished": time.monotonic(), "ok": result.ok, "steps": steps}))
"""


def run_one(base_url: str, api_key: str, workdir: str, flags: dict) -> dict:
    settings = {"base_url": base_url, "api_key": api_key, "duckdb_file": f"{workdir}/timeline.duckdb",
                "pipelines_dir": f"{workdir}/pipelines", "pipeline_name": "timeline", **flags}
    done = subprocess.run([sys.executable, "-c", SYNC], input=json.dumps(settings), capture_output=True,
                          text=True, check=False)
    if done.returncode:
        raise click.ClickException(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(sync: dict, arrivals: list[float], limit: float, refused: int) -> None:
    start, first, last = sync["started"], arrivals[0], arrivals[-1]
    ideal = len(arrivals) / limit
    total = sync["finished"] - start
    click.echo(f"{len(arrivals)} requests, {refused} refused; run_sync {total:.2f} s against an ideal of "
               f"{ideal:.2f} s ({total / ideal:.3f}x)")
    click.echo(f"  before the first request {first - start:.3f} s; first to last {last - first:.2f} s "
               f"({(last - first) / max(1, len(arrivals) - 1) * 1000:.1f} ms apart); "
               f"after the last {sync['finished'] - last:.3f} s")
    repeated = Counter(label for label, _, _ in sync["steps"])
    summed: dict[str, list[float]] = {}
    for label, at, seconds in sync["steps"]:
        summed.setdefault(label, [at, 0.0])[1] += seconds
    for label, (at, seconds) in sorted(summed.items(), key=lambda item: item[1][0]):
        times = f" (x{repeated[label]})" if repeated[label] > 1 else ""
        click.echo(f"  {at - start:7.3f} s  {label}{times}: {seconds:.3f} s")


@click.command()
@click.option("--rows", default=2000, show_default=True, help="Rows per resource.")
@click.option("--limit", default=50.0, show_default=True, help="The sandbox's requests per second.")
@click.option("--latency", default=0.05, show_default=True, help="Seconds the sandbox adds to each request.")
@click.option("--syncs", default=2, show_default=True, help="Syncs one after another on one pipeline.")
@click.option("--told/--not-told", default=True, show_default=True, help="Pass --rate-limit equal to the limit.")
def main(rows: int, limit: float, latency: float, syncs: int, told: bool) -> None:
    arrivals: list[float] = []
    counted = Stats.request

    def noting(stats: Stats, path: str | None) -> None:
        arrivals.append(time.monotonic())
        counted(stats, path)

    Stats.request = noting  # the sandbox's own counter, with the arrival time noted first
    flags = {"rate_limit": limit} if told else {}
    with tempfile.TemporaryDirectory() as workdir, Sandbox(rows=rows, latency=latency, rate_limit=limit) as api:
        for number in range(1, syncs + 1):
            arrivals.clear()
            api.reset_stats()
            sync = run_one(api.base_url, api.api_key, workdir, flags)
            click.echo(f"sync {number}:")
            report(sync, arrivals, limit, api.stats()["rate_limited"])


if __name__ == "__main__":
    main()
