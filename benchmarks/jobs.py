"""One measured job, run in its own process so its peak memory is its own:

    python benchmarks/jobs.py JOB '{"base_url": ..., ...}'     (key in PMCRM_BENCH_API_KEY)

Prints one JSON line: seconds (the job itself, not interpreter start-up or imports),
rows, client-side requests, CPU seconds and the process's peak RSS (ru_maxrss).

Jobs:
- pmcrm: `pmcrm.pipeline.run_sync`, exactly as `pmcrm sync` runs it, into a DuckDB file.
- baseline: the spec's config with dlt's `rest_api_source`, dlt's defaults (baseline.py).
- floor: every page of every resource fetched and parsed in a tight loop, nothing
  stored: `requests` keep-alive sessions + orjson, pmcrm's own HTTP stack. With
  `concurrency` > 1 the same pages go through a thread pool of that size.
"""

from __future__ import annotations

import json
import math
import os
import resource
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
KEY_VARIABLE = "PMCRM_BENCH_API_KEY"


def phases(pipeline) -> dict[str, float]:
    """Seconds per dlt step of the last run (extract, normalize, load)."""
    steps = pipeline.last_trace.steps if pipeline.last_trace else []
    return {s.step: (s.finished_at - s.started_at).total_seconds() for s in steps
            if s.step in ("extract", "normalize", "load") and s.finished_at}


def pmcrm_job(params: dict, api_key: str) -> dict:
    import dlt

    from pmcrm.pipeline import SyncRequest, run_sync

    workdir = Path(params["workdir"])
    request = SyncRequest.from_flags(
        base_url=params["base_url"],
        api_key=api_key,
        duckdb_file=str(workdir / "pmcrm.duckdb"),
        pipelines_dir=str(workdir / "pipelines"),
        pipeline_name="bench",
        **params.get("flags", {}),
    )
    started = time.perf_counter()
    result = run_sync(request)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "phases": phases(dlt.attach(pipeline_name=request.pipeline_name, pipelines_dir=request.pipelines_dir)),
        "ok": result.ok,
        "error": result.error,
        "rows": sum(result.rows.values()),
        "client_requests": result.stats.requests,
        "retries": dict(result.stats.retries),
    }


def baseline_job(params: dict, api_key: str) -> dict:
    import dlt
    from baseline import baseline_source

    workdir = Path(params["workdir"])
    pipeline = dlt.pipeline(
        pipeline_name="baseline",
        destination=dlt.destinations.duckdb(str(workdir / "baseline.duckdb")),
        dataset_name="baseline_data",
        pipelines_dir=str(workdir / "pipelines"),
    )
    started = time.perf_counter()
    pipeline.run(baseline_source(params["base_url"], api_key))
    seconds = time.perf_counter() - started
    counts = pipeline.last_trace.last_normalize_info.row_counts
    rows = sum(n for table, n in counts.items() if not table.startswith("_dlt"))
    return {"seconds": seconds, "phases": phases(pipeline), "ok": True, "rows": rows}


def floor_job(params: dict, api_key: str) -> dict:
    """The physics of a read: every page fetched over keep-alive connections of the
    standard library's http.client and parsed by orjson, nothing kept. Not pmcrm's own
    HTTP stack: the floor must not move when pmcrm's choice of library does."""
    import http.client
    from urllib.parse import urlencode, urlsplit

    import orjson

    from pmcrm.declarations import RESOURCES

    local = threading.local()  # one keep-alive connection per thread
    counted = {"requests": 0, "rows": 0}
    lock = threading.Lock()
    origin = urlsplit(params["base_url"])

    def fetch(path: str, page: int, limit: int) -> dict:
        if not hasattr(local, "connection"):
            local.connection = http.client.HTTPConnection(origin.hostname, origin.port, timeout=60)
        query = urlencode({"api_key": api_key, "page": page, "limit": limit})
        while True:
            local.connection.request("GET", f"{path}?{query}")
            reply = local.connection.getresponse()
            content = reply.read()
            if reply.status != 429:
                break
            time.sleep(float(reply.getheader("Retry-After", "1")))
        body = orjson.loads(content)["response"]
        with lock:
            counted["requests"] += 1
            counted["rows"] += len(body["items"])
        return body

    def pages_of(spec) -> list[Callable[[], Any]]:
        first = fetch(spec.path, 1, spec.page_size)
        last = math.ceil(first["total"] / spec.page_size)
        return [lambda n=n: fetch(spec.path, n, spec.page_size) for n in range(2, last + 1)]

    concurrency = params.get("concurrency", 1)
    started = time.perf_counter()
    if concurrency <= 1:
        for spec in RESOURCES:
            for call in pages_of(spec):
                call()
    else:
        with ThreadPoolExecutor(concurrency) as pool:
            rest = [call for calls in pool.map(pages_of, RESOURCES) for call in calls]
            # Nothing kept (the floor stores nothing): map() would hold every page that
            # finished ahead of the one it waits for.
            for _ in pool.map(lambda call: call() and None, rest):
                pass
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "ok": True, "rows": counted["rows"], "client_requests": counted["requests"]}


JOBS = {"pmcrm": pmcrm_job, "baseline": baseline_job, "floor": floor_job}


def main() -> None:
    job, params = sys.argv[1], json.loads(sys.argv[2])
    api_key = os.environ[KEY_VARIABLE]
    cpu = time.process_time()
    result = JOBS[job](params, api_key)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result.update(cpu_seconds=time.process_time() - cpu, max_rss_mb=usage.ru_maxrss / 1024)
    print(json.dumps(result, default=str), flush=True)


if __name__ == "__main__":
    main()
