"""A/B of a first sync (scenario 1's shape: 36 x ROWS rows, DuckDB end to end, no latency
unless --latency) between variants, alternating so that a VM's drifting speed falls on
all alike, each sync in a fresh process against one warm sandbox (run.py's Bench):

    .venv/bin/python benchmarks/ab_first_sync.py --variant default --variant 'one-worker EXTRACT__WORKERS=1'
    .venv/bin/python benchmarks/ab_first_sync.py --variant default --variant 'before PYTHONPATH=/tmp/before/src'
    .venv/bin/python benchmarks/ab_first_sync.py --rows 2000 --variant default --variant 'four concurrency=4'
    .venv/bin/python benchmarks/ab_first_sync.py --rows 2000 --latency 0.05 --server-limit 20 \
        --variant 'not-told' --variant 'told rate_limit=20'
    .venv/bin/python benchmarks/ab_first_sync.py --second --rows 2000 --latency 0.05 --server-limit 20 \
        --variant 'told rate_limit=20' --variant 'before PYTHONPATH=/tmp/before/src rate_limit=20'

`--second` times the sync after a first one on the same pipeline (not timed), nothing
changed in between: the nightly case.

A variant is a label and KEY=VALUE settings: an upper-case KEY is an environment variable
(dlt reads its settings there: DATA_WRITER__FILE_MAX_ITEMS, EXTRACT__WORKERS, ...;
PYTHONPATH puts another source tree, a `git worktree` of an older commit, ahead of this
checkout), a lower-case one a `pmcrm sync` setting (SyncRequest.from_flags; the value is
read as JSON when it parses, else as text). Prints each run, then medians and ratios to
the first variant. Noise on a shared 2-core VM is +-1.5 s at 20,000 rows: use pairs >= 4.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

import click

sys.path.insert(0, str(Path(__file__).resolve().parent))
from alternating import alternate
from run import Bench, Plan


def parse_variant(text: str) -> tuple[str, dict[str, str], dict]:
    label, *settings = text.split()
    env, flags = {}, {}
    for setting in settings:
        key, sep, value = setting.partition("=")
        if not sep:
            raise click.BadParameter(f"{setting!r} in variant {label!r}: write KEY=VALUE")
        if key.isupper():
            env[key] = value
        else:
            try:
                flags[key] = json.loads(value)
            except ValueError:
                flags[key] = value
    return label, env, flags


@click.command()
@click.option("--variant", "variants", multiple=True, required=True,
              help="'LABEL [KEY=VALUE ...]' (repeatable; the first is the reference).")
@click.option("--rows", default=20_000, show_default=True, type=click.IntRange(1), help="Rows per resource.")
@click.option("--pairs", default=4, show_default=True, type=click.IntRange(1), help="Runs of each variant.")
@click.option("--latency", default=0.0, show_default=True, type=click.FloatRange(0), help="Seconds per request.")
@click.option("--server-limit", type=click.IntRange(1), default=None,
              help="The sandbox allows this many requests in any one second (a variant's rate_limit=N tells pmcrm).")
@click.option("--second", is_flag=True,
              help="Time the second sync instead, on the first one's pipeline, nothing changed in between.")
def main(variants: tuple[str, ...], rows: int, pairs: int, latency: float, server_limit: int | None,
         second: bool) -> None:
    parsed = [parse_variant(text) for text in variants]
    bench = Bench(Plan(), lambda text: click.echo(text, err=True))
    runs: dict[str, list[dict]] = {label: [] for label, _, _ in parsed}
    try:
        knobs = {"latency": latency} if latency else {}
        if server_limit:
            knobs.update(rate_limit=server_limit, rate_limit_window="sliding")
        with bench.sandbox(rows, **knobs) as api:
            def measure(label, env, flags):
                params = {"flags": flags}
                if second:
                    first = bench.job(api, "pmcrm", {"keep": True, **params}, record=False, env=env)
                    params["workdir_from"] = first["workdir"]
                result = bench.job(api, "pmcrm", params, label=label, env=env)
                runs[label].append(result)
                return result["seconds"]

            alternate({label: (lambda l=label, e=env, f=flags: measure(l, e, f)) for label, env, flags in parsed},
                      pairs)
    finally:
        bench.close()
    reference = statistics.median(r["seconds"] for r in runs[parsed[0][0]])
    limited = f", the API allowing {server_limit} requests/s" if server_limit else ""
    which = "second sync (nothing changed)" if second else "first sync"
    click.echo(f"36 x {rows:,} rows, {latency * 1000:g} ms per request{limited}, {which}, {pairs} runs each (medians):")
    for label, results in runs.items():
        seconds = statistics.median(r["seconds"] for r in results)
        phases = {step: statistics.median(r["phases"].get(step, 0.0) for r in results)
                  for step in ("extract", "normalize", "load")}
        click.echo(f"  {label:<14} {seconds:6.2f} s ({reference / seconds:.2f}x as fast as {parsed[0][0]}), "
                   + ", ".join(f"{step} {value:.2f}" for step, value in phases.items())
                   + f"; CPU {statistics.median(r['cpu_seconds'] for r in results):.1f} s, peak "
                   f"{statistics.median(r['max_rss_mb'] for r in results):.0f} MB; runs: "
                   + ", ".join(f"{r['seconds']:.2f}" for r in results))


if __name__ == "__main__":
    main()
