"""`pmcrm state`: per resource, what the pipeline remembers - the question after a second run."""

from __future__ import annotations

import json

import click
from rich.table import Table

from pmcrm.cli.dataset import dataset_options
from pmcrm.cli.output import console, fail
from pmcrm.cli.sync import split_list
from pmcrm.errors import PmcrmError
from pmcrm.pipeline import DEFAULT_PIPELINE, SyncRequest, read_state


@click.command("state")
@dataset_options
@click.option("--pipeline-name", default=DEFAULT_PIPELINE, show_default=True, help="The pipeline name the syncs use.")
@click.option("--resources", help="Comma-separated resource names (default: all 36).")
@click.option("--json", "as_json", is_flag=True, help="One JSON document (a list, one object per resource).")
def state_command(destination: str, duckdb_file: str, dataset: str, pipeline_name: str, resources: str | None,
                  as_json: bool) -> None:
    """Per resource: incremental or full, its cursor, its last complete read, its rows.

    \b
    Example:
      pmcrm state --duckdb-file pmcrm.duckdb
    The cursor is the highest update time loaded: the next sync reads rows updated since
    then (minus a 5-minute overlap). Read from the destination, as a sync would.
    """
    request = SyncRequest.from_flags(base_url="", api_key="", destination=destination, duckdb_file=duckdb_file,
                                     dataset=dataset, pipeline_name=pipeline_name, resources=split_list(resources))
    try:
        remembered = read_state(request)
    except PmcrmError as exc:
        fail(str(exc), exc.exit_code)
    states = remembered.resources
    if as_json:
        click.echo(json.dumps([state.as_dict() for state in states]))
        return
    table = Table(title=f"pipeline {pipeline_name}: {request.target.describe()}")
    for column in ("resource", "mode", "cursor (UTC)", "last complete read (UTC)", "rows"):
        table.add_column(column, justify="right" if column == "rows" else "left")
    for state in states:
        table.add_row(state.resource, state.mode, state.cursor or "-", state.last_complete_read or "-",
                      "-" if state.rows is None else str(state.rows))
    console.print(table)
    if remembered.rate_limit:
        console.print(remembered.rate_limit)
    if not any(state.last_complete_read or state.cursor for state in states):
        console.print("[yellow]no sync has loaded this pipeline into this destination yet[/]")
