"""What many test files need: running the CLI in-process, a SyncRequest against a sandbox,
and a throwaway PostgreSQL dataset."""

from __future__ import annotations

import contextlib
import os
import uuid

import pytest
from click.testing import CliRunner, Result

from pmcrm.cli import main
from pmcrm.pipeline import SyncRequest


def invoke(*args: str, env: dict | None = None) -> Result:
    """`pmcrm <args>` in this process; stdout and stderr together in `.output`."""
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def sync_args(api, *extra: str, duckdb_file: str = "cli.duckdb") -> list[str]:
    """`sync` against the sandbox `api`, into `duckdb_file`, plus `extra` flags."""
    return ["sync", "--base-url", api.base_url, "--api-key", api.api_key, "--duckdb-file", duckdb_file, *extra]


def sync_request(api, tmp_path, **flags) -> SyncRequest:
    """A request against the sandbox `api`, in `tmp_path`; other values by their flag
    names (`resources=`, `timeout=`, `timezone=`, `destination=`...), as the CLI takes them."""
    values = dict(base_url=api.base_url, api_key=api.api_key, duckdb_file=str(tmp_path / "test.duckdb"),
                  pipelines_dir=str(tmp_path / "pipelines"), pipeline_name="pmcrm_test")
    values.update(flags)
    return SyncRequest.from_flags(**values)


POSTGRES_URL = "postgresql://postgres:trust@127.0.0.1:5432/test"  # trust auth: any password


def postgres_available() -> bool:
    import psycopg2

    try:
        psycopg2.connect(POSTGRES_URL, connect_timeout=3).close()
        return True
    except psycopg2.Error:
        return False


@contextlib.contextmanager
def postgres_dataset(prefix: str = "pmcrm_test"):
    """A fresh PostgreSQL schema with dlt's credentials set for it, dropped afterwards
    (its `_staging` twin too). Skips without PostgreSQL - fails in CI, where it must be."""
    import psycopg2

    if not postgres_available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL on 127.0.0.1:5432 is required in CI")
        pytest.skip("no PostgreSQL on 127.0.0.1:5432")
    dataset = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DESTINATION__POSTGRES__CREDENTIALS", POSTGRES_URL)
        try:
            yield dataset
        finally:
            with psycopg2.connect(POSTGRES_URL) as conn, conn.cursor() as cur:
                for schema in (dataset, f"{dataset}_staging"):
                    cur.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
