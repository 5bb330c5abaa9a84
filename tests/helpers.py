"""What many test files need: running the CLI in-process, and a SyncRequest against a sandbox."""

from __future__ import annotations

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
