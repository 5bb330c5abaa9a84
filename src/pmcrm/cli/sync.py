"""`pmcrm sync`: flags in, one `run_sync` call, the summary out.

Each flag's name is the name of the field it sets, in `SyncRequest` or one of its parts
(`ReadOptions`, `HttpSettings`, `Target`): `SyncRequest.from_flags` hands each flag to
the part that has a field of that name, so there is no renaming anywhere to keep in step.
"""

from __future__ import annotations

import json
import logging
import sys
from contextlib import nullcontext
from typing import Any

import click
import dlt

from pmcrm.cli.output import err_console, fail, finish
from pmcrm.declarations import RESOURCES
from pmcrm.deletions import DELETION_MODES
from pmcrm.destinations import DEFAULT_BUCKET_URL, DEFAULT_DATASET, DEFAULT_DUCKDB_FILE, TABLE_FORMATS
from pmcrm.errors import INTERRUPTED_EXIT_CODE, LOCKED_EXIT_CODE, PmcrmError, RunInterrupted
from pmcrm.pipeline import DEFAULT_PIPELINE, SyncRequest, run_sync
from pmcrm.progress import LineProgress, LiveProgress
from pmcrm.settings import resolve_api_key, resolve_base_url
from pmcrm.transport import DEFAULT_CONCURRENCY


def split_list(value: str | None) -> list[str] | None:
    return [part.strip() for part in value.split(",") if part.strip()] if value else None


def request_from_flags(flags: dict[str, Any]) -> SyncRequest:
    """The flags' values as a SyncRequest; the key and URL also from the environment."""
    return SyncRequest.from_flags(**{**flags, "base_url": resolve_base_url(flags["base_url"]),
                                     "api_key": resolve_api_key(flags["api_key"]),
                                     "resources": split_list(flags["resources"])})


def connection_options(func):
    func = click.option("--base-url", help="API base URL as the platform's docs write it, e.g. "
                        "https://acme.example.com/api/v1/module (or PMCRM_BASE_URL); a bare host works too.")(func)
    func = click.option("--api-key", help="API key (or PMCRM_API_KEY, or dlt secrets). Never printed.")(func)
    func = click.option("--path-prefix", default="", help="Segment between the API version and the module "
                        "('module' on the platform); found by itself when the base URL does not say.")(func)
    func = click.option("--allow-http", is_flag=True, help="Accept a plain http:// base URL to another machine "
                        "(the key then crosses the network unencrypted: a trusted network only).")(func)
    return func


@click.command("sync")
@connection_options
@click.option("--resources", help="Comma-separated resource names (default: all 36).")
@click.option("--destination", default="duckdb", show_default=True, help="Any dlt destination name (credentials from dlt config).")
@click.option("--duckdb-file", default=DEFAULT_DUCKDB_FILE, show_default=True, help="DuckDB file for --destination duckdb.")
@click.option("--bucket-url", help=f"Folder or s3://, gs://, az:// URL for --destination filesystem (default ./{DEFAULT_BUCKET_URL}).")
@click.option("--table-format", type=click.Choice(TABLE_FORMATS), default="parquet", show_default=True,
              help="--destination filesystem: plain parquet (each sync writes a full snapshot) or delta (merges).")
@click.option("--dataset", default=DEFAULT_DATASET, show_default=True, help="Dataset (schema) name in the destination.")
@click.option("--pipeline-name", default=DEFAULT_PIPELINE, show_default=True, help="dlt pipeline name (keeps state; one run at a time).")
@click.option("--timezone", default="UTC", show_default=True, help="The account's time zone (IANA, e.g. Europe/Berlin): API timestamps carry none.")
@click.option("--keep-api-names", is_flag=True, help="Keep crm_account_id/crm_company_id instead of customer_id.")
@click.option("--concurrency", default=DEFAULT_CONCURRENCY, show_default=True, help="Requests in flight at most.")
@click.option("--rate-limit", type=float, default=None, help="Requests per second at most (default: no cap, adapts to the API).")
@click.option("--timeout", type=float, default=30.0, show_default=True, help="Seconds to wait for one response.")
@click.option("--max-attempts", default=5, show_default=True, help="Attempts per request (429/5xx/network/error 13).")
@click.option("--start-date", help="First run reads only rows updated since (YYYY-MM-DD[ HH:MM:SS], account time).")
@click.option("--full-refresh", is_flag=True, help="Ignore incremental state: drop and re-read the selected tables.")
@click.option("--incremental/--no-incremental", default=True, show_default=True,
              help="--no-incremental: read and merge every row, keeping no cursor.")
