"""PostgreSQL next to DuckDB: one table (tasks), a first full sync and a second sync after 1%
of the rows changed, each sync in a fresh process (its peak RSS is its own).

    .venv/bin/python benchmarks/postgres.py                    # 100,000 rows
    .venv/bin/python benchmarks/postgres.py --million          # 100,000 and 1,000,000 rows
    .venv/bin/python benchmarks/postgres.py --rows 20000 --formats parquet,csv,insert_values

The sandbox API runs in its own process (SandboxProcess), every page served once before
anything is timed. Each sync is `pmcrm.pipeline.run_sync`, exactly what
`pmcrm sync --resources tasks --quiet` runs. PostgreSQL is the server at
$PMCRM_BENCH_POSTGRES (default postgresql://postgres:trust@127.0.0.1:5432/test); its own
memory is not counted (it is another process), the ADBC driver's is (it runs in pmcrm's).
`--formats` first measures PostgreSQL's first sync once per load file format, side by side
(how the format in src/pmcrm/destinations.py was chosen). Not part of the tests.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import click
import requests

from pmcrm.sandbox import SandboxOptions, SandboxProcess

HERE = Path(__file__).resolve()
RESOURCE = "tasks"
PAGE_SIZE = 100  # tasks' page size (the sandbox's maximum)
DEFAULT_POSTGRES = "postgresql://postgres:trust@127.0.0.1:5432/test"
POSTGRES_VARIABLE = "PMCRM_BENCH_POSTGRES"
KEY_VARIABLE = "PMCRM_BENCH_API_KEY"
DESTINATIONS = ("duckdb", "postgres")


# --------------------------------------------------------------------------- the child
def sync_job(params: dict) -> dict:
    """One `run_sync` of tasks; seconds per part of the run from pmcrm's own steps."""
    import pmcrm.destinations
    import pmcrm.pipeline as pipeline_module
    from pmcrm.pipeline import SyncRequest, run_sync

    if params.get("file_format"):  # --formats: the format under test instead of pmcrm's choice
        pmcrm.destinations.POSTGRES_FILE_FORMAT = params["file_format"]
    marks: list[tuple[str, float]] = []
    timed(pipeline_module, "run_steps", marks, "dlt steps")
    timed(pipeline_module, "apply_deletions", marks, "deletions")
    timed(pipeline_module, "refresh_views", marks, "views")
    enter = pipeline_module.StepTracker.enter

    def enter_and_mark(self, name: str) -> None:
        marks.append((name, time.perf_counter()))
        enter(self, name)

    pipeline_module.StepTracker.enter = enter_and_mark
    workdir = Path(params["workdir"])
    request = SyncRequest.from_flags(
        base_url=params["base_url"], api_key=os.environ[KEY_VARIABLE], resources=[RESOURCE],
        destination=params["destination"], dataset=params["dataset"],
        duckdb_file=str(workdir / "bench.duckdb"), pipelines_dir=str(workdir / "pipelines"),
        pipeline_name="bench_pg",
    )
    started = time.perf_counter()
    result = run_sync(request)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "ok": result.ok, "error": result.error, "rows": sum(result.rows.values()),
            "written": sum(result.written.values()), "notes": result.notes, "parts": parts(marks)}


def timed(module, name: str, marks: list, label: str) -> None:
    """Wrap module.name so that its start and end are marked."""
    original = getattr(module, name)

    def wrapper(*args, **kwargs):
        marks.append((label, time.perf_counter()))
        try:
            return original(*args, **kwargs)
        finally:
            marks.append((f"end {label}", time.perf_counter()))

    setattr(module, name, wrapper)


def parts(marks: list[tuple[str, float]]) -> dict[str, float]:
    """Seconds of reading (extract), normalizing, loading, deletions and views."""
    at = dict(marks)
    ends = {"reading": "normalizing", "normalizing": "loading", "loading": "end dlt steps",
            "deletions": "end deletions", "views": "end views"}
    return {name: at[end] - at[name] for name, end in ends.items() if name in at and end in at}


