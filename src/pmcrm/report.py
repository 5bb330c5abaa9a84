"""`pmcrm report`: one self-contained HTML file with the charts a manager opens first.

Every section is data: a query on one of the views (`pmcrm.views`), the columns of its
table and a chart (Vega-Lite through altair). Charts are rendered to SVG by vl-convert
and inlined, so the file needs no JavaScript, no CDN and no network to open. The table
beside each chart holds the very rows the chart draws.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import dlt
from dlt.destinations.exceptions import DatabaseUndefinedRelation
from jinja2 import Environment, PackageLoader, select_autoescape

from pmcrm.errors import DatasetNotFound
from pmcrm.destinations import DEFAULT_DATASET, DEFAULT_DUCKDB_FILE, Target

if TYPE_CHECKING:
    import altair as alt

READER_PIPELINE = "pmcrm_reader"  # never syncs: only runs SQL in an existing dataset
CHART_WIDTH = 440
# Text is measured at render time in this font: a browser's usual sans-serif is narrower,
# so labels never overflow the chart.
CHART_CONFIG = {"font": "DejaVu Sans"}
Row = dict[str, Any]


def dataset_pipeline(destination: str = "duckdb", duckdb_file: str = DEFAULT_DUCKDB_FILE,
                     dataset: str = DEFAULT_DATASET) -> dlt.Pipeline:
    """A pipeline over an existing dataset, for its `sql_client()` only. The DuckDB path is
    made absolute: dlt would otherwise reuse a path remembered from an earlier run."""
    if destination == "duckdb":
        duckdb_file = os.path.abspath(duckdb_file)
        if not os.path.exists(duckdb_file):
            raise DatasetNotFound(f"no DuckDB file {duckdb_file}: run `pmcrm sync` first")
    pipeline = dlt.pipeline(READER_PIPELINE, destination=Target(destination, duckdb_file).make(),
                            dataset_name=dataset)
    with pipeline.sql_client() as client:
        if not client.has_dataset():
            raise DatasetNotFound(f"no dataset '{dataset}' in the {destination} destination: run `pmcrm sync` first")
    return pipeline


# ------------------------------------------------------------------------- charts
def _bars(category: str, value: str, color: str | None = None, stack: str | None = None) -> Callable:
    """Horizontal bars in the rows' own order (the query sorts them)."""

    def chart(rows: list[Row]) -> alt.Chart:
        import altair as alt  # here, not at the top: it adds half a second to every pmcrm command

        counts = [row[value] for row in rows]
        axis = alt.Axis()
        if all(isinstance(n, int) for n in counts):  # whole ticks only: no '0.5 leads'
            axis = alt.Axis(format="d", tickCount=max(1, min(max(counts), 8)))
        encoding = dict(
            y=alt.Y(f"{category}:N", sort=None, title=None, axis=alt.Axis(labelLimit=240)),
            x=alt.X(f"{value}:Q", title=value.replace("_", " "), axis=axis),
        )
        if color:
            encoding["color"] = alt.Color(f"{color}:N", sort=None, title=color.replace("_", " "))
        if stack:
            encoding["order"] = alt.Order(f"{stack}:Q")
        return alt.Chart(alt.Data(values=rows)).mark_bar().encode(**encoding).properties(
            width=CHART_WIDTH, height=alt.Step(18))

    return chart


def _lines(time_field: str, series: dict[str, str], unit: str) -> Callable:
    """One line per measure over time: `series` maps a column to its legend label."""

    def chart(rows: list[Row]) -> alt.Chart:
        import altair as alt

        long = [{time_field: row[time_field], "series": label, "value": row[column]}
                for row in rows for column, label in series.items()]
        return alt.Chart(alt.Data(values=long)).mark_line(point=True).encode(
            x=alt.X(f"{time_field}:T", title=None, timeUnit=unit),
            y=alt.Y("value:Q", title=None),
            color=alt.Color("series:N", sort=list(series.values()), title=None, legend=alt.Legend(orient="top")),
        ).properties(width=CHART_WIDTH, height=260)

    return chart


def _label(name: str, key: str, none: str) -> Callable[[Row], str]:
    """A bar label: the name, with the id since names repeat (two 'Sales' pipelines)."""

    def label(row: Row) -> str:
        return none if row[key] is None else f"{row[name] or '(unnamed)'} #{row[key]}"

    return label


