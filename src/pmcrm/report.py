"""`pmcrm report`: one self-contained HTML file with the charts a manager opens first.

Every section is data: a query on one of the views (`pmcrm.views`), the columns of its
table and a chart (Vega-Lite through altair). Charts are rendered to SVG by vl-convert
and inlined, so the file needs no JavaScript, no CDN and no network to open. The table
beside each chart holds the very rows the chart draws.

The charts are meant to stay true on any account: amounts in different currencies never
share an axis, rankings leave out "no customer" and "no project" and say them in a note
(`Aside`), quantity axes start at zero and name their unit, and the week and month still
running are left out of the time series.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dlt
from dlt.destinations.exceptions import DatabaseUndefinedRelation
from jinja2 import Environment, PackageLoader, select_autoescape

from pmcrm.destinations import DEFAULT_DATASET, DEFAULT_DUCKDB_FILE, Target
from pmcrm.errors import DatasetNotFound
from pmcrm.views import VIEWS_BY_NAME, required_tables, table_columns

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
    pipeline = dlt.pipeline(READER_PIPELINE, destination=Target(destination, duckdb_file).make(load_tuning=False),
                            dataset_name=dataset)
    with pipeline.sql_client() as client:
        if not client.has_dataset():
            raise DatasetNotFound(f"no dataset '{dataset}' in the {destination} destination: run `pmcrm sync` first")
    return pipeline


# ------------------------------------------------------------------------- charts
# A chart takes the section's rows (in the order its table shows them) and returns an altair
# chart. Quantities start at zero and their axis names the unit; `split` draws one chart per
# value of a column (a currency), each with its own scale, so amounts in different
# currencies never share an axis.
STATUS_COLORS = {"open": "#4c78a8", "won": "#54a24b", "lost": "#bab0ac", "done": "#54a24b"}


def _groups(rows: list[Row], split: str | None) -> list[tuple[Any, list[Row]]]:
    """The rows by their `split` value, in order of first appearance (all rows when None)."""
    if split is None:
        return [(None, rows)]
    groups: dict[Any, list[Row]] = {}
    for row in rows:
        groups.setdefault(row[split], []).append(row)
    return list(groups.items())


def _unit(unit: str, group: Any) -> str:
    return unit if group is None else f"{unit} ({group})"


def _stacked(charts: list) -> alt.Chart:
    import altair as alt

    return charts[0] if len(charts) == 1 else alt.vconcat(*charts, spacing=22).resolve_scale(color="shared")


def _bars(category: str, value: str, unit: str, split: str | None = None, color: str | None = None,
          stack: str | None = None) -> Callable:
    """Horizontal bars in the rows' own order (the query sorts them); `unit` titles the axis."""

    def chart(rows: list[Row]) -> alt.Chart:
        import altair as alt  # here, not at the top: it adds half a second to every pmcrm command

        charts = []
        for group, part in _groups(rows, split):
            counts = [row[value] for row in part]
            axis = alt.Axis(title=_unit(unit, group), tickCount=5, labelOverlap="greedy")
            if all(isinstance(n, int) for n in counts):  # whole ticks only: no '0.5 leads'
                axis = alt.Axis(title=_unit(unit, group), format="d", tickCount=max(1, min(max(counts), 8)))
            encoding = dict(
                y=alt.Y(f"{category}:N", sort=None, title=None, axis=alt.Axis(labelLimit=240)),
                x=alt.X(f"{value}:Q", axis=axis, scale=alt.Scale(zero=True)),
            )
            if color:
                domain = [c for c in STATUS_COLORS if any(row[color] == c for row in rows)]
                encoding["color"] = alt.Color(f"{color}:N", title=None, legend=alt.Legend(orient="top"),
                                              scale=alt.Scale(domain=domain, range=[STATUS_COLORS[c] for c in domain]))
            if stack:
                encoding["order"] = alt.Order(f"{stack}:Q")
            charts.append(alt.Chart(alt.Data(values=part)).mark_bar().encode(**encoding).properties(
                width=CHART_WIDTH, height=alt.Step(18)))
        return _stacked(charts)

    return chart


def _lines(time_field: str, series: dict[str, str], unit: str, time_unit: str, split: str | None = None) -> Callable:
    """One line per measure over time: `series` maps a column to its legend label."""

    def chart(rows: list[Row]) -> alt.Chart:
        import altair as alt

        charts = []
        for group, part in _groups(rows, split):
            long = [{time_field: row[time_field], "series": label, "value": row[column]}
                    for row in part for column, label in series.items()]
            charts.append(alt.Chart(alt.Data(values=long)).mark_line(point=True).encode(
                x=alt.X(f"{time_field}:T", title=None, timeUnit=time_unit),
                y=alt.Y("value:Q", title=_unit(unit, group), scale=alt.Scale(zero=True)),
                color=alt.Color("series:N", sort=list(series.values()), title=None,
                                legend=alt.Legend(orient="top")),
            ).properties(width=CHART_WIDTH, height=260 if split is None else 150))
        return _stacked(charts)

    return chart