def child_main(params: dict) -> None:
    cpu = time.process_time()
    result = sync_job(params)
    result.update(cpu_seconds=time.process_time() - cpu,
                  max_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(result, default=str), flush=True)


# --------------------------------------------------------------------------- the parent
class Bench:
    def __init__(self, postgres_url: str, echo):
        self.postgres_url, self.echo = postgres_url, echo
        self.root = Path(tempfile.mkdtemp(prefix="pmcrm-bench-pg-"))
        self.datasets: list[str] = []

    def sync(self, api: SandboxProcess, destination: str, workdir: Path, dataset: str, label: str,
             file_format: str | None = None) -> dict:
        params = {"base_url": api.base_url, "destination": destination, "workdir": str(workdir),
                  "dataset": dataset, "file_format": file_format}
        env = {**os.environ, KEY_VARIABLE: api.api_key, "DESTINATION__POSTGRES__CREDENTIALS": self.postgres_url}
        reply = subprocess.run([sys.executable, str(HERE), "--job", json.dumps(params)], env=env,
                               capture_output=True, text=True)
        if reply.returncode != 0:
            raise RuntimeError(f"{label} failed:\n{reply.stderr[-3000:]}")
        result = json.loads([line for line in reply.stdout.splitlines() if line.startswith("{")][-1])
        result.update(label=label, destination=destination, stderr=reply.stderr.strip())
        p = result["parts"]
        self.echo(f"    {label:<34} {result['seconds']:7.2f} s  {result['rows']:>9,} rows "
                  f"({result['written']:,} written)  {result['max_rss_mb']:5.0f} MB  load {p.get('loading', 0):.2f} s"
                  f"  deletions {p.get('deletions', 0):.2f} s" + ("" if result["ok"] else f"  FAILED: {result['error']}"))
        return result

    def settle(self, limit: float = 300.0) -> None:
        """Let PostgreSQL finish what the first load set off, as the next day's sync would
        find it: a checkpoint (the loaded pages written out), then no autovacuum worker for
        5 s. Without this the second sync at 1,000,000 rows ran alongside the server's
        writing and its load step took 2.3 s; with it 1.6 s (one run each)."""
        import psycopg2

        started = time.monotonic()
        with psycopg2.connect(self.postgres_url) as conn, conn.cursor() as cur:
            conn.autocommit = True
            cur.execute("CHECKPOINT")
            quiet_since = None
            while time.monotonic() - started < limit:
                cur.execute("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'")
                if cur.fetchone()[0]:
                    quiet_since = None
                elif quiet_since is None:
                    quiet_since = time.monotonic()
                elif time.monotonic() - quiet_since >= 5:
                    break
                time.sleep(0.5)
        self.echo(f"    (PostgreSQL settled: checkpoint and autovacuum, {time.monotonic() - started:.0f} s)")

    def dataset(self) -> str:
        name = f"bench_pg_{uuid.uuid4().hex[:8]}"
        self.datasets.append(name)
        return name

    def close(self) -> None:
        import psycopg2

        with psycopg2.connect(self.postgres_url) as conn, conn.cursor() as cur:
            for name in self.datasets:
                cur.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
                cur.execute(f'DROP SCHEMA IF EXISTS "{name}_staging" CASCADE')
        shutil.rmtree(self.root, ignore_errors=True)


