"""`pmcrm demo`: sandbox API -> DuckDB -> summary, on a machine with no account at all."""

from __future__ import annotations

import click
import duckdb
from rich.console import Console
from rich.table import Table

from pmcrm.cli.output import console, finish
from pmcrm.destinations import DEFAULT_DATASET, Target
from pmcrm.pipeline import SyncRequest, run_sync

DEMO_FILE = "pmcrm_demo.duckdb"

EXAMPLE_QUERIES: dict[str, str] = {
    "Leads and budget per pipeline": """
        select coalesce(p.name, '(no pipeline)') as pipeline, count(*) as leads,
               sum(l.budget) as budget
        from {ds}.lead l left join {ds}.pipeline p on p.id = l.pipeline_id
        group by 1 order by 2 desc, 1 limit 5""",
    "Invoiced per month (last 6 months with invoices)": """
        select strftime(invoice_date, '%Y-%m') as month, count(*) as invoices,
               sum(total) as invoiced
        from {ds}.invoice where invoice_date is not null
        group by 1 order by 1 desc limit 6""",
}


def print_example_queries(duckdb_file: str, dataset: str, console: Console) -> None:
    with duckdb.connect(duckdb_file, read_only=True) as connection:
        for title, sql in EXAMPLE_QUERIES.items():
            query = sql.format(ds=dataset)
            cursor = connection.execute(query)
            console.print(f"\n[bold]{title}[/]\n[dim]{' '.join(query.split())}[/]", highlight=False)
            table = Table()
            for column in cursor.description:
                table.add_column(column[0])
            for row in cursor.fetchall():
                table.add_row(*(str(value) for value in row))
            console.print(table)


@click.command("demo")
@click.option("--rows", default=500, show_default=True, help="Rows per resource in the sandbox.")
@click.option("--duckdb-file", default=DEMO_FILE, show_default=True)
@click.option("--seed", default=1, show_default=True)
def demo_command(rows: int, duckdb_file: str, seed: int) -> None:
    """Start the sandbox API, sync all 36 resources into pmcrm_demo.duckdb, show results.

    \b
    Example:
      pmcrm demo --rows 1000
    """
    from pmcrm.sandbox import Sandbox, SandboxOptions  # aiohttp loads only for the demo

    with Sandbox(SandboxOptions(rows=rows, seed=seed)) as sandbox:
        console.print(f"sandbox API on {sandbox.base_url} ({rows} rows per resource)")
        result = run_sync(
            SyncRequest(
                base_url=sandbox.base_url,
                api_key=sandbox.api_key,
                target=Target(duckdb_file=duckdb_file),
                pipeline_name="pmcrm_demo",
            )
        )
    finish(result)
    console.print(f"\nloaded into {duckdb_file}, dataset '{DEFAULT_DATASET}'. Try:")
    print_example_queries(duckdb_file, DEFAULT_DATASET, console)