# ------------------------------------------------------------------------- labels
def _names(into: str, name: str, key: str, none: str) -> Callable[[list[Row]], None]:
    """A label column from a name; the id is added where two rows share a name (two
    customers called 'Acme Foods Inc.'); `none` where there is no id."""

    def label(rows: list[Row]) -> None:
        keys_by_name: dict[str, set] = {}
        for row in rows:
            keys_by_name.setdefault(row[name] or "(unnamed)", set()).add(row[key])
        for row in rows:
            text = row[name] or "(unnamed)"
            if row[key] is None:
                row[into] = none
            else:
                row[into] = f"{text} #{row[key]}" if len(keys_by_name[text]) > 1 or text == "(unnamed)" else text

    return label


def _stages(rows: list[Row]) -> None:
    """'Sales · stage 2': the API lists no stage names, so a stage is its number in its pipeline."""
    for row in rows:
        number = row["stage_number"]
        row["stage"] = f"{row['pipeline']} · {'no stage' if number is None else f'stage {number}'}"


def _currencies(rows: list[Row]) -> None:
    for row in rows:
        row["currency"] = row["currency_code"] or "(no currency)"


def _segments(parts: dict[str, str], category: str) -> Callable[[list[Row]], list[Row]]:
    """Rows -> one stacked bar segment per non-zero count: `parts` maps a column to its status."""

    def reshape(rows: list[Row]) -> list[Row]:
        return [{category: row[category], "status": status, "count": row[column], "order": order}
                for row in rows for order, (column, status) in enumerate(parts.items()) if row[column]]

    return reshape


def _open_issues(rows: list[Row]) -> list[Row]:
    for row in rows:
        row["issues_open"] = row["issues"] - row["issues_done"]
    return _segments({"issues_done": "done", "issues_open": "open"}, "sprint")(rows)


# -------------------------------------------------------------------- asides
def _count(number: int, noun: str, plural: str | None = None) -> str:
    return f"{display(number)} {noun if number == 1 else plural or noun + 's'}"


def _without_customer(rows: list[Row]) -> str | None:
    """Overdue invoices of no customer, per currency."""
    amounts = "; ".join(f"{_count(row['overdue_invoices'], 'invoice')}, {display(row['overdue_amount'])} "
                        f"{row['currency_code'] or '(no currency)'}" for row in rows)
    return f"Overdue invoices without a customer, not ranked: {amounts}." if rows else None


@dataclass(frozen=True)
class Aside:
    """What a ranking leaves out on purpose (no customer, no project), said beside it:
    `text` turns the rows of `query` into one sentence, or None when there is nothing to say."""

    query: str
    text: Callable[[list[Row]], str | None]


def _first_row(text: Callable[[Row], str]) -> Callable[[list[Row]], str | None]:
    return lambda rows: text(rows[0]) if rows and any(v for v in rows[0].values()) else None


@dataclass(frozen=True)
class Section:
    """One chart with its table. `query` reads `{view}`; `labels` add display columns;
    `reshape` turns the table's rows into the chart's data; `aside` says what is left out."""

    title: str
    view: str
    lede: str
    query: str
    columns: tuple[tuple[str, str], ...]
    chart: Callable[[list[Row]], alt.Chart]
    labels: tuple[Callable[[list[Row]], None], ...] = ()
    reshape: Callable[[list[Row]], list[Row]] | None = None
    chronological: bool = False
    aside: Aside | None = None


TOP_PIPELINES, MONTHS, TOP_CUSTOMERS, TOP_PROJECTS, WEEKS, SPRINTS = 5, 24, 10, 15, 26, 15
# Periods still running (this week, this month) would draw as a drop: they are left out.
BEFORE_THIS = "CAST(date_trunc('{unit}', CURRENT_DATE) AS DATE)"

