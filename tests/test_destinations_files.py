"""Files for a lakehouse: `--destination filesystem` writes plain parquet (a full snapshot
per sync, since plain files cannot merge) or Delta tables (merged like a database). Both
are read back without pmcrm or dlt - with `deltalake` and `pyarrow` - and compared to the
sandbox's truth."""

from __future__ import annotations

import pyarrow.dataset as ds
import pytest
from deltalake import DeltaTable
from dlt.common.normalizers.naming.snake_case import NamingConvention

from pmcrm.declarations import RESOURCES
from pmcrm.errors import SettingsError
from pmcrm.pipeline import SyncRequest, run_sync
from pmcrm.sandbox import Sandbox, SandboxOptions
from tests.helpers import sync_request
from tests.truth import assert_rows_equal_truth

NAMING = NamingConvention().normalize_identifier  # dlt's default: what the tables use
ALL = [spec.name for spec in RESOURCES]
UPDATED = ["tasks", "invoice", "custom_fields", "product_list"]  # with and without a cursor


@pytest.fixture
def api():
    """Its own sandbox: these tests change the data between syncs."""
    with Sandbox(SandboxOptions(seed=5, rows=12, rows_per_resource={"tasks": 230, "loss_reason": 0})) as sandbox:
        yield sandbox


def files_sync(api, tmp_path, **overrides) -> SyncRequest:
    request = sync_request(api, tmp_path, destination="filesystem", bucket_url=str(tmp_path / "lake"), **overrides)
    result = run_sync(request)
    assert result.ok, result.error
    return result


def delta_rows(tmp_path, table: str) -> list[dict]:
    path = tmp_path / "lake" / "pmcrm_data" / table
    if not (path / "_delta_log").exists():
        return []  # an empty endpoint may leave no table behind
    return DeltaTable(str(path)).to_pyarrow_table().to_pylist()


def parquet_rows(tmp_path, table: str) -> list[dict]:
    path = tmp_path / "lake" / "pmcrm_data" / table
    return ds.dataset(str(path), format="parquet").to_table().to_pylist() if path.exists() else []


def test_delta_tables_equal_the_api_truth_and_a_second_sync_merges_changes_without_duplicates(api, tmp_path):
    first = files_sync(api, tmp_path, table_format="delta")
    for name in ALL:
        assert_rows_equal_truth(delta_rows(tmp_path, name), name, api.truth(name), NAMING)

    changed = api.update(0.3, UPDATED)
    api.insert(4, UPDATED)
    second = files_sync(api, tmp_path, table_format="delta")

    assert any(changed.values())
    for name in ALL:
        assert_rows_equal_truth(delta_rows(tmp_path, name), name, api.truth(name), NAMING)
    runs = sorted(delta_rows(tmp_path, "_pmcrm_runs"), key=lambda row: row["started_at"])
    assert [(row["run_id"], row["status"]) for row in runs] == [(first.run_id, "success"), (second.run_id, "success")]


def test_a_delta_sync_reports_that_deletions_need_a_sql_destination(api, tmp_path):
    result = files_sync(api, tmp_path, table_format="delta", resources=["tasks"])
    assert any("deletions not applied" in note for note in result.notes)
    assert result.deleted == {}


def test_plain_parquet_holds_a_full_snapshot_after_every_sync(api, tmp_path):
    files_sync(api, tmp_path, resources=UPDATED)
    for name in UPDATED:
        assert_rows_equal_truth(parquet_rows(tmp_path, name), name, api.truth(name), NAMING)

    api.update(0.3, UPDATED)
    api.insert(4, UPDATED)
    api.delete(2, UPDATED)
    second = files_sync(api, tmp_path, resources=UPDATED)

    for name in UPDATED:  # replaced, not appended: no duplicates, deleted rows gone
        assert_rows_equal_truth(parquet_rows(tmp_path, name), name, api.truth(name), NAMING)
    assert second.written == {name: len(api.truth(name)) for name in UPDATED}
    assert not any("deletions" in note for note in second.notes)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"destination": "duckdb", "table_format": "delta"}, "filesystem only"),
        ({"destination": "duckdb", "bucket_url": "s3://bucket/x"}, "filesystem only"),
        ({"destination": "filesystem", "table_format": "iceberg"}, "unknown table format"),
    ],
)
def test_file_options_are_refused_where_they_do_not_apply(api, tmp_path, overrides, message):
    with pytest.raises(SettingsError, match=message) as refused:
        run_sync(sync_request(api, tmp_path, **overrides))
    assert refused.value.exit_code == 2 and api.stats()["requests"] == 0
