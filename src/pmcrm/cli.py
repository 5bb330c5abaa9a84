"""The `pmcrm` command: a thin layer over `pmcrm.pipeline` and `pmcrm.sandbox`."""

from __future__ import annotations

import json
import logging
import sys
from contextlib import nullcontext
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pmcrm.client import DEFAULT_CONCURRENCY
from pmcrm.declarations import RESOURCES
from pmcrm.deletions import DELETION_MODES
from pmcrm.demo import demo_command
from pmcrm.errors import PmcrmError
from pmcrm.pipeline import (
    DEFAULT_DATASET,
    DEFAULT_DUCKDB_FILE,
    DEFAULT_PIPELINE,
    DEFAULT_BUCKET_URL,
    TABLE_FORMATS,
    SyncRequest,
    SyncResult,
    run_sync,
)
from pmcrm.diagnose import Diagnosis, diagnose
from pmcrm.lock import LOCKED_EXIT_CODE
from pmcrm.progress import LineProgress, LiveProgress
from pmcrm.redact import install_log_redaction, redact
from pmcrm.report import report_command, views_command
from pmcrm.runs import run_summary
from pmcrm.sandbox.command import sandbox_command
from pmcrm.schema import table_columns
from pmcrm.settings import resolve_api_key, resolve_base_url

console = Console()
err_console = Console(stderr=True)


def _split(value: str | None) -> list[str] | None:
    return [part.strip() for part in value.split(",") if part.strip()] if value else None


def _fail(message: str, exit_code: int) -> None:
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    sys.exit(exit_code)


def print_summary(result: SyncResult, out: Console = console) -> None:
    table = Table(title="pmcrm sync", show_footer=True)
    table.add_column("table", footer="total")
    table.add_column("rows read", justify="right", footer=str(sum(result.rows.values())))
    table.add_column("rows written", justify="right", footer=str(sum(result.written.values())))
    table.add_column("deleted", justify="right", footer=str(sum(result.deleted.values())))
    for name in sorted(set(result.rows) | set(result.written)):
        table.add_row(name, str(result.rows.get(name, 0)), str(result.written.get(name, 0)),
                      str(result.deleted.get(name, 0) or ""))
    out.print(table)
    retries = ", ".join(f"{reason}: {n}" for reason, n in sorted(result.stats.retries.items()))
    out.print(
        f"requests: {result.stats.requests}   retries: {result.stats.total_retries}"
        + (f" ({retries})" if retries else "")
        + f"   duration: {result.duration:.1f} s",
        highlight=False,
    )
    if result.stats.bad_values:
        kept = ", ".join(f"{col}: {n}" for col, n in sorted(result.stats.bad_values.items()))
        out.print(f"[yellow]values that did not fit their column (kept in *__v_text): {kept}[/]")
    for note in result.notes:
        out.print(f"[yellow]{note}[/]")


def _finish(result: SyncResult) -> None:
    print_summary(result, err_console if not result.ok else console)
    if not result.ok:
        _fail(f"sync failed: {result.error}", result.exit_code)
    console.print("[bold green]sync complete[/]")


def connection_options(func):
    func = click.option("--base-url", help="API base URL as the platform's docs write it, e.g. "
                        "https://acme.example.com/api/v1/module (or PMCRM_BASE_URL); a bare host works too.")(func)
    func = click.option("--api-key", help="API key (or PMCRM_API_KEY, or dlt secrets). Never printed.")(func)
    func = click.option("--path-prefix", default="", help="Segment between the API version and the module "
                        "('module' on the platform); found by itself when the base URL does not say.")(func)
    return func


@click.group()
@click.option("--log-level", default="WARNING", show_default=True, help="Python log level (secrets are masked at every level).")
def main(log_level: str) -> None:
    """Sync a project-management + CRM platform's API into a database (via dlt).

    \b
    Example:
      pmcrm demo                               # sandbox API -> pmcrm_demo.duckdb
      pmcrm sync --base-url https://api.example.com --api-key $KEY
    """
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    install_log_redaction()


