"""A/B of the nightly case: a second full sync (1% of rows touched, one task deleted; with
--quiet nothing changed) of 36 x 2,000 rows into DuckDB, no latency unless --latency -
this checkout against another source tree, alternating, each sync in a fresh process:

    git worktree add /tmp/before <commit>
    .venv/bin/python benchmarks/ab_second_sync.py /tmp/before/src --pairs 5 [--latency 0.05] [--quiet]
        [--server-limit 20 --rows 2000]

With --server-limit the sandbox refuses more than that many requests per second (a sliding
window) and neither sync is told the limit; the second sync's refusals are printed too.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click

sys.path.insert(0, str(Path(__file__).resolve().parent))
from alternating import alternate, report

ONE_SECOND_SYNC = """
import tempfile, time
from pmcrm.sandbox import SandboxOptions
from pmcrm.sandbox.server import SandboxProcess
from pmcrm.pipeline import SyncRequest, run_sync
with SandboxProcess(SandboxOptions(seed=1, rows=ROWS, latency=LATENCY, rate_limit=LIMIT)) as api:
    folder = tempfile.mkdtemp()
    request = SyncRequest.from_flags(base_url=api.base_url, api_key=api.api_key, duckdb_file=folder + "/ab.duckdb",
                                     pipelines_dir=folder + "/pipelines", pipeline_name="ab")
    assert run_sync(request).ok
    if not QUIET:
        api.touch(0.01)
        api.delete(1, resources=["tasks"])
    api.reset_stats()
    started = time.perf_counter()
    result = run_sync(request)
    assert result.ok, result.error
    print(time.perf_counter() - started, api.stats()["rate_limited"], api.stats()["requests"])
"""


def second_sync_seconds(source_tree: str | None, latency: float, quiet: bool, rows: int, limit: float,
                        refusals: list[str]) -> float:
    """The second sync's seconds; its refusals and requests are appended to `refusals`."""
    env = dict(os.environ)
    if source_tree:
        env["PYTHONPATH"] = source_tree  # ahead of the installed (editable) pmcrm
    code = f"LATENCY = {latency!r}\nQUIET = {quiet!r}\nROWS = {rows!r}\nLIMIT = {limit!r}\n{ONE_SECOND_SYNC}"
    reply = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                           check=True)
    seconds, refused, requests = reply.stdout.strip().splitlines()[-1].split()
    refusals.append(f"{refused}/{requests}")
    return float(seconds)


@click.command()
@click.argument("before_src", type=click.Path(exists=True, file_okay=False))
@click.option("--pairs", default=5, show_default=True, type=click.IntRange(1))
@click.option("--after", "after_src", type=click.Path(exists=True, file_okay=False),
              help="Another source tree instead of this checkout.")
@click.option("--latency", default=0.0, show_default=True, type=click.FloatRange(0), help="Seconds per request.")
@click.option("--quiet", is_flag=True, help="Nothing changes between the two syncs (a quiet night).")
@click.option("--rows", default=2000, show_default=True, type=click.IntRange(1), help="Rows per resource.")
@click.option("--server-limit", default=0.0, show_default=True, type=click.FloatRange(0),
              help="The sandbox's requests per second (0: none); not told to pmcrm.")
def main(before_src: str, pairs: int, after_src: str | None, latency: float, quiet: bool, rows: int,
         server_limit: float) -> None:
    refusals: dict[str, list[str]] = {"before": [], "this checkout": []}
    seconds = alternate({label: lambda label=label, tree=tree: second_sync_seconds(
        tree, latency, quiet, rows, server_limit, refusals[label])
        for label, tree in (("before", before_src), ("this checkout", after_src))}, pairs)
    click.echo(report(seconds, faster="this checkout"))
    if server_limit:
        for label, found in refusals.items():
            click.echo(f"{label}: second sync refused/requests {', '.join(found)}")


if __name__ == "__main__":
    main()