def _split_done(rows: list[Row]) -> list[Row]:
    """Sprint rows -> one bar segment for done and one for open issues."""
    return [
        {"sprint": row["sprint"], "status": status, "issues": count, "order": order}
        for row in rows
        for order, (status, count) in enumerate((("done", row["issues_done"]), ("open", row["issues"] - row["issues_done"])))
    ]


@dataclass(frozen=True)
class Section:
    """One chart with its table. `query` reads `{view}`; `labels` add display columns."""

    title: str
    view: str
    lede: str
    query: str
    columns: tuple[tuple[str, str], ...]
    chart: Callable[[list[Row]], alt.Chart]
    labels: tuple[tuple[str, Callable[[Row], str]], ...] = ()
    reshape: Callable[[list[Row]], list[Row]] | None = None
    chronological: bool = False


TOP_PIPELINES, MONTHS, TOP_CUSTOMERS, TOP_PROJECTS, WEEKS, SPRINTS = 5, 24, 10, 15, 26, 15

SECTIONS: tuple[Section, ...] = (
    Section(
        "Lead funnel by pipeline stage", "v_lead_funnel",
        f"Leads in each stage of the {TOP_PIPELINES} pipelines with the most leads.",
        f"""SELECT pipeline_name, pipeline_id, pipeline_stage_id, leads, active_leads, budget FROM {{view}} f
            JOIN (SELECT pipeline_id AS top_id, SUM(leads) AS pipeline_leads FROM {{view}} t
                  WHERE pipeline_id IS NOT NULL GROUP BY pipeline_id
                  ORDER BY SUM(leads) DESC, pipeline_id LIMIT {TOP_PIPELINES}) top ON top.top_id = f.pipeline_id
            ORDER BY pipeline_leads DESC, pipeline_id, pipeline_stage_id NULLS LAST""",
        (("pipeline", "pipeline"), ("pipeline_stage_id", "stage"), ("leads", "leads"),
         ("active_leads", "active"), ("budget", "budget")),
        _bars("stage", "leads", color="pipeline"),
        labels=(("pipeline", _label("pipeline_name", "pipeline_id", "(no pipeline)")),
                ("stage", lambda row: f"{row['pipeline']} · stage {display(row['pipeline_stage_id'])}")),
    ),
    Section(
        "Invoices issued vs paid per month", "v_invoices_monthly",
        f"Invoice totals by the month they were issued and the month they were paid (last {MONTHS} months with invoices).",
        f"SELECT month, invoices_issued, amount_issued, invoices_paid, amount_paid FROM {{view}} m ORDER BY month DESC LIMIT {MONTHS}",
        (("month", "month"), ("invoices_issued", "issued"), ("amount_issued", "issued amount"),
         ("invoices_paid", "paid"), ("amount_paid", "paid amount")),
        _lines("month", {"amount_issued": "issued", "amount_paid": "paid"}, "yearmonth"),
        chronological=True,
    ),
    Section(
        "Overdue invoices by customer", "v_overdue_by_customer",
        f"Unpaid invoices past their due date: the {TOP_CUSTOMERS} customers who owe the most.",
        f"SELECT customer_name, customer_id, overdue_invoices, overdue_amount, oldest_due_date FROM {{view}} o "
        f"ORDER BY overdue_amount DESC, customer_id NULLS LAST LIMIT {TOP_CUSTOMERS}",
        (("customer", "customer"), ("overdue_invoices", "invoices"), ("overdue_amount", "amount"),
         ("oldest_due_date", "oldest due")),
        _bars("customer", "overdue_amount"),
        labels=(("customer", _label("customer_name", "customer_id", "(no customer)")),),
    ),
    Section(
        "Hours logged per project", "v_hours_by_project",
        f"Time from timesheets, through their tasks: the {TOP_PROJECTS} projects with the most hours.",
        f"SELECT project_name, project_id, entries, hours FROM {{view}} h "
        f"ORDER BY hours DESC, project_id NULLS LAST LIMIT {TOP_PROJECTS}",
        (("project", "project"), ("entries", "entries"), ("hours", "hours")),
        _bars("project", "hours"),
        labels=(("project", _label("project_name", "project_id", "(no project)")),),
    ),
    Section(
        "Tasks opened vs closed per week", "v_tasks_weekly",
        f"Tasks created and closed in each week (from Monday), last {WEEKS} weeks with activity.",
        f"SELECT week, opened, closed FROM {{view}} w ORDER BY week DESC LIMIT {WEEKS}",
        (("week", "week"), ("opened", "opened"), ("closed", "closed")),
        _lines("week", {"opened": "opened", "closed": "closed"}, "yearmonthdate"),
        chronological=True,
    ),
    Section(
        "Agile sprint burn", "v_sprint_burn",
        f"Issues done and still open in the {SPRINTS} most recent sprints.",
        f"SELECT sprint_name, sprint_id, project_name, start_date, issues, issues_done FROM {{view}} s "
        f"ORDER BY start_date DESC NULLS LAST, sprint_id DESC LIMIT {SPRINTS}",
        (("sprint", "sprint"), ("project_name", "project"), ("start_date", "start"), ("issues", "issues"),
         ("issues_done", "done")),
        _bars("sprint", "issues", color="status", stack="order"),
        labels=(("sprint", _label("sprint_name", "sprint_id", "(no sprint)")),),
        reshape=_split_done,
    ),
)


