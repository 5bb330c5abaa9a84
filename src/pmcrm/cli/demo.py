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
DEMO_ROWS, DEMO_SEED = 3000, 1


def demo_options(rows: int = DEMO_ROWS, seed: int = DEMO_SEED):
    """The demo's sandbox: shaped like a real account (a few pipelines, hundreds of customers
    and projects, thousands of tasks and leads), so that `pmcrm report` on it shows what it
    would show on yours. The report's test renders the same data."""
    from pmcrm.sandbox import SandboxOptions

    return SandboxOptions(rows=rows, seed=seed, shape="account")


EXAMPLE_QUERIES: dict[str, str] = {
    "Leads and budget per pipeline (open, won, lost: the lead's active = 1, 3, 2)": """
        select coalesce(p.name, '(no pipeline)') as pipeline, count(*) as leads,
               count(*) filter (where l.active = 1) as open,
               count(*) filter (where l.active = 3) as won,
               count(*) filter (where l.active = 2) as lost, sum(l.budget) as budget
        from {ds}.lead l left join {ds}.pipeline p on p.id = l.pipeline_id
        group by 1 order by 2 desc, 1 limit 5""",
    "Invoiced per month and currency (last 3 months with invoices)": """
        select strftime(invoice_date, '%Y-%m') as month, currency_code as currency,
               count(*) as invoices, sum(total) as invoiced
        from {ds}.invoice
        where invoice_date >= (select date_trunc('month', max(invoice_date)) - interval 2 month from {ds}.invoice)
        group by 1, 2 order by 1 desc, 3 desc""",
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
@click.option("--rows", default=DEMO_ROWS, show_default=True, type=click.IntRange(0),
              help="Size of the demo account: rows of its largest resources (tasks, timesheets); "
                   "the others in proportion, the set-up (pipelines, loss reasons...) fixed.")
@click.option("--duckdb-file", default=DEMO_FILE, show_default=True)
@click.option("--seed", default=DEMO_SEED, show_default=True, help="Same seed, same demo account.")
def demo_command(rows: int, duckdb_file: str, seed: int) -> None:
    """Start the sandbox API with an account-shaped dataset, sync all 36 resources into
    pmcrm_demo.duckdb, show results.

    \b
    Example:
      pmcrm demo --rows 1000
      pmcrm report --duckdb-file pmcrm_demo.duckdb --output demo.html
    """
    from pmcrm.sandbox import Sandbox  # aiohttp loads only for the demo

    with Sandbox(demo_options(rows, seed)) as sandbox:
        console.print(f"sandbox API on {sandbox.base_url} (an account of {rows} tasks, shape 'account')")
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