@main.command()
@connection_options
@click.option("--resources", help="Comma-separated resource names (default: all 36).")
@click.option("--destination", default="duckdb", show_default=True, help="Any dlt destination name (credentials from dlt config).")
@click.option("--duckdb-file", default=DEFAULT_DUCKDB_FILE, show_default=True, help="DuckDB file for --destination duckdb.")
@click.option("--bucket-url", help=f"Folder or s3://, gs://, az:// URL for --destination filesystem (default ./{DEFAULT_BUCKET_URL}).")
@click.option("--table-format", type=click.Choice(TABLE_FORMATS), default="parquet", show_default=True,
              help="--destination filesystem: plain parquet (each sync writes a full snapshot) or delta (merges).")
@click.option("--dataset", default=DEFAULT_DATASET, show_default=True, help="Dataset (schema) name in the destination.")
@click.option("--pipeline-name", default=DEFAULT_PIPELINE, show_default=True, help="dlt pipeline name (keeps state; one run at a time).")
@click.option("--timezone", default="UTC", show_default=True, help="The account's time zone: API timestamps carry none.")
@click.option("--keep-api-names", is_flag=True, help="Keep crm_account_id/crm_company_id instead of customer_id.")
@click.option("--concurrency", default=DEFAULT_CONCURRENCY, show_default=True, help="Requests in flight at most.")
@click.option("--rate-limit", type=float, default=None, help="Requests per second at most (default: no cap).")
@click.option("--timeout", type=float, default=30.0, show_default=True, help="Seconds to wait for one response.")
@click.option("--max-attempts", default=5, show_default=True, help="Attempts per request (429/5xx/network/error 13).")
@click.option("--start-date", help="First run reads only rows updated since (YYYY-MM-DD[ HH:MM:SS], account time).")
@click.option("--full-refresh", is_flag=True, help="Ignore incremental state: drop and re-read the selected tables.")
@click.option("--no-incremental", is_flag=True, help="Read and merge every row, keeping no cursor.")
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
def sync(base_url, api_key, path_prefix, resources, destination, duckdb_file, bucket_url, table_format, dataset,
         pipeline_name, timezone, keep_api_names, concurrency, rate_limit, timeout, max_attempts, start_date,
         full_refresh, no_incremental, deletions, server_filter, server_sort, strict, quiet, as_json) -> None:
    """Sync all resources (or --resources a,b) into the destination.

    \b
    Example:
      pmcrm sync --base-url https://api.example.com --resources tasks,projects
      pmcrm sync --destination filesystem --table-format delta --bucket-url ./lake
    Progress goes to stderr: live bars on a terminal, one line per resource otherwise.
    Exit codes: 0 every selected resource loaded completely; 1 the sync failed;
    2 wrong key or settings; 3 another run of this pipeline is going on (nothing done).
    """
    if quiet:
        logging.getLogger("dlt").setLevel(logging.ERROR)  # dlt's warnings are not errors
    try:
        request = SyncRequest(
            base_url=resolve_base_url(base_url),
            api_key=resolve_api_key(api_key),
            resources=_split(resources),
            destination=destination,
            duckdb_file=duckdb_file,
            bucket_url=bucket_url,
            table_format=table_format,
            dataset=dataset,
            pipeline_name=pipeline_name,
            full_refresh=full_refresh,
            deletions=deletions,
            strict=strict,
            source_options=dict(
                path_prefix=path_prefix,
                timezone=timezone,
                neutral_names=not keep_api_names,
                concurrency=concurrency,
                rate_limit=rate_limit,
                request_timeout=timeout,
                max_attempts=max_attempts,
                incremental=not no_incremental,
                start_date=start_date,
                server_filter=server_filter,
                server_sort=server_sort,
            ),
        )
        with _progress_display(quiet, len(request.resources or RESOURCES)) as progress:
            request.progress = progress
            result = run_sync(request)
    except (PmcrmError, ValueError) as exc:
        exit_code = getattr(exc, "exit_code", 2)
        if as_json:
            status = "locked" if exit_code == LOCKED_EXIT_CODE else "failed"
            click.echo(json.dumps({"status": status, "exit_code": exit_code, "error": redact(str(exc))}))
        _fail(str(exc), exit_code)
    if as_json:
        click.echo(json.dumps(run_summary(result, request)))
    if as_json or quiet:
        if not result.ok:
            _fail(f"sync failed: {result.error}", result.exit_code)
        return
    _finish(result)


