"""The pacer (pmcrm.ratelimit) against the sandbox's gateways, in the discrete-event
simulation the tests use (tests/rate_limit_sim.py): no threads, no sleeping, seconds of
simulated time. One row per gateway, limit and round trip; medians and worst of the seeds.

    .venv/bin/python benchmarks/rate_limit_table.py --limit 1 --limit 2 --limit 3 --gateway sliding --gateway fixed
    .venv/bin/python benchmarks/rate_limit_table.py --limit 3 --told 4 --gateway fixed
    .venv/bin/python benchmarks/rate_limit_table.py --next-run --gateway steady --limit 20

`--next-run`: each seed's sync is followed by the pipeline's next run, which starts from the
limit the first learnt (pmcrm.remembered_limit); the row shows that next run.

A real sync differs by its threads and clock (the benchmark's scenario 3 measures those);
the simulation shows what the pacer's rules do, over many seeds, in seconds.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

import click

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.rate_limit_sim import FixedWindowGateway, SlidingWindowGateway, SteadyGateway, simulate

GATEWAYS = {"sliding": SlidingWindowGateway, "fixed": FixedWindowGateway, "steady": SteadyGateway}


@click.command()
@click.option("--gateway", "gateways", multiple=True, type=click.Choice(sorted(GATEWAYS)), default=("sliding",),
              show_default=True)
@click.option("--limit", "limits", multiple=True, type=click.FloatRange(min=0.1), default=(1.0, 2.0, 3.0, 5.0),
              show_default=True, help="The gateway's requests per second.")
@click.option("--told", type=click.FloatRange(min=0.1), default=None, help="--rate-limit given to pmcrm.")
@click.option("--rtt", "rtts", multiple=True, type=click.FloatRange(min=0.0), default=(0.05, 0.3), show_default=True)
@click.option("--requests", default=832, show_default=True, type=click.IntRange(1),
              help="Requests of the sync (832: 36 x 2,000 rows).")
@click.option("--seeds", default=6, show_default=True, type=click.IntRange(1))
@click.option("--jitter", default=0.02, show_default=True, type=click.FloatRange(min=0.0),
              help="Seconds of latency variation.")
@click.option("--next-run", is_flag=True, help="Show the next run, paced from the limit the first learnt.")
def main(gateways, limits, told, rtts, requests, seeds, jitter, next_run) -> None:
    click.echo(f"{requests} requests, 16 in flight, {seeds} seeds, jitter {jitter * 1000:g} ms"
               + (f", told {told:g}/s" if told else ", not told")
               + (": the next run, from the limit the first learnt" if next_run else "") + "\n")
    click.echo("| gateway | limit | round trip | time vs ideal (median, worst) | refused (median, max) | limit kept at the end |")
    click.echo("|---|---:|---:|---:|---:|---|")
    for gateway in gateways:
        for limit in limits:
            for rtt in rtts:
                outcomes = [simulate(limit, requests, latency=rtt, told=told, seed=seed, jitter=jitter,
                                     gateway_kind=GATEWAYS[gateway]) for seed in range(1, seeds + 1)]
                if next_run:
                    outcomes = [simulate(limit, requests, latency=rtt, told=told, seed=seed, jitter=jitter,
                                         gateway_kind=GATEWAYS[gateway], remembered=first.limiter.learnt)
                                for seed, first in enumerate(outcomes, start=1)]
                ratios = [o.seconds / (requests / limit) for o in outcomes]
                refused = [o.refused for o in outcomes]
                kept = sorted({f"{o.limiter.limit:g}" if o.limiter.limit is not None else "none" for o in outcomes})
                click.echo(f"| {gateway} | {limit:g}/s | {rtt * 1000:g} ms | {statistics.median(ratios):.2f}x, "
                           f"{max(ratios):.2f}x | {statistics.median(refused):.0f}, {max(refused)} | {', '.join(kept)} |")


if __name__ == "__main__":
    main()
