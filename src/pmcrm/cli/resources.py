"""`pmcrm resources`: the 36 declared resources, one line each."""

from __future__ import annotations

import click
from rich.table import Table

from pmcrm.cli.output import console
from pmcrm.declarations import RESOURCES


@click.command("resources")
def resources_command() -> None:
    """The 36 resources: path, table, write disposition, columns.

    \b
    Example:
      pmcrm resources
    """
    rows = [
        (spec.name, spec.path, str(spec.page_size),
         f"merge on {spec.primary_key}" if spec.primary_key else spec.write_disposition,
         f"incremental ({spec.cursor})" if spec.cursor else "full", str(len(spec.columns())))
        for spec in RESOURCES
    ]
    header = ("resource / table", "path", "page", "write", "sync", "columns")
    if not console.is_terminal:  # piped: whole values, one tab-separated line each
        click.echo("\t".join(header))
        for row in rows:
            click.echo("\t".join(row))
        return
    table = Table(title=f"{len(RESOURCES)} resources")
    for column in header:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    console.print(table)
