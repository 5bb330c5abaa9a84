"""Example Airflow DAG: sync the platform into BigQuery every hour, one pmcrm run per DAG run.

Copy this file into your Airflow `dags/` folder. Needs on the workers:

    pip install pmcrm "dlt[bigquery]" apache-airflow

The task calls `pmcrm.run_sync`, the same entry point as `pmcrm sync`, so it keeps every
guarantee of a sync: the pipeline lock, snapshot tables swapped in atomically, deleted
rows marked, a failed run discarded (no cursor moves past unloaded data), unavailable
resources named, and one `_pmcrm_runs` row per run. A failed sync fails the task
(`SyncFailedError`, with the exit code), and the run's summary is the task's XCom.

Settings and secrets come from the environment or dlt's config, as for the CLI:
`PMCRM_BASE_URL` / `PMCRM_API_KEY` (or `[sources.pmcrm]` in `.dlt/secrets.toml`), and the
destination's credentials under `[destination.bigquery.credentials]`.

`tests/test_orchestrator_examples.py` imports this file with Airflow's decorators stubbed
and runs `pmcrm_sync` against the sandbox, so the example cannot rot.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.decorators import dag, task

from pmcrm import ReadOptions, SyncRequest, Target, run_sync

TARGET = Target(destination="bigquery", dataset="pmcrm_data")
READ = ReadOptions(timezone="Europe/Berlin")  # the account's time zone


@task(retries=0, execution_timeout=timedelta(hours=2))  # pmcrm retries every request itself
def pmcrm_sync() -> dict:
    from pmcrm.settings import resolve_api_key, resolve_base_url

    request = SyncRequest(base_url=resolve_base_url(None), api_key=resolve_api_key(None), read=READ, target=TARGET)
    return run_sync(request).raise_for_failure().summary()


@dag(
    schedule="@hourly",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,  # pmcrm's lock would refuse an overlapping run anyway (exit code 3)
)
def pmcrm_hourly():
    pmcrm_sync()


pmcrm_hourly()
