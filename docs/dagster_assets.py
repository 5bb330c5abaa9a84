"""Example Dagster asset: the platform's 36 tables as one asset, one pmcrm run per
materialization, with the run's summary as the asset's metadata.

Put this in your Dagster code location (`dagster dev -f docs/dagster_assets.py`). Needs:

    pip install pmcrm dagster

`pmcrm.run_sync` is the same entry point as `pmcrm sync`: the lock, atomic snapshot swaps,
deleted rows marked, failed runs discarded, unavailable resources named, `_pmcrm_runs`.
A failed sync fails the materialization (`SyncFailedError`, with the exit code).
Settings from the environment or dlt's config, as for the CLI (`PMCRM_BASE_URL`,
`PMCRM_API_KEY`, destination credentials).

`tests/test_orchestrator_examples.py` imports this file with Dagster's decorator stubbed
and materializes the asset against the sandbox, so the example cannot rot.
"""

from __future__ import annotations

from dagster import Definitions, MaterializeResult, MetadataValue, asset

from pmcrm import ReadOptions, SyncRequest, Target, run_sync

TARGET = Target(destination="duckdb", duckdb_file="pmcrm.duckdb", dataset="pmcrm_data")
READ = ReadOptions(timezone="Europe/Berlin")  # the account's time zone


@asset(name="pmcrm_tables", group_name="pmcrm", description="The platform's 36 resources, synced by pmcrm.")
def pmcrm_tables() -> MaterializeResult:
    from pmcrm.settings import resolve_api_key, resolve_base_url

    request = SyncRequest(base_url=resolve_base_url(None), api_key=resolve_api_key(None), read=READ, target=TARGET)
    summary = run_sync(request).raise_for_failure().summary()
    return MaterializeResult(metadata={
        "rows_read": MetadataValue.int(summary["rows_read"]),
        "rows_written": MetadataValue.int(summary["rows_written"]),
        "requests": MetadataValue.int(summary["requests"]),
        "unavailable": MetadataValue.json(summary["unavailable"]),
        "notes": MetadataValue.json(summary["notes"]),
        "run_id": MetadataValue.text(summary["run_id"]),
    })


defs = Definitions(assets=[pmcrm_tables])