# ------------------------------------------------------------------- rendering
def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def display(value: Any) -> str:
    """How a table cell reads: thousands separators, two decimals for amounts, dates as days."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, (Decimal, float)):
        return f"{value:,.2f}"
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


@dataclass
class RenderedSection:
    section: Section
    headers: list[str]
    rows: list[list[str]]
    svg: str | None = None
    missing: str | None = None
    numeric: list[bool] | None = None  # per column: right-aligned

    @property
    def title(self) -> str:
        return self.section.title


def _query(client, sql: str) -> list[Row]:
    with client.execute_query(sql) as cursor:
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]


def section_rows(client, section: Section) -> list[Row]:
    """The rows a section shows, in the order its chart and table show them."""
    rows = _query(client, section.query.format(view=client.make_qualified_table_name(section.view)))
    if section.chronological:
        rows.reverse()
    for row in rows:
        for name, make in section.labels:
            row[name] = make(row)
    return rows


def render_section(client, section: Section) -> RenderedSection:
    headers = [header for _, header in section.columns]
    try:
        rows = section_rows(client, section)
    except DatabaseUndefinedRelation:
        return RenderedSection(section, headers, [], missing=f"view {section.view} not found: run `pmcrm views`")
    table = [[display(row[column]) for column, _ in section.columns] for row in rows]
    if not rows:
        return RenderedSection(section, headers, [], missing="no data")
    numeric = [any(_is_number(row[column]) for row in rows) for column, _ in section.columns]
    data = [{k: _json_value(v) for k, v in row.items()} for row in rows]
    chart = section.chart(section.reshape(data) if section.reshape else data)
    import vl_convert

    svg = vl_convert.vegalite_to_svg(chart.to_dict(), config=CHART_CONFIG)
    return RenderedSection(section, headers, table, svg=svg, numeric=numeric)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)


def _loaded_at(client) -> str | None:
    try:
        rows = _query(client, f"SELECT MAX(inserted_at) AS at FROM {client.make_qualified_table_name('_dlt_loads')} l WHERE status = 0")
    except DatabaseUndefinedRelation:
        return None
    at = rows[0]["at"] if rows else None
    return at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC") if at else None


def render_report(pipeline: dlt.Pipeline) -> str:
    """The report's HTML, from the views in the pipeline's dataset."""
    with pipeline.sql_client() as client:
        sections = [render_section(client, section) for section in SECTIONS]
        loaded_at = _loaded_at(client)
    env = Environment(loader=PackageLoader("pmcrm", "templates"), autoescape=select_autoescape(["html"]))
    return env.get_template("report.html").render(
        sections=sections,
        dataset=pipeline.dataset_name,
        destination=pipeline.destination.destination_type.rsplit(".", 1)[-1],
        loaded_at=loaded_at,
        generated_at=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    )


def write_report(pipeline: dlt.Pipeline, output: str | Path) -> Path:
    path = Path(output)
    path.write_text(render_report(pipeline), encoding="utf-8")
    return path
