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
            str(len(spec.columns())),
        )
    console.print(table)