@click.option("--deletions", type=click.Choice(DELETION_MODES), default="mark", show_default=True,
              help="Rows gone from the source: mark (_pmcrm_deleted_at), remove, or keep.")
@click.option("--server-filter", metavar="PARAM[=TEMPLATE]",
              help="Filter by update time on the server: 'platform' (filter[<cursor>]={\"type\":\"more\",...}), a "
                   "parameter (updated_since), or PARAM=TEMPLATE with {since} and {cursor}. Checked on every row; "
                   "ignored by the API -> read in full. Off by default.")
@click.option("--server-sort", metavar="PARAM=VALUE",
              help="Sort on the server: 'platform' (order_by[asc][]=<cursor>), or e.g. sort=updated_asc, "
                   "order_by[desc][]={cursor}. Off by default.")
@click.option("--strict", is_flag=True, help="Fail the run if any resource is unavailable to the key "
              "(default: skip and name them; resources named in --resources always fail).")
@click.option("--quiet", "-q", is_flag=True, help="Print errors only (no progress, no summary).")
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as one JSON document on stdout.")
def sync_command(quiet: bool, as_json: bool, **flags: Any) -> None:
    """Sync all resources (or --resources a,b) into the destination.

    \b
    Example:
      pmcrm sync --base-url https://acme.example.com/api/v1/module --resources tasks,projects
      pmcrm sync --destination filesystem --table-format delta --bucket-url ./lake
    Progress goes to stderr: live bars on a terminal, one line per resource otherwise.
    Exit codes: 0 every selected resource loaded completely (unavailable ones skipped and
    named); 1 the sync failed; 2 wrong key or settings; 3 another run of this pipeline is
    going on (nothing done).
    """
    try:
        request = request_from_flags(flags)
        with _progress_display(quiet, len(request.resources or RESOURCES)) as progress, _quiet_dlt(quiet):
            request.progress = progress
            result = run_sync(request)
    except (PmcrmError, KeyboardInterrupt, Exception) as exc:  # noqa: BLE001 - every failure is one line (and JSON)
        error = as_pmcrm_error(exc)
        if as_json:
            status = {LOCKED_EXIT_CODE: "locked", INTERRUPTED_EXIT_CODE: "interrupted"}.get(error.exit_code, "failed")
            click.echo(json.dumps({"status": status, "exit_code": error.exit_code, "error": str(error)}))
        fail(str(error), error.exit_code)
    if as_json:
        click.echo(json.dumps(result.summary()))
    if as_json or quiet:
        if not result.ok:
            fail(f"sync failed: {result.error}", result.exit_code)
        return
    finish(result)


def as_pmcrm_error(exc: BaseException) -> PmcrmError:
    """Any way a sync command can end badly, as one PmcrmError: its own errors as they are,
    Ctrl-C as an interruption, anything else (a bug, or a library's surprise) as exit 1
    with its type and first line - never a traceback on a user's terminal."""
    if isinstance(exc, PmcrmError):
        return exc
    if isinstance(exc, KeyboardInterrupt):
        return RunInterrupted("interrupted; nothing of this run was loaded")
    first_line = (str(exc).strip().splitlines() or [""])[0]
    return PmcrmError(f"unexpected {type(exc).__name__}: {first_line} (run with --log-level DEBUG for details)")


def _quiet_dlt(quiet: bool):
    """--quiet: dlt's own warnings are not errors either. dlt sets its logger's level from
    `runtime.log_level` whenever a pipeline starts, so that is the setting to change (for
    this run; a level the user configured for dlt wins)."""
    if not quiet or dlt.config.get("runtime.log_level"):
        return nullcontext()
    logging.getLogger("dlt").setLevel(logging.ERROR)
    return dlt.config.values({"runtime.log_level": "ERROR"})


def _progress_display(quiet: bool, resources: int):
    """Live bars when stderr is a terminal, plain lines when it is not (cron, CI)."""
    if quiet:
        return nullcontext(None)
    if err_console.is_terminal:
        return LiveProgress(err_console, resources)
    return nullcontext(LineProgress(sys.stderr))