SECTIONS: tuple[Section, ...] = (
    Section(
        "Lead funnel by pipeline stage", "v_lead_funnel",
        f"Leads of the {TOP_PIPELINES} pipelines with the most leads, by the stage they are in (open) or were "
        "closed in (won, lost). The API lists no stage names, so stages are numbered in the order of their ids.",
        f"""SELECT f.pipeline_name, f.pipeline_id, f.stage_number, f.pipeline_stage_id, f.open_leads, f.won_leads,
                   f.lost_leads FROM {{view}} f
            JOIN (SELECT pipeline_id AS top_id, SUM(leads) AS pipeline_leads FROM {{view}} t
                  WHERE pipeline_id IS NOT NULL GROUP BY pipeline_id
                  ORDER BY SUM(leads) DESC, pipeline_id LIMIT {TOP_PIPELINES}) top ON top.top_id = f.pipeline_id
            ORDER BY top.pipeline_leads DESC, f.pipeline_id, f.stage_number NULLS LAST""",
        (("pipeline", "pipeline"), ("stage_number", "stage"), ("pipeline_stage_id", "stage id"),
         ("open_leads", "open"), ("won_leads", "won"), ("lost_leads", "lost")),
        _bars("stage", "count", "leads", color="status", stack="order"),
        labels=(_names("pipeline", "pipeline_name", "pipeline_id", "(no pipeline)"), _stages),
        reshape=_segments({"open_leads": "open", "won_leads": "won", "lost_leads": "lost"}, "stage"),
        aside=Aside("SELECT SUM(leads) AS leads FROM {view} a WHERE pipeline_id IS NULL",
                    _first_row(lambda row: f"Not shown: {_count(row['leads'], 'lead')} without a pipeline.")),
    ),
    Section(
        "Invoices issued vs paid per month", "v_invoices_monthly",
        f"Invoice totals by the month they were issued and the month they were paid, one chart per currency "
        f"(last {MONTHS} complete months with invoices; amounts in different currencies are never added up).",
        f"""WITH months AS (SELECT DISTINCT month FROM {{view}} m WHERE month < {BEFORE_THIS.format(unit='month')}
                            ORDER BY month DESC LIMIT {MONTHS}),
                 currencies AS (SELECT currency_code, SUM(invoices_issued + invoices_paid) AS invoices FROM {{view}} c
                                WHERE month IN (SELECT month FROM months) GROUP BY currency_code)
            SELECT ms.month, cs.currency_code, COALESCE(v.invoices_issued, 0) AS invoices_issued,
                   COALESCE(v.amount_issued, 0) AS amount_issued, COALESCE(v.invoices_paid, 0) AS invoices_paid,
                   COALESCE(v.amount_paid, 0) AS amount_paid
            FROM months ms CROSS JOIN currencies cs
            LEFT JOIN {{view}} v ON v.month = ms.month AND v.currency_code IS NOT DISTINCT FROM cs.currency_code
            ORDER BY cs.invoices DESC, cs.currency_code NULLS LAST, ms.month""",
        (("month", "month"), ("currency", "currency"), ("invoices_issued", "issued"),
         ("amount_issued", "issued amount"), ("invoices_paid", "paid"), ("amount_paid", "paid amount")),
        _lines("month", {"amount_issued": "issued", "amount_paid": "paid"}, "amount", "yearmonth", split="currency"),
        labels=(_currencies,),
    ),
    Section(
        "Overdue invoices by customer", "v_overdue_by_customer",
        f"Unpaid invoices past their due date: in each currency, the {TOP_CUSTOMERS} customers who owe the most.",
        f"""SELECT customer_name, customer_id, currency_code, overdue_invoices, overdue_amount, oldest_due_date FROM (
                SELECT o.*, ROW_NUMBER() OVER (PARTITION BY currency_code
                                               ORDER BY overdue_amount DESC, customer_id) AS rank,
                       SUM(overdue_invoices) OVER (PARTITION BY currency_code) AS currency_invoices
                FROM {{view}} o WHERE customer_id IS NOT NULL) ranked
            WHERE rank <= {TOP_CUSTOMERS}
            ORDER BY currency_invoices DESC, currency_code NULLS LAST, rank""",
        (("customer", "customer"), ("currency", "currency"), ("overdue_invoices", "invoices"),
         ("overdue_amount", "amount"), ("oldest_due_date", "oldest due")),
        _bars("customer", "overdue_amount", "overdue amount", split="currency"),
        labels=(_names("customer", "customer_name", "customer_id", "(no customer)"), _currencies),
        aside=Aside("SELECT currency_code, overdue_invoices, overdue_amount FROM {view} a WHERE customer_id IS NULL "
                    "ORDER BY overdue_invoices DESC, currency_code", _without_customer),
    ),
    Section(
        "Hours logged per project", "v_hours_by_project",
        f"Time from timesheets, through their tasks: the {TOP_PROJECTS} projects with the most hours.",
        f"SELECT project_name, project_id, entries, hours FROM {{view}} h WHERE project_id IS NOT NULL "
        f"ORDER BY hours DESC, project_id LIMIT {TOP_PROJECTS}",
        (("project", "project"), ("entries", "entries"), ("hours", "hours")),
        _bars("project", "hours", "hours"),
        labels=(_names("project", "project_name", "project_id", "(no project)"),),
        aside=Aside("SELECT entries, hours FROM {view} a WHERE project_id IS NULL",
                    _first_row(lambda row: f"Time on no project (entries without a task, or on a task outside any "
                                           f"project), not ranked: {display(row['hours'])} hours in "
                                           f"{_count(row['entries'], 'entry', 'entries')}.")),
    ),
    Section(
        "Tasks opened vs closed per week", "v_tasks_weekly",
        f"Tasks created and closed in each week (from Monday), last {WEEKS} complete weeks with activity.",
        f"SELECT week, opened, closed FROM {{view}} w WHERE week < {BEFORE_THIS.format(unit='week')} "
        f"ORDER BY week DESC LIMIT {WEEKS}",
        (("week", "week"), ("opened", "opened"), ("closed", "closed")),
        _lines("week", {"opened": "opened", "closed": "closed"}, "tasks", "yearmonthdate"),
        chronological=True,
    ),
    Section(
        "Agile sprint burn", "v_sprint_burn",
        f"Issues done and still open in the {SPRINTS} most recent sprints.",
        f"SELECT sprint_name, sprint_id, project_name, start_date, issues, issues_done FROM {{view}} s "
        f"ORDER BY start_date DESC NULLS LAST, sprint_id DESC LIMIT {SPRINTS}",
        (("sprint", "sprint"), ("project_name", "project"), ("start_date", "start"), ("issues", "issues"),
         ("issues_done", "done")),
        _bars("sprint", "count", "issues", color="status", stack="order"),
        labels=(_names("sprint", "sprint_name", "sprint_id", "(no sprint)"),),
        reshape=_open_issues,
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
    aside: str | None = None  # what the ranking leaves out on purpose

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
    for label in section.labels:
        label(rows)
    return rows


def section_aside(client, section: Section) -> str | None:
    """The sentence that says what the section's ranking leaves out, if anything."""
    if section.aside is None:
        return None
    view = client.make_qualified_table_name(section.view)
    return section.aside.text(_query(client, section.aside.query.format(view=view)))


def missing_view(view: str, tables: set[str]) -> str:
    """Why a section's view is missing, and what makes it: the tables it reads that were
    never loaded (after a sync of some resources only; every sync installs the views whose
    tables are there), else the views themselves."""
    absent = sorted(required_tables(VIEWS_BY_NAME[view]) - tables) if view in VIEWS_BY_NAME else []
    if absent:
        return (f"view {view} needs tables not loaded yet: {', '.join(absent)}; "
                f"sync them (`pmcrm sync --resources {','.join(absent)}`, or every resource)")
    return f"view {view} not found: run `pmcrm views`"


def render_section(client, section: Section, tables: set[str]) -> RenderedSection:
    """`tables`: the dataset's tables, to say why a missing view is missing."""
    headers = [header for _, header in section.columns]
    try:
        rows = section_rows(client, section)
    except DatabaseUndefinedRelation:
        return RenderedSection(section, headers, [], missing=missing_view(section.view, tables))
    table = [[display(row[column]) for column, _ in section.columns] for row in rows]
    if not rows:
        return RenderedSection(section, headers, [], missing="no data")
    numeric = [any(_is_number(row[column]) for row in rows) for column, _ in section.columns]
    data = [{k: _json_value(v) for k, v in row.items()} for row in rows]
    chart = section.chart(section.reshape(data) if section.reshape else data)
    import vl_convert

    svg = vl_convert.vegalite_to_svg(chart.to_dict(), config=CHART_CONFIG)
    return RenderedSection(section, headers, table, svg=svg, numeric=numeric, aside=section_aside(client, section))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)


def _loaded_at(client) -> str | None:
    try:
        rows = _query(client, f"SELECT MAX(inserted_at) AS at FROM {client.make_qualified_table_name('_dlt_loads')} l WHERE status = 0")
    except DatabaseUndefinedRelation:
        return None
    at = rows[0]["at"] if rows else None
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if at else None


def render_report(pipeline: dlt.Pipeline) -> str:
    """The report's HTML, from the views in the pipeline's dataset."""
    with pipeline.sql_client() as client:
        tables = set(table_columns(client))
        sections = [render_section(client, section, tables) for section in SECTIONS]
        loaded_at = _loaded_at(client)
    env = Environment(loader=PackageLoader("pmcrm", "templates"), autoescape=select_autoescape(["html"]))
    return env.get_template("report.html").render(
        sections=sections,
        dataset=pipeline.dataset_name,
        destination=pipeline.destination.destination_type.rsplit(".", 1)[-1],
        loaded_at=loaded_at,
        generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )


def write_report(pipeline: dlt.Pipeline, output: str | Path) -> Path:
    path = Path(output)
    path.write_text(render_report(pipeline), encoding="utf-8")
    return path
