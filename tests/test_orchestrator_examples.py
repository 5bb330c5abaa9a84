"""The orchestrator examples in docs/ run as written: each is imported with only the
orchestrator's decorators stubbed (no Airflow or Dagster here) and its callable runs a
real sync against the sandbox."""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import pytest

from pmcrm.destinations import Target
from pmcrm.errors import SyncFailedError
from tests.truth import read_table

DOCS = Path(__file__).parents[1] / "docs"


def load_example(name: str, monkeypatch, **stub_modules: types.ModuleType):
    for module_name, module in stub_modules.items():
        monkeypatch.setitem(sys.modules, module_name, module)
    spec = importlib.util.spec_from_file_location(f"example_{name}", DOCS / f"{name}.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    return example


def airflow_stub() -> dict[str, types.ModuleType]:
    """@task leaves the function callable; @dag builds nothing (a DAG's body runs no task)."""
    decorators = types.ModuleType("airflow.decorators")
    decorators.task = lambda **options: (lambda function: function)
    decorators.dag = lambda **options: (lambda function: (lambda: None))
    return {"airflow": types.ModuleType("airflow"), "airflow.decorators": decorators}


class MaterializeResult:
    def __init__(self, metadata):
        self.metadata = metadata


def dagster_stub() -> dict[str, types.ModuleType]:
    dagster = types.ModuleType("dagster")
    dagster.asset = lambda **options: (lambda function: function)
    dagster.MaterializeResult = MaterializeResult
    dagster.MetadataValue = types.SimpleNamespace(int=int, json=lambda v: v, text=str)
    dagster.Definitions = lambda **parts: parts
    return {"dagster": dagster}


@pytest.fixture
def account(sandbox, monkeypatch):
    monkeypatch.setenv("PMCRM_BASE_URL", sandbox.base_url)
    monkeypatch.setenv("PMCRM_API_KEY", sandbox.api_key)
    return sandbox


def test_the_airflow_task_runs_one_sync_and_returns_its_summary(account, monkeypatch, tmp_path):
    example = load_example("airflow_dag", monkeypatch, **airflow_stub())
    example.TARGET = Target(duckdb_file=str(tmp_path / "airflow.duckdb"))
    summary = example.pmcrm_sync()
    assert summary["status"] == "success" and summary["exit_code"] == 0
    assert summary["rows_read"] == sum(len(account.truth(name)) for name in summary["tables"])
    assert len(summary["tables"]) == 36


def test_a_failed_sync_fails_the_airflow_task_with_its_exit_code(account, monkeypatch, tmp_path):
    monkeypatch.setenv("PMCRM_API_KEY", "a-wrong-key-123")
    example = load_example("airflow_dag", monkeypatch, **airflow_stub())
    example.TARGET = Target(duckdb_file=str(tmp_path / "airflow.duckdb"))
    with pytest.raises(SyncFailedError) as failed:
        example.pmcrm_sync()
    assert failed.value.exit_code == 2 and "a-wrong-key-123" not in str(failed.value)


def test_the_dagster_asset_materializes_with_the_runs_summary_as_metadata(account, monkeypatch, tmp_path):
    example = load_example("dagster_assets", monkeypatch, **dagster_stub())
    example.TARGET = Target(duckdb_file=str(tmp_path / "dagster.duckdb"))
    materialized = example.pmcrm_tables()
    metadata = materialized.metadata
    assert metadata["rows_read"] == metadata["rows_written"] > 0
    assert metadata["unavailable"] == {} and metadata["run_id"]
    assert example.defs == {"assets": [example.pmcrm_tables]}
    from pmcrm.pipeline import SyncRequest, make_pipeline

    runs = read_table(make_pipeline(SyncRequest(account.base_url, account.api_key, target=example.TARGET)),
                      "_pmcrm_runs")
    assert [row["run_id"] for row in runs] == [metadata["run_id"]]