def _progress_display(quiet: bool, resources: int):
    """Live bars when stderr is a terminal, plain lines when it is not (cron, CI)."""
    if quiet:
        return nullcontext(None)
    if err_console.is_terminal:
        return LiveProgress(err_console, resources)
    return nullcontext(LineProgress(sys.stderr))


@main.command()
@connection_options
@click.option("--resources", help="Comma-separated resource names (default: all 36).")
@click.option("--json", "as_json", is_flag=True, help="Print the diagnosis as one JSON document on stdout.")
def check(base_url, api_key, path_prefix, resources, as_json) -> None:
    """Ask every resource for its first page: URL, key, what this key can read.

    \b
    Example:
      PMCRM_API_KEY=... pmcrm check --base-url https://acme.example.com/api/v1/module
    Exit codes: 0 the key works and at least one resource is readable; 2 the key was
    refused (or a setting is missing); 1 otherwise.
    """
    try:
        diagnosis = diagnose(resolve_base_url(base_url), resolve_api_key(api_key), path_prefix, _split(resources))
    except (PmcrmError, ValueError) as exc:
        if as_json:
            click.echo(json.dumps({"error": redact(str(exc)), "exit_code": getattr(exc, "exit_code", 2)}))
        _fail(str(exc), getattr(exc, "exit_code", 2))
    if as_json:
        click.echo(json.dumps(diagnosis.as_dict()))
    else:
        print_diagnosis(diagnosis)
    if diagnosis.exit_code:
        _fail(f"check failed: {diagnosis.error}", diagnosis.exit_code)


def print_diagnosis(diagnosis: Diagnosis, out: Console = console) -> None:
    out.print(f"called: {diagnosis.url_called}", highlight=False, soft_wrap=True)
    key = {True: "[green]accepted[/]", False: "[red]refused[/]", None: "[yellow]unknown[/]"}[diagnosis.key_accepted]
    out.print(f"API key: {key}", highlight=False)
    if diagnosis.resources:
        table = Table(title=f"{len(diagnosis.readable)} of {len(diagnosis.resources)} resources readable")
        for column in ("resource", "status", "rows", "page size", "detail"):
            table.add_column(column, justify="right" if column in ("rows", "page size") else "left")
        for check in diagnosis.resources:
            style = "green" if check.status == "available" else "yellow" if check.status != "error" else "red"
            table.add_row(check.resource, f"[{style}]{check.status}[/]", _or_dash(check.rows),
                          _or_dash(check.page_size), escape(check.detail))
        out.print(table)
    for advice in diagnosis.recommendations:
        out.print(f"recommended: {escape(advice)}", highlight=False, soft_wrap=True)
    if diagnosis.exit_code == 0:
        out.print(f"[bold green]OK: the API answers at {diagnosis.base_url}[/]", highlight=False)


def _or_dash(value: int | None) -> str:
    return "-" if value is None else str(value)


@main.command("resources")
def list_resources() -> None:
    """The 36 resources: path, table, write disposition, columns.

    \b
    Example:
      pmcrm resources
    """
    table = Table(title=f"{len(RESOURCES)} resources")
    for column in ("resource / table", "path", "page", "write", "sync", "columns"):
        table.add_column(column)
    for spec in RESOURCES:
        table.add_row(
            spec.name,
            spec.path,
            str(spec.page_size),
            f"merge on {spec.primary_key}" if spec.primary_key else spec.write_disposition,
            f"incremental ({spec.cursor})" if spec.cursor else "full",
            str(len(table_columns(spec))),
        )
    console.print(table)


main.add_command(demo_command)
main.add_command(sandbox_command)
main.add_command(views_command)
main.add_command(report_command)
