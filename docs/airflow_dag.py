"""Example Airflow DAG: sync the platform into BigQuery every hour with dlt's Airflow helper.

Copy this file into your Airflow `dags/` folder; it is documentation, not imported by
pmcrm's tests (CI has no Airflow). Needs on the workers:

    pip install pmcrm "dlt[bigquery]" apache-airflow

Settings and secrets: dlt's `PipelineTasksGroup` reads the Airflow Variable
`dlt_secrets_toml` (the content of a `.dlt/secrets.toml`) or plain environment variables:

    [sources.pmcrm]
    base_url = "https://api.example.com"
    api_key = "..."                         # never printed: pmcrm masks it in every log line

    [destination.bigquery.credentials]
    project_id = "my-project"
    private_key = "-----BEGIN PRIVATE KEY-----\\n..."
    client_email = "loader@my-project.iam.gserviceaccount.com"

What the helper gives: one Airflow task per resource (`decompose="serialize"`), dlt's logs
in the task log, a fresh local folder per run (state is restored from the destination, so
incremental cursors carry over). What it does not: pmcrm's own `run_sync` extras - the lock
(`max_active_runs=1` does that job here), the `_pmcrm_runs` row, and marking deleted rows.
If you want those, use the `pmcrm_sync` task at the bottom instead (one task, the same
`run_sync` the CLI calls; a failed sync fails the task).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import dlt
from airflow.decorators import dag, task
from dlt.common import pendulum
from dlt.helpers.airflow_helper import PipelineTasksGroup

default_args = {
    "owner": "data",
    "retries": 0,  # pmcrm already retries every request (429, 5xx, cut connections, error 13)
    "execution_timeout": timedelta(hours=2),
}


@dag(
    schedule="@hourly",
    start_date=pendulum.datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,  # two overlapping runs of one pipeline must not share state
    default_args=default_args,
)
def pmcrm_to_bigquery():
    from pmcrm import pmcrm_source

    tasks = PipelineTasksGroup("pmcrm", use_data_folder=False, wipe_local_data=True)
    pipeline = dlt.pipeline(
        pipeline_name="pmcrm",
        dataset_name="pmcrm_data",
        destination="bigquery",
        progress="log",  # dlt's periodic progress lines in the task log
    )
    source = pmcrm_source(
        timezone="Europe/Berlin",  # the account's time zone; base_url and api_key from secrets
        track_deletions=False,  # marking deleted rows is a run_sync step; not run here
    )
    tasks.add_run(
        pipeline,
        source,
        decompose="serialize",  # one task per resource, run one after another
        trigger_rule="all_done",
        retries=0,
        loader_file_format="parquet",  # pmcrm yields Arrow tables: parquet loads them fastest
    )


pmcrm_to_bigquery()


@dag(schedule="@hourly", start_date=datetime(2024, 1, 1), catchup=False, max_active_runs=1)
def pmcrm_sync():
    """Alternative: the CLI's own run (lock, `_pmcrm_runs` row, deletions) as one task."""

    @task
    def sync() -> dict:
        from pmcrm.pipeline import SyncRequest, run_sync
        from pmcrm.runs import run_summary
        from pmcrm.settings import resolve_api_key, resolve_base_url

        request = SyncRequest(
            base_url=resolve_base_url(None),
            api_key=resolve_api_key(None),
            destination="bigquery",
            source_options={"timezone": "Europe/Berlin"},
        )
        result = run_sync(request)
        if not result.ok:
            raise RuntimeError(f"pmcrm sync failed (exit {result.exit_code}): {result.error}")
        return run_summary(result, request)  # shows up as the task's XCom

    sync()


pmcrm_sync()
