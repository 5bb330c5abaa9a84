"""`pmcrm views` and `pmcrm report`: commands that read a dataset a sync loaded."""

from __future__ import annotations

import click
import dlt

from pmcrm.cli.output import console, fail
from pmcrm.destinations import DEFAULT_DATASET, DEFAULT_DUCKDB_FILE
from pmcrm.errors import PmcrmError


def dataset_options(func):
    """The options that find a dataset, named as in `pmcrm sync`."""
    func = click.option("--dataset", default=DEFAULT_DATASET, show_default=True, help="Dataset (schema) name in the destination.")(func)
    func = click.option("--duckdb-file", default=DEFAULT_DUCKDB_FILE, show_default=True, help="DuckDB file for --destination duckdb.")(func)
    func = click.option("--destination", default="duckdb", show_default=True, help="Any dlt destination with SQL (credentials from dlt config).")(func)
    return func


def open_dataset(destination: str, duckdb_file: str, dataset: str) -> dlt.Pipeline:
    from pmcrm.report import dataset_pipeline

    try:
        return dataset_pipeline(destination, duckdb_file, dataset)
    except PmcrmError as exc:
        fail(str(exc), exc.exit_code)


@click.command("views")
@dataset_options
@click.option("--timezone", default="UTC", show_default=True, help="The account's time zone (as in sync): weeks and months follow it.")
def views_command(destination: str, duckdb_file: str, dataset: str, timezone: str) -> None:
    """Create or refresh the v_* views (documented joins) in the dataset.

    \b
    Example:
      pmcrm views --duckdb-file pmcrm.duckdb --timezone Europe/Berlin
    A sync installs them too; this is for a dataset loaded before, or a new time zone.
    """
    from pmcrm.views import install_views

    result = install_views(open_dataset(destination, duckdb_file, dataset), timezone)
    console.print(f"[bold green]{len(result.created)} views[/]: {', '.join(result.created)}", highlight=False)
    for name, tables in result.skipped.items():
        console.print(f"[yellow]skipped {name}: table(s) {', '.join(tables)} not loaded[/]", highlight=False)


@click.command("report")
@dataset_options
@click.option("--output", default="report.html", show_default=True, help="The HTML file to write.")
def report_command(destination: str, duckdb_file: str, dataset: str, output: str) -> None:
    """Write one self-contained HTML report (charts and tables) from the views.

    \b
    Example:
      pmcrm report --duckdb-file pmcrm.duckdb --output report.html
    Opens offline in any browser; no JavaScript, no CDN. Needs the report extra:
    pip install 'pmcrm[report]'.
    """
    missing = report_dependencies_missing()
    if missing:
        fail(f"pmcrm report needs {', '.join(missing)}: pip install 'pmcrm[report]'", 2)
    from pmcrm.report import write_report

    path = write_report(open_dataset(destination, duckdb_file, dataset), output)
    console.print(f"[bold green]report written[/]: {path}", highlight=False)


REPORT_PACKAGES = {"altair": "altair", "vl_convert": "vl-convert-python", "jinja2": "jinja2"}


def report_dependencies_missing() -> list[str]:
    """The report extra's packages that are not installed (pip names)."""
    import importlib.util

    return [pip for module, pip in REPORT_PACKAGES.items() if importlib.util.find_spec(module) is None]