def warm_up(api: SandboxProcess, rows: int) -> None:
    """Every page served once (the sandbox renders and caches it), as a long-running API has."""
    url = f"{api.base_url}/v1/task/{RESOURCE}/list"
    pages = max(1, -(-rows // PAGE_SIZE))
    session = requests.Session()

    def get(page: int) -> None:
        session.get(url, params={"api_key": api.api_key, "page": page, "limit": PAGE_SIZE}).raise_for_status()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(get, range(1, pages + 1)))


def measure_size(bench: Bench, rows: int, touch: float) -> list[dict]:
    """First sync into each destination, touch `touch` of the rows, second sync into each."""
    bench.echo(f"  sandbox: {RESOURCE} x {rows:,} rows")
    results = []
    with SandboxProcess(SandboxOptions(seed=1, rows=0, rows_per_resource={RESOURCE: rows})) as api:
        warm_up(api, rows)
        places = {name: (Path(tempfile.mkdtemp(dir=bench.root)), bench.dataset()) for name in DESTINATIONS}
        for name in DESTINATIONS:
            results.append({**bench.sync(api, name, *places[name], f"{name}, first sync"), "rows_at": rows,
                            "kind": "first"})
        bench.settle()
        api.touch(touch, [RESOURCE])
        for name in DESTINATIONS:
            results.append({**bench.sync(api, name, *places[name], f"{name}, second sync ({touch:.0%} touched)"),
                            "rows_at": rows, "kind": "second"})
    return results


def compare_formats(bench: Bench, rows: int, formats: list[str]) -> list[dict]:
    """PostgreSQL's first sync once per load file format, one after the other, same API."""
    bench.echo(f"  formats: {RESOURCE} x {rows:,} rows into PostgreSQL")
    results = []
    with SandboxProcess(SandboxOptions(seed=1, rows=0, rows_per_resource={RESOURCE: rows})) as api:
        warm_up(api, rows)
        for file_format in formats:
            workdir = Path(tempfile.mkdtemp(dir=bench.root))
            results.append(bench.sync(api, "postgres", workdir, bench.dataset(), f"postgres, {file_format}",
                                      file_format=file_format))
    return results


def format_table(results: list[dict]) -> str:
    lines = ["| load file format | time | rows/s | peak RSS | load step | CPU |", "|---|---:|---:|---:|---:|---:|"]
    for r in results:
        failed = "" if r["ok"] else f" (**failed**: {r['error'].splitlines()[0][:120]})"
        lines.append(f"| {r['label'].split(', ')[1]}{failed} | {r['seconds']:.2f} s | {r['rows'] / r['seconds']:,.0f} | "
                     f"{r['max_rss_mb']:.0f} MB | {r['parts'].get('loading', 0):.2f} s | {r['cpu_seconds']:.1f} s |")
    return "\n".join(lines)


def sync_table(results: list[dict]) -> str:
    lines = ["| rows | destination | sync | time | rows/s | peak RSS | read | normalize | load | deletions | views |",
             "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        p = r["parts"]
        failed = "" if r["ok"] else f" **failed**: {r['error'].splitlines()[0][:160]}"
        lines.append(f"| {r['rows_at']:,} | {r['destination']} | {r['kind']}{failed} | {r['seconds']:.2f} s | "
                     f"{r['rows'] / r['seconds']:,.0f} | {r['max_rss_mb']:.0f} MB | {p.get('reading', 0):.2f} s | "
                     f"{p.get('normalizing', 0):.2f} s | {p.get('loading', 0):.2f} s | "
                     f"{p.get('deletions', 0):.2f} s | {p.get('views', 0):.2f} s |")
    return "\n".join(lines)


def checks(results: list[dict]) -> list[str]:
    def one(rows: int, destination: str, kind: str) -> dict:
        return next(r for r in results if (r["rows_at"], r["destination"], r["kind"]) == (rows, destination, kind))

    sizes = sorted({r["rows_at"] for r in results})
    lines = ["| check | measured | target | met |", "|---|---:|---:|---|"]

    def add(name: str, value: float, limit: float, unit: str, text: str) -> None:
        lines.append(f"| {name} | {text} | <= {limit:g}{unit} | {'yes' if value <= limit else 'NO'} |")

    for rows in sizes:
        pg, duck = one(rows, "postgres", "first"), one(rows, "duckdb", "first")
        if not (pg["ok"] and duck["ok"] and one(rows, "postgres", "second")["ok"]):
            lines.append(f"| {rows:,} rows: a sync failed (above) | - | - | NO |")
            continue
        ratio = pg["seconds"] / duck["seconds"]
        add(f"{rows:,} rows: PostgreSQL first sync / DuckDB's", ratio, 1.5, "x", f"{ratio:.2f}x")
        second = one(rows, "postgres", "second")
        share = second["parts"]["loading"] / pg["parts"]["loading"] * 100
        add(f"{rows:,} rows: PostgreSQL second sync's load step / first sync's", share, 1.5, "%",
            f"{share:.1f}% ({second['parts']['loading']:.2f} s / {pg['parts']['loading']:.2f} s)")
    if len(sizes) > 1:
        small, large = sizes[0], sizes[-1]
        for kind in ("first", "second"):
            peak = one(large, "postgres", kind)["max_rss_mb"]
            add(f"{large:,} rows: PostgreSQL {kind} sync's peak RSS", peak, 400, " MB", f"{peak:.0f} MB")
            growth = one(large, "postgres", kind)["max_rss_mb"] / one(small, "postgres", kind)["max_rss_mb"]
            add(f"PostgreSQL {kind} sync's peak RSS, {large:,} / {small:,} rows", (growth - 1) * 100, 20, "%",
                f"+{(growth - 1) * 100:.0f}%")
    return lines


def machine(postgres_url: str) -> str:
    import dlt
    import duckdb
    import psycopg2

    try:
        from adbc_driver_postgresql import __version__ as adbc
    except ImportError:
        adbc = "not installed"
    with psycopg2.connect(postgres_url) as conn, conn.cursor() as cur:
        cur.execute("SHOW server_version")
        server = cur.fetchone()[0]
    memory_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
    return (f"Machine: {os.cpu_count()} cores, {memory_kb / 2**20:.0f} GiB RAM, Python {sys.version.split()[0]}, "
            f"dlt {dlt.__version__}, DuckDB {duckdb.__version__}, PostgreSQL {server} (same machine), "
            f"adbc-driver-postgresql {adbc}; load average at the end {os.getloadavg()[0]:.2f}")


@click.command()
@click.option("--rows", type=click.IntRange(1), default=100_000, show_default=True, help="Rows of tasks.")
@click.option("--million", is_flag=True, help="Also measure at 1,000,000 rows (about 10 minutes more).")
@click.option("--touch", type=click.FloatRange(0, 1), default=0.01, show_default=True,
              help="Share of rows changed before the second sync.")
@click.option("--formats", default="", help="Comma-separated load file formats to compare first (PostgreSQL "
              "first sync at --rows), e.g. parquet,csv,insert_values; alone with --formats-only.")
@click.option("--formats-only", is_flag=True, help="Only the format comparison.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write every measurement here.")
@click.option("--job", hidden=True, help="(internal) run one sync in this process and print its JSON line.")
def main(rows, million, touch, formats, formats_only, json_path, job) -> None:
    if job:
        child_main(json.loads(job))
        return
    postgres_url = os.environ.get(POSTGRES_VARIABLE, DEFAULT_POSTGRES)
    bench = Bench(postgres_url, lambda text: click.echo(text, err=True))
    started = time.monotonic()
    compared, results = [], []
    try:
        if formats:
            compared = compare_formats(bench, rows, [f.strip() for f in formats.split(",") if f.strip()])
        if not formats_only:
            for size in [rows, 1_000_000] if million and rows != 1_000_000 else [rows]:
                results += measure_size(bench, size, touch)
    finally:
        bench.close()
    click.echo(f"\n{machine(postgres_url)}\n")
    if compared:
        click.echo(f"### PostgreSQL first sync by load file format ({RESOURCE} x {rows:,} rows)\n")
        click.echo(format_table(compared) + "\n")
    if results:
        click.echo(f"### {RESOURCE}: first sync, then a second sync after {touch:.0%} of the rows changed\n")
        click.echo(sync_table(results) + "\n")
        click.echo("\n".join(checks(results)))
    noisy = [r for r in compared + results if r["stderr"]]
    for r in noisy:
        click.echo(f"\n(stderr of {r['label']}: {r['stderr'][:500]})")
    click.echo(f"\n(benchmark took {time.monotonic() - started:,.0f} s)")
    if json_path:
        Path(json_path).write_text(json.dumps({"formats": compared, "syncs": results}, indent=2, default=str))


if __name__ == "__main__":
    main()
