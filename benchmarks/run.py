"""`make bench`: pmcrm side by side with the baseline and the floor, in one run.

    .venv/bin/python benchmarks/run.py                      # every scenario, 3 runs each
    .venv/bin/python benchmarks/run.py --quick              # small sizes, 1 run: a smoke test
    .venv/bin/python benchmarks/run.py --scenario latency --scenario ratelimit --runs 5

The sandbox API runs in its own process (SandboxProcess), warmed up (every page served
once) before anything is timed; each measured job runs in a fresh process
(benchmarks/jobs.py), so its peak RSS is its own. Request and 429 counts are the
sandbox's. Times are medians. Prints Markdown tables (benchmarks/README.md holds the
latest) and, with --json, writes every raw measurement.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import click

from pmcrm.sandbox import SandboxOptions, SandboxProcess
from pmcrm.transport import DEFAULT_CONCURRENCY

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from jobs import KEY_VARIABLE
from profiling import py_spy_command, summary

SCENARIOS = ("throughput", "latency", "ratelimit", "memory", "incremental")
RESOURCE_COUNT = 36


@dataclass(frozen=True)
class Plan:
    large: int = 20_000  # rows per resource, scenario 1 and the large memory run
    small: int = 2_000  # rows per resource, scenarios 2, 3, 5 and the small memory run
    baseline_rows: int = 2_000  # the baseline of scenario 1 runs at this size, then scales
    latency: float = 0.05
    rate_limit: float = 20.0
    runs: int = 3
    baseline_runs: int = 1
    concurrency: int = DEFAULT_CONCURRENCY  # the floor's threads: as many as pmcrm's requests in flight
    touch: float = 0.01
    limits: tuple[int, ...] = ()  # scenario 3: only these server limits (default: all of LIMIT_ACCOUNTS)


QUICK = Plan(large=2_000, small=300, baseline_rows=300, runs=1)


class Bench:
    def __init__(self, plan: Plan, echo, profiling: bool = False):
        self.plan, self.echo, self.profiling = plan, echo, profiling
        self.root = Path(tempfile.mkdtemp(prefix="pmcrm-bench-"))
        self.raw: list[dict] = []
        self.profiles: list[str] = []  # py-spy summaries, when `profiling`
        self._cache: dict[tuple, list[dict]] = {}

    @contextmanager
    def sandbox(self, rows: int, **knobs) -> Iterator[SandboxProcess]:
        self.echo(f"  sandbox: {RESOURCE_COUNT} x {rows:,} rows {knobs or ''}")
        with SandboxProcess(SandboxOptions(seed=1, rows=rows, **knobs)) as api:
            # Warm-up: every page rendered and cached once, as a long-running API would have
            # (not under a rate limit: there the waits dwarf rendering).
            if not knobs.get("rate_limit"):
                self.job(api, "floor", {"concurrency": 16}, record=False)
            yield api

    def job(self, api, job: str, params: dict, record: bool = True, label: str = "",
            prefix: list[str] = (), env: dict[str, str] | None = None) -> dict:
        """One job in a fresh process. `keep` keeps its folder (DuckDB file, dlt state) for a
        later job that names it in `workdir_from` (the second sync of scenario 5); `prefix`
        runs it under a profiler; `env` adds environment variables (ab_first_sync.py)."""
        params = dict(params)
        keep = params.pop("keep", False)
        workdir = Path(params.pop("workdir_from", None) or tempfile.mkdtemp(dir=self.root))
        params = {"base_url": api.base_url, "workdir": str(workdir), **params}
        api.reset_stats()
        server_cpu = cpu_seconds(api.pid)
        reply = subprocess.run(
            [*prefix, sys.executable, str(HERE / "jobs.py"), job, json.dumps(params)],
            env={**os.environ, **(env or {}), KEY_VARIABLE: api.api_key}, capture_output=True, text=True,
        )
        if reply.returncode != 0:
            raise RuntimeError(f"{job} failed:\n{reply.stderr[-3000:]}")
        # The job's JSON line is its last; a profiler may print after it.
        result = json.loads([line for line in reply.stdout.splitlines() if line.startswith("{")][-1])
        stats = api.stats()
        result.update(job=job, label=label or job, requests=stats["requests"], throttled=stats["rate_limited"],
                      server_cpu_seconds=cpu_seconds(api.pid) - server_cpu, workdir=str(workdir))
        if not result.get("ok", True):
            raise RuntimeError(f"{label or job} did not succeed: {result.get('error')}")
        if record:
            self.raw.append(result)
            self.echo(f"    {result['label']:<28} {result['seconds']:8.2f} s  {result['rows']:>9,} rows  "
                      f"{result['requests']:>6} requests  {result['throttled']:>4} x 429  "
                      f"{result['max_rss_mb']:6.0f} MB  CPU {result['cpu_seconds']:6.1f} s "
                      f"(sandbox {result['server_cpu_seconds']:5.1f} s)")
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
        return result

    def repeat(self, api, job: str, params: dict, runs: int, label: str) -> list[dict]:
        return [self.job(api, job, params, label=label) for _ in range(runs)]

    def profile(self, api, params: dict, title: str) -> None:
        """One more pmcrm run (not timed) under py-spy; its summary joins the report."""
        raw = self.root / "profile.txt"
        prefix = py_spy_command(raw)
        if not prefix:
            self.echo("  (no py-spy on PATH: pip install py-spy to profile)")
            return
        self.job(api, "pmcrm", params, record=False, prefix=prefix)
        self.profiles.append(f"#### Profile: {title}\n\n{summary(raw)}\n")

    def cached(self, key: tuple, measure) -> list[dict]:
        if key not in self._cache:
            self._cache[key] = measure()
        return self._cache[key]

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux): the sandbox's share of the cores."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def median(results: list[dict], field: str = "seconds") -> float:
    return statistics.median(r[field] for r in results)


def phase_note(results: list[dict]) -> str:
    """Median seconds of extract / normalize / load, where the job reports them."""
    if not all(r.get("phases") for r in results):
        return ""
    return "extract {extract:.1f} + normalize {normalize:.1f} + load {load:.1f} s".format(
        **{step: statistics.median(r["phases"].get(step, 0.0) for r in results)
           for step in ("extract", "normalize", "load")})


def row(name: str, results: list[dict], **extra) -> dict:
    extra.setdefault("note", phase_note(results))
    seconds = median(results)
    return {"job": name, "runs": len(results), "seconds": seconds, "rows": results[0]["rows"],
            "rows_per_s": results[0]["rows"] / seconds, "requests": results[0]["requests"],
            "throttled": max(r["throttled"] for r in results), "cpu": median(results, "cpu_seconds"),
            "rss_mb": median(results, "max_rss_mb"), **extra}


def check(name: str, value: float, limit: float, at_most: bool = True, unit: str = "x") -> dict:
    ok = value <= limit if at_most else value >= limit
    return {"target": name, "value": f"{value:.2f}{unit}", "limit": f"{'<=' if at_most else '>='} {limit:g}{unit}",
            "ok": ok}


# --------------------------------------------------------------------------- scenarios
def throughput(bench: Bench) -> tuple[list[dict], list[dict]]:
    """(1) 36 x large rows, no latency: pmcrm vs baseline vs the floor, DuckDB end to end."""
    plan = bench.plan
    with bench.sandbox(plan.large) as api:
        seq = bench.repeat(api, "floor", {"concurrency": 1}, plan.runs, "floor, sequential")
        par = bench.repeat(api, "floor", {"concurrency": plan.concurrency}, plan.runs,
                           f"floor, {plan.concurrency} threads")
        ours = bench.cached(("pmcrm", plan.large, 0.0), lambda: bench.repeat(api, "pmcrm", {}, plan.runs, "pmcrm"))
        if bench.profiling:
            bench.profile(api, {}, f"pmcrm, {RESOURCE_COUNT} x {plan.large:,} rows, no latency")
    base = baseline_at(bench, plan.baseline_rows)
    scale = plan.large / plan.baseline_rows
    base_seconds = median(base) * scale  # scaled by rows: the baseline does not get faster per row at size
    rows = [row("floor, sequential", seq), row(f"floor, {plan.concurrency} threads", par), row("pmcrm", ours),
            row(f"baseline at {plan.baseline_rows:,} rows", base,
                note="; ".join(filter(None, [phase_note(base),
                                             f"x{scale:g} rows -> {base_seconds:,.0f} s" if scale != 1 else ""])))]
    checks = [check("speed-up over the baseline", base_seconds / median(ours), 5, at_most=False),
              check("time vs sequential floor (issue #14: <= 3.5x)", median(ours) / median(seq), 3.5)]
    return rows, checks


def baseline_at(bench: Bench, rows: int, **knobs) -> list[dict]:
    def measure():
        with bench.sandbox(rows, **knobs) as api:
            return bench.repeat(api, "baseline", {}, bench.plan.baseline_runs, f"baseline at {rows:,} rows")

    return bench.cached(("baseline", rows, tuple(sorted(knobs.items()))), measure)


def latency(bench: Bench) -> tuple[list[dict], list[dict]]:
    """(2) 36 x small rows, every request 50 ms, no rate limit."""
    plan = bench.plan
    with bench.sandbox(plan.small, latency=plan.latency) as api:
        par = bench.repeat(api, "floor", {"concurrency": plan.concurrency}, plan.runs,
                           f"floor, {plan.concurrency} threads")
        ours = bench.repeat(api, "pmcrm", {}, plan.runs, "pmcrm")
        base = bench.repeat(api, "baseline", {}, plan.baseline_runs, "baseline")
    rows = [row(f"floor, {plan.concurrency} threads", par),
            row("pmcrm", ours, note=f"{phase_note(ours)}; {median(ours) / median(par):.2f}x the floor"), row("baseline", base)]
    return rows, [check("speed-up over the baseline", median(base) / median(ours), 10, at_most=False)]


# Rate-limit answers as gateways give them (the sandbox's switches): status, body, Retry-After.
LIMIT_STYLES = {
    "429 + Retry-After": {},
    "429, no Retry-After": {"retry_after": False},
    "403 + string error, no Retry-After": {"rate_limit_status": 403, "rate_limit_body": "string", "retry_after": False},
}
# Rows per resource for each limit: the account of the table (832 requests), 17-166 s ideal.
LIMIT_ACCOUNTS = {5: 2_000, 20: 2_000, 50: 2_000}


def ratelimit(bench: Bench) -> tuple[list[dict], list[dict]]:
    """(3) 50 ms latency, a gateway allowing 5, 20 or 50 requests in any one-second window
    (sliding, strict), answering a refusal in each style of LIMIT_STYLES: pmcrm not told
    the limit, and told it (--rate-limit), then told it again on the same pipeline (the
    nightly case: each resource's last page is known, one request fewer). The ideal is
    the requests the read needs (429s not counted) divided by the limit."""
    plan = bench.plan
    rows, checks = [], []
    for limit, rows_each in LIMIT_ACCOUNTS.items():
        if plan.limits and limit not in plan.limits:
            continue
        rows_each = min(rows_each, plan.small)
        for style, switches in LIMIT_STYLES.items():
            with bench.sandbox(rows_each, latency=plan.latency, rate_limit=limit, **switches) as api:
                found = bench.repeat(api, "pmcrm", {}, 1, f"limit {limit}, {style}, not told")
                told = again = None
                if not switches:
                    told = [bench.job(api, "pmcrm", {"keep": True, "flags": {"rate_limit": limit}},
                                      label=f"limit {limit}, told")]
                    again = [bench.job(api, "pmcrm", {"workdir_from": told[0]["workdir"],
                                                      "flags": {"rate_limit": limit}},
                                       label=f"limit {limit}, told, second sync")]
            for name, results, (most, extra_429) in (
                    (f"limit {limit}/s, {style}: not told", found, (1.10, 1.0)),
                    (f"limit {limit}/s: --rate-limit {limit}", told, (1.05, 0.0)),
                    (f"limit {limit}/s: --rate-limit {limit}, second sync", again, (1.05, 0.0))):
                if results is None:
                    continue
                needed = results[0]["requests"] - results[0]["throttled"]
                ideal = needed / limit
                share = results[0]["throttled"] / results[0]["requests"] * 100
                note = f"ideal {ideal:.1f} s; {needed / results[0]['rows'] * 1000:.1f} requests per 1,000 rows"
                if results is again:
                    ratio = results[0]["seconds"] / told[0]["seconds"]
                    note += (f"; {results[0]['requests']} requests and {ratio:.2f}x the time of the first sync "
                             f"({told[0]['requests']})")
                rows.append(row(name, results, note=note))
                checks.append(check(f"{name}: time vs ideal", median(results) / ideal, most))
                checks.append(check(f"{name}: 429 share", share, extra_429, unit="%") if extra_429 else
                              check(f"{name}: 429s", results[0]["throttled"], 0, unit=""))
    return rows, checks


def memory(bench: Bench) -> tuple[list[dict], list[dict]]:
    """(4) peak RSS of pmcrm's process at 36 x small and 36 x large rows, no latency."""
    plan = bench.plan
    results = {}
    for rows_each in (plan.small, plan.large):
        def measure(rows_each=rows_each):
            with bench.sandbox(rows_each) as api:
                return bench.repeat(api, "pmcrm", {}, plan.runs, "pmcrm")
        results[rows_each] = bench.cached(("pmcrm", rows_each, 0.0), measure)
    small, large = (median(results[n], "max_rss_mb") for n in (plan.small, plan.large))
    rows = [row(f"pmcrm, {RESOURCE_COUNT} x {n:,}", results[n]) for n in (plan.small, plan.large)]
    checks = [check("peak RSS, large / small", large / small, 1.2),
              check("peak RSS at large", large, 400, unit=" MB"),
              check(f"small sync ({RESOURCE_COUNT} x {plan.small:,}, no latency) time", median(results[plan.small]), 3,
                    unit=" s")]
    return rows, checks


def incremental(bench: Bench) -> tuple[list[dict], list[dict]]:
    """(5) full sync, touch 1% of rows, second sync with and without server filtering (the
    platform's filter[...]/order_by[...] syntax, verified on every row), and against an API
    that ignores the filter (verification notices, the resource is read in full)."""
    plan = bench.plan
    server = {"server_filter": "platform", "server_sort": "platform"}
    with bench.sandbox(plan.small, server_filter=True) as api:
        full = bench.job(api, "pmcrm", {"keep": True}, label="full sync")
        full_filtered = bench.job(api, "pmcrm", {"keep": True, "flags": server},
                                  label="full sync, server filter")
        api.touch(plan.touch)
        plain = bench.job(api, "pmcrm", {"workdir_from": full["workdir"]}, label="second sync")
        filtered = bench.job(api, "pmcrm", {"workdir_from": full_filtered["workdir"], "flags": server},
                             label="second sync, server filter")
    with bench.sandbox(plan.small, server_filter_ignored=True) as api:
        full_ignored = bench.job(api, "pmcrm", {"keep": True, "flags": server},
                                 label="full sync, filter ignored by the API")
        api.touch(plan.touch)
        ignored = bench.job(api, "pmcrm", {"workdir_from": full_ignored["workdir"], "flags": server},
                            label="second sync, filter ignored by the API")
    rows = [row("full sync", [full]), row("full sync, server filter", [full_filtered]),
            row(f"second sync ({plan.touch:.0%} touched)", [plain],
                note=f"{plain['requests'] / full['requests']:.1%} of the full sync's requests"),
            row("second sync, server filter", [filtered],
                note=f"{filtered['requests'] / full_filtered['requests']:.1%} of the full sync's requests"),
            row("second sync, filter ignored by the API", [ignored],
                note=f"{ignored['requests'] / full_ignored['requests']:.1%} of the full sync's requests "
                     "(noticed on page 1, then read in full)")]
    # The 10 resources without an update timestamp are read in full on every sync: what a
    # filter can save is on the 26 others. Changes that fit one page cost one request each.
    full_reads, incremental_resources = full_read_requests(plan.small)
    per_resource = (filtered["requests"] - full_reads) / incremental_resources
    return rows, [check("second sync, server filter: requests per incremental resource "
                        f"(beyond the {full_reads} of the full reads)", per_resource, 1.1, unit="")]


def full_read_requests(rows_each: int) -> tuple[int, int]:
    """Requests that reading the resources without a cursor takes on a second sync (their
    last pages known), and how many resources have a cursor."""
    from pmcrm.declarations import RESOURCES
    from pmcrm.pages import requests_for

    plain = [spec for spec in RESOURCES if spec.cursor is None]
    known = sum(requests_for(pages_of(rows_each, spec.page_size), last_page_known=True) for spec in plain)
    return known, len(RESOURCES) - len(plain)


def page_sizes() -> list[int]:
    from pmcrm.declarations import RESOURCES

    return [spec.page_size for spec in RESOURCES]


def pages_of(rows: int, page_size: int) -> int:
    return max(1, -(-rows // page_size))


RUNNERS = {"throughput": throughput, "latency": latency, "ratelimit": ratelimit, "memory": memory,
           "incremental": incremental}
TITLES = {
    "throughput": "(1) Throughput: 36 x {large:,} rows, no latency (DuckDB end to end)",
    "latency": "(2) Latency: 36 x {small:,} rows, {latency_ms:g} ms per request",
    "ratelimit": "(3) Rate limits: 5, 20 and 50 requests/s (sliding window), three answer styles, {latency_ms:g} ms",
    "memory": "(4) Memory: peak RSS at 36 x {small:,} and 36 x {large:,} rows",
    "incremental": "(5) Incremental: second sync after touching {touch:.0%} of 36 x {small:,} rows",
}


def markdown(rows: list[dict]) -> str:
    lines = ["| job | runs | time (median) | rows/s | requests | 429s | CPU | peak RSS | note |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r['job']} | {r['runs']} | {r['seconds']:.2f} s | {r['rows_per_s']:,.0f} | "
                     f"{r['requests']:,} | {r['throttled']} | {r['cpu']:.1f} s | {r['rss_mb']:.0f} MB | "
                     f"{r.get('note', '')} |")
    return "\n".join(lines)


@click.command()
@click.option("--scenario", "scenarios", multiple=True, type=click.Choice(SCENARIOS),
              help="Run only these (repeatable); default: all.")
@click.option("--quick", is_flag=True, help=f"Small sizes and one run: {QUICK}.")
@click.option("--runs", type=click.IntRange(1), help="Runs per pmcrm/floor measurement (median taken).")
@click.option("--baseline-runs", type=click.IntRange(1), help="Runs of the (slow) baseline.")
@click.option("--full-baseline", is_flag=True, help="Run scenario 1's baseline at full size instead of scaling.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write every measurement here.")
@click.option("--large", type=click.IntRange(1), help="Rows per resource of scenario 1 and the large memory run.")
@click.option("--profile", is_flag=True, help="Profile one more pmcrm run of scenario 1 with py-spy.")
@click.option("--limit", "limits", multiple=True, type=int, help="Scenario 3: only this server limit (repeatable).")
def main(scenarios, quick, runs, baseline_runs, full_baseline, json_path, large, profile, limits) -> None:
    plan = QUICK if quick else Plan()
    overrides = {k: v for k, v in {"runs": runs, "baseline_runs": baseline_runs, "large": large,
                                   "limits": tuple(limits)}.items() if v}
    if full_baseline:
        overrides["baseline_rows"] = plan.large
    plan = Plan(**{**plan.__dict__, **overrides})
    bench = Bench(plan, lambda text: click.echo(text, err=True), profiling=profile)
    report, all_checks = [], []
    started = time.monotonic()
    try:
        for name in scenarios or SCENARIOS:
            title = TITLES[name].format(**plan.__dict__, latency_ms=plan.latency * 1000)
            click.echo(title, err=True)
            rows, checks = RUNNERS[name](bench)
            report.append(f"### {title}\n\n{markdown(rows)}\n")
            all_checks += [{**c, "scenario": name} for c in checks]
    finally:
        bench.close()
    click.echo(f"\n{machine()}\n")
    click.echo("\n".join(report))
    click.echo("### Targets\n\n| scenario | target | measured | target | met |\n|---|---|---:|---:|---|")
    for c in all_checks:
        click.echo(f"| {c['scenario']} | {c['target']} | {c['value']} | {c['limit']} | {'yes' if c['ok'] else 'NO'} |")
    click.echo("\n".join(["", *bench.profiles]))
    click.echo(f"\n(benchmark took {time.monotonic() - started:,.0f} s)")
    if json_path:
        Path(json_path).write_text(json.dumps({"plan": plan.__dict__, "results": bench.raw, "checks": all_checks},
                                              indent=2, default=str))


def machine() -> str:
    import dlt

    memory_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
    return (f"Machine: {os.cpu_count()} cores, {memory_kb / 2**20:.0f} GiB RAM, Python "
            f"{sys.version.split()[0]}, dlt {dlt.__version__}, load average at the end "
            f"{os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
