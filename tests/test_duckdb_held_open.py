"""From the load on, a DuckDB sync holds its file open, so that dlt's connections (one per
load job, the deletions, the views, the runs row) join the open database instead of
opening the file and checkpointing it on each close; the file is closed when the sync ends."""

from __future__ import annotations

import dlt
import duckdb

from pmcrm.load_settings import DuckDbHold, duckdb_credentials
from pmcrm.pipeline import run_sync
from tests.helpers import sync_request

ORDER = "SELECT current_setting('default_order')"


def a_duckdb_pipeline(tmp_path) -> tuple[dlt.Pipeline, str]:
    path = str(tmp_path / "held.duckdb")
    pipeline = dlt.pipeline("held", destination=dlt.destinations.duckdb(duckdb_credentials(path)),
                            dataset_name="data", pipelines_dir=str(tmp_path / "pipelines"))
    pipeline.run([{"id": 1}], table_name="rows")
    return pipeline, path


def setting_after_dlt_closed_its_connection(pipeline: dlt.Pipeline, path: str) -> str:
    """A global setting made through dlt's connection, as a new connection sees it once dlt
    closed its own: still there only if the database stayed open in between."""
    with pipeline.sql_client() as client:
        client.execute_sql("SET GLOBAL default_order = 'DESC'")
    with duckdb.connect(path) as fresh:
        return fresh.sql(ORDER).fetchall()[0][0]


def test_while_held_dlt_joins_the_open_database_instead_of_reopening_the_file(tmp_path):
    pipeline, path = a_duckdb_pipeline(tmp_path)
    with DuckDbHold() as hold:
        hold.open(pipeline)
        assert hold.held
        assert setting_after_dlt_closed_its_connection(pipeline, path) == "DESC"
    # Closed: the next connection opens the file anew, with DuckDB's defaults.
    assert setting_after_dlt_closed_its_connection(pipeline, path) == "ASCENDING"


def test_holding_does_nothing_for_other_destinations(tmp_path):
    pipeline = dlt.pipeline("files", destination=dlt.destinations.filesystem(str(tmp_path / "lake")),
                            dataset_name="data", pipelines_dir=str(tmp_path / "pipelines"))
    hold = DuckDbHold()
    hold.open(pipeline)
    assert not hold.held


def test_a_file_that_cannot_be_held_is_left_to_dlt(tmp_path):
    pipeline, path = a_duckdb_pipeline(tmp_path)
    with duckdb.connect(path, config={"threads": "3"}):  # open with another configuration
        hold = DuckDbHold()
        hold.open(pipeline)
        assert not hold.held, "DuckDB refused a second configuration: no hold, and no error"


def test_a_sync_ends_with_its_duckdb_file_closed(sandbox, tmp_path):
    request = sync_request(sandbox, tmp_path, resources=["tasks", "pipeline"])
    for _ in range(2):  # a first load (append) and a merge
        result = run_sync(request)
        assert result.ok, result.error
        # DuckDB refuses another configuration for a file still open in this process.
        with duckdb.connect(request.target.duckdb_file, config={"threads": "3"}) as after:
            assert after.sql("SELECT count(*) FROM pmcrm_data._pmcrm_runs").fetchall()[0][0] >= 1


def test_a_checkpoint_that_fails_at_the_end_is_said_not_raised(tmp_path, monkeypatch):
    pipeline, _ = a_duckdb_pipeline(tmp_path)
    hold = DuckDbHold()
    hold.open(pipeline)

    class FailingClose:
        def close(self):
            raise duckdb.IOException("disk full")

    real = hold._connection
    monkeypatch.setattr(hold, "_connection", FailingClose())
    said = hold.close()
    real.close()
    assert said and "not checkpointed" in said and "disk full" in said
    assert hold.close() is None, "closed once"
