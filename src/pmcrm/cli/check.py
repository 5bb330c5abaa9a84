"""`pmcrm check`: the diagnosis of pmcrm.diagnose, as a table or as JSON."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pmcrm.cli.output import console, fail
from pmcrm.cli.sync import connection_options, split_list
from pmcrm.diagnose import Diagnosis, diagnose
from pmcrm.errors import PmcrmError
from pmcrm.redact import redact
from pmcrm.settings import resolve_api_key, resolve_base_url


@click.command("check")
@connection_options
@click.option("--resources", help="Comma-separated resource names (default: all 36).")
@click.option("--json", "as_json", is_flag=True, help="Print the diagnosis as one JSON document on stdout.")
def check_command(base_url, api_key, path_prefix, allow_http, resources, as_json) -> None:
    """Ask every resource for its first page: URL, key, what this key can read.

    \b
    Example:
      PMCRM_API_KEY=... pmcrm check --base-url https://acme.example.com/api/v1/module
    Exit codes: 0 the key works and at least one resource is readable; 2 the key was
    refused (or a setting is missing); 1 otherwise.
    """
    try:
        diagnosis = diagnose(resolve_base_url(base_url), resolve_api_key(api_key), path_prefix, split_list(resources),
                             allow_http=allow_http)
    except PmcrmError as exc:
        if as_json:
            click.echo(json.dumps({"error": redact(str(exc)), "exit_code": exc.exit_code}))
        fail(str(exc), exc.exit_code)
    if as_json:
        click.echo(json.dumps(diagnosis.as_dict()))
    else:
        print_diagnosis(diagnosis)
    if diagnosis.exit_code:
        fail(f"check failed: {diagnosis.error}", diagnosis.exit_code)


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
