"""SQL views over the loaded tables: the documented joins, ready for any BI tool.

Each view is data: a name (``v_`` prefix), a description and a SELECT. In the SELECT,
``{table}`` stands for that table's live rows (rows marked ``_pmcrm_deleted_at`` are
left out, and ``crm_account_id``/``crm_company_id`` also answer to ``customer_id`` when
the sync kept the API's names), ``{v_name}`` for another view, declared earlier, and
``{tz}`` for the account's time zone, in which dates are cut into weeks and months.
The SQL is plain enough for DuckDB and PostgreSQL alike; ``install_views`` creates the
views through dlt's ``sql_client()`` so they land in the pipeline's dataset.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import dlt
from dlt.destinations.exceptions import DatabaseException

from pmcrm.deletions import DELETED_AT
from pmcrm.schema import NEUTRAL_NAMES


@dataclass(frozen=True)
class View:
    """One view: `joins` documents how its tables meet, for the README and for BI users."""

    name: str
    description: str
    sql: str
    joins: tuple[str, ...] = ()

    @property
    def references(self) -> tuple[str, ...]:
        """Tables and views named in the SQL, in order of first use."""
        names = [f for _, f, _, _ in string.Formatter().parse(self.sql) if f and f != "tz"]
        return tuple(dict.fromkeys(names))


def _local(column: str, unit: str) -> str:
    """The week or month (a date) of a timestamp, on the account's calendar."""
    return f"CAST(date_trunc('{unit}', {column} AT TIME ZONE {{tz}}) AS DATE)"


VIEWS: tuple[View, ...] = (
    View(
        "v_tasks",
        "Tasks with their project and customer.",
        f"""
        SELECT t.id AS task_id, t.name AS task_name, t.priority, t.responsible_id,
               t.created_date, t.closed_date, t.deadline, t.closed_date IS NOT NULL AS is_closed,
               {_local('t.created_date', 'week')} AS created_week,
               {_local('t.closed_date', 'week')} AS closed_week,
               t.time_estimate, t.time_spent,
               p.id AS project_id, p.name AS project_name,
               COALESCE(t.customer_id, p.customer_id) AS customer_id, a.name AS customer_name
        FROM {{tasks}} t
        LEFT JOIN {{projects}} p ON t.model = 'projects' AND p.id = t.model_id
        LEFT JOIN {{account}} a ON a.id = COALESCE(t.customer_id, p.customer_id)
        """,
        ("tasks.model_id = projects.id (when tasks.model = 'projects')",
         "customer: tasks.customer_id, else projects.customer_id = account.id"),
    ),
    View(
        "v_invoices",
        "Invoices with customer and project; paid, overdue (unpaid past the due date) and the amount due.",
        f"""
        SELECT i.id AS invoice_id, i.invoice_number_print AS invoice_number, i.currency_code,
               i.invoice_date, i.due_date, i.paid_date,
               {_local('i.invoice_date', 'month')} AS issued_month,
               {_local('i.paid_date', 'month')} AS paid_month,
               i.sub_total, i.tax_total, i.total, i.bcy_paid_total AS paid_total,
               i.paid_date IS NOT NULL AS is_paid,
               i.paid_date IS NULL AND i.due_date < CURRENT_TIMESTAMP AS is_overdue,
               CASE WHEN i.paid_date IS NULL THEN i.total ELSE 0 END AS amount_due,
               i.customer_id, a.name AS customer_name, p.id AS project_id, p.name AS project_name
        FROM {{invoice}} i
        LEFT JOIN {{account}} a ON a.id = i.customer_id
        LEFT JOIN {{projects}} p ON i.model = 'projects' AND p.id = i.model_id
        """,
        ("invoice.customer_id = account.id",
         "invoice.model_id = projects.id (when invoice.model = 'projects')"),
    ),
    View(
        "v_invoice_items",
        "Invoice lines with their invoice, customer and product.",
        """
        SELECT ii.id AS line_id, ii.name AS line_name, ii.quantity, ii.unit_price, ii.total,
               ii.item_id AS product_id, pr.name AS product_name,
               i.invoice_id, i.invoice_number, i.invoice_date, i.issued_month, i.is_paid,
               i.customer_id, i.customer_name, i.project_id, i.project_name
        FROM {invoice_items} ii
        JOIN {v_invoices} i ON i.invoice_id = ii.invoice_id
        LEFT JOIN {product_list} pr ON pr.id = ii.item_id
        """,
        ("invoice_items.invoice_id = invoice.id (lines of a deleted invoice are left out)",
         "invoice_items.item_id = product_list.id"),
    ),
    View(
        "v_leads",
        "Leads with pipeline, stage, customer and loss reason; status open, won or lost.",
        """
        SELECT l.id AS lead_id, l.name AS lead_name, l.created_date, l.closing_date,
               l.budget, l.active,
               CASE l.active WHEN 1 THEN 'open' WHEN 2 THEN 'lost' WHEN 3 THEN 'won' END AS status,
               l.pipeline_id, p.name AS pipeline_name, l.pipeline_stage_id,
               l.closing_status_id AS loss_reason_id, lr.name AS loss_reason,
               l.customer_id, a.name AS customer_name
        FROM {lead} l
        LEFT JOIN (SELECT id, MIN(name) AS name FROM {pipeline} pp WHERE id IS NOT NULL GROUP BY id) p
               ON p.id = l.pipeline_id
        LEFT JOIN {loss_reason} lr ON lr.id = l.closing_status_id
        LEFT JOIN {account} a ON a.id = l.customer_id
        """,
        ("lead.pipeline_id = pipeline.id (pipeline is a snapshot whose id may repeat: one name per id)",
         "lead.closing_status_id = loss_reason.id", "lead.customer_id = account.id",
         "status from lead.active: 1 open, 2 lost, 3 won (the platform's numbers)"),
    ),
    View(
        "v_timesheets",
        "Time entries with their task, project and customer; hours from seconds.",
        f"""
        SELECT ts.id AS timesheet_id, ts.created_date, {_local('ts.created_date', 'week')} AS week,
               ts.time_spent AS seconds_spent, ts.time_spent / 3600.0 AS hours,
               ts.is_billable, ts.bill_time AS billable_seconds, ts.invoice_id,
               t.task_id, t.task_name, t.project_id, t.project_name, t.customer_id, t.customer_name
        FROM {{timesheet}} ts
        LEFT JOIN {{v_tasks}} t ON ts.model = 'tasks' AND t.task_id = ts.model_id
        """,
        ("timesheet.model_id = tasks.id (when timesheet.model = 'tasks'), then as v_tasks",),
    ),
    View(
        "v_agile_issues",
        "Agile issues with sprint, epic, stage, type and project; done when completed.",
        """
        SELECT ai.id AS issue_id, ai.number_label, ai.name AS issue_name, ai.priority,
               ai.created_date, ai.completed_date, ai.completed_date IS NOT NULL AS is_done,
               ai.estimate, ai.effort,
               ai.sprint_id, s.name AS sprint_name, ai.epic_id, e.name AS epic_name,
               ai.workflow_stage_id AS stage_id, st.name AS stage_name,
               ai.type_id, ty.name AS type_name, ai.project_id, p.name AS project_name
        FROM {agile_issues} ai
        LEFT JOIN {agile_sprints} s ON s.id = ai.sprint_id
        LEFT JOIN {agile_epics} e ON e.id = ai.epic_id
        LEFT JOIN {agile_stages} st ON st.id = ai.workflow_stage_id
        LEFT JOIN {agile_issue_type} ty ON ty.id = ai.type_id
        LEFT JOIN {projects} p ON p.id = ai.project_id
        """,
        ("agile_issues.sprint_id = agile_sprints.id", "agile_issues.epic_id = agile_epics.id",
         "agile_issues.workflow_stage_id = agile_stages.id", "agile_issues.type_id = agile_issue_type.id",
         "agile_issues.project_id = projects.id"),
    ),
    View(
        "v_lead_funnel",
        "Per pipeline and stage: leads open, won and lost, and their budget; stages numbered by id within "
        "their pipeline.",
        """
        SELECT pipeline_id, pipeline_name, pipeline_stage_id,
               CASE WHEN pipeline_stage_id IS NOT NULL THEN DENSE_RANK() OVER (
                   PARTITION BY pipeline_id, pipeline_stage_id IS NULL ORDER BY pipeline_stage_id) END AS stage_number,
               COUNT(*) AS leads,
               SUM(CASE WHEN status = 'open' THEN 1 ELSE 0 END) AS open_leads,
               SUM(CASE WHEN status = 'won' THEN 1 ELSE 0 END) AS won_leads,
               SUM(CASE WHEN status = 'lost' THEN 1 ELSE 0 END) AS lost_leads,
               COALESCE(SUM(budget), 0) AS budget
        FROM {v_leads} l
        GROUP BY pipeline_id, pipeline_name, pipeline_stage_id
        """,
        ("from v_leads (stage names have no list endpoint among the 36 resources)",),
    ),
    View(
        "v_invoices_monthly",
        "Per month and currency: invoices issued (by invoice date) and paid (by paid date), count and total.",
        """
        SELECT month, currency_code, SUM(issued) AS invoices_issued,
               COALESCE(SUM(issued_amount), 0) AS amount_issued,
               SUM(paid) AS invoices_paid, COALESCE(SUM(paid_amount), 0) AS amount_paid
        FROM (
            SELECT issued_month AS month, currency_code, 1 AS issued, total AS issued_amount, 0 AS paid,
                   0 AS paid_amount
            FROM {v_invoices} i WHERE issued_month IS NOT NULL
            UNION ALL
            SELECT paid_month, currency_code, 0, 0, 1, total FROM {v_invoices} i WHERE paid_month IS NOT NULL
        ) events
        GROUP BY month, currency_code
        """,
        ("from v_invoices (amounts in different currencies are never added together)",),
    ),
    View(
        "v_overdue_by_customer",
        "Unpaid invoices past their due date, per customer and currency: count, amount, oldest due date.",
        """
        SELECT customer_id, customer_name, currency_code, COUNT(*) AS overdue_invoices,
               COALESCE(SUM(total), 0) AS overdue_amount, MIN(due_date) AS oldest_due_date
        FROM {v_invoices} i
        WHERE is_overdue
        GROUP BY customer_id, customer_name, currency_code
        """,
        ("from v_invoices (amounts in different currencies are never added together)",),
    ),
    View(
        "v_hours_by_project",
        "Time logged per project (through the timesheet's task); entries without a task count under NULL.",
        """
        SELECT project_id, project_name, COUNT(*) AS entries,
               COALESCE(SUM(seconds_spent), 0) AS seconds_spent,
               ROUND(COALESCE(SUM(seconds_spent), 0) / 3600.0, 2) AS hours
        FROM {v_timesheets} t
        GROUP BY project_id, project_name
        """,
        ("from v_timesheets",),
    ),
    View(
        "v_tasks_weekly",
        "Per week (Monday): tasks opened (created) and closed.",
        """
        SELECT week, SUM(opened) AS opened, SUM(closed) AS closed
        FROM (
            SELECT created_week AS week, 1 AS opened, 0 AS closed FROM {v_tasks} t WHERE created_week IS NOT NULL
            UNION ALL
            SELECT closed_week, 0, 1 FROM {v_tasks} t WHERE closed_week IS NOT NULL
        ) events
        GROUP BY week
        """,
        ("from v_tasks",),
    ),
    View(
        "v_sprint_burn",
        "Per sprint: issues planned and done, estimate planned and done.",
        """
        SELECT s.id AS sprint_id, s.name AS sprint_name, s.start_date, s.deadline,
               s.project_id, p.name AS project_name,
               COUNT(i.issue_id) AS issues, SUM(CASE WHEN i.is_done THEN 1 ELSE 0 END) AS issues_done,
               COALESCE(SUM(i.estimate), 0) AS estimate,
               COALESCE(SUM(CASE WHEN i.is_done THEN i.estimate END), 0) AS estimate_done
        FROM {agile_sprints} s
        LEFT JOIN {projects} p ON p.id = s.project_id
        LEFT JOIN {v_agile_issues} i ON i.sprint_id = s.id
        GROUP BY s.id, s.name, s.start_date, s.deadline, s.project_id, p.name
        """,
        ("agile_sprints.project_id = projects.id", "v_agile_issues.sprint_id = agile_sprints.id"),
    ),
)

VIEWS_BY_NAME: dict[str, View] = {view.name: view for view in VIEWS}


def required_tables(view: View) -> set[str]:
    """Every table a view reads, through the views it reads."""
    tables: set[str] = set()
    for name in view.references:
        tables |= required_tables(VIEWS_BY_NAME[name]) if name in VIEWS_BY_NAME else {name}
    return tables


@dataclass
class ViewsResult:
    """Views created, and views skipped because a table they read was not loaded."""

    created: list[str] = field(default_factory=list)
    skipped: dict[str, list[str]] = field(default_factory=dict)


def table_columns(client) -> dict[str, set[str]]:
    """Table -> its columns, for every table of the client's dataset."""
    catalog, schema = client.catalog_name(quote=False), client.make_qualified_table_name_path(None, quote=False)[-1]
    query = "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = %s"
    params = [schema]
    if catalog is not None:
        query += " AND table_catalog = %s"
        params.append(catalog)
    columns: dict[str, set[str]] = {}
    for table, column in client.execute_sql(query, *params) or ():
        columns.setdefault(table, set()).add(column)
    return columns


def _live_rows(client, table: str, columns: set[str]) -> str:
    """A table's rows that are not marked deleted, with neutral names where they are missing."""
    qualified = client.make_qualified_table_name(table)
    aliases = "".join(
        f", {api} AS {neutral}" for api, neutral in NEUTRAL_NAMES.items() if api in columns and neutral not in columns
    )
    where = f" WHERE {DELETED_AT} IS NULL" if DELETED_AT in columns else ""
    if not aliases and not where:
        return qualified
    return f"(SELECT *{aliases} FROM {qualified}{where})"


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def view_sql(client, view: View, columns: dict[str, set[str]], timezone: str) -> str:
    """The view's SELECT with its placeholders filled in for this dataset."""
    values = {
        name: client.make_qualified_table_name(name) if name in VIEWS_BY_NAME else _live_rows(client, name, columns[name])
        for name in view.references
    }
    return view.sql.format(tz=_sql_literal(timezone), **values)


def install_views(pipeline: dlt.Pipeline, timezone: str = "UTC") -> ViewsResult:
    """Create or replace every view whose tables are loaded; idempotent, cheap (no data moves).

    `timezone` is the account's time zone (the sync's `timezone` option): weeks and months
    are cut on its calendar. Views whose columns changed (a new pmcrm) are dropped and
    created anew, since PostgreSQL cannot replace a view with different columns.
    """
    ZoneInfo(timezone)  # an unknown zone fails here, not as an SQL error
    result = ViewsResult()
    with pipeline.sql_client() as client:
        columns = table_columns(client)
        statements: list[tuple[View, str]] = []
        for view in VIEWS:
            missing = sorted(t for t in required_tables(view) if t not in columns)
            if missing:
                result.skipped[view.name] = missing
                continue
            statements.append((view, view_sql(client, view, columns, timezone)))
        try:
            for view, sql in statements:
                client.execute_sql(f"CREATE OR REPLACE VIEW {client.make_qualified_table_name(view.name)} AS {sql}")
        except DatabaseException:
            _drop(client, [view for view, _ in statements])
            for view, sql in statements:
                client.execute_sql(f"CREATE VIEW {client.make_qualified_table_name(view.name)} AS {sql}")
        if columns:  # an empty dataset may not even exist as a schema
            _drop(client, [VIEWS_BY_NAME[name] for name in result.skipped])
    result.created = [view.name for view, _ in statements]
    return result


def _drop(client, views) -> None:
    for view in reversed(list(views)):
        client.execute_sql(f"DROP VIEW IF EXISTS {client.make_qualified_table_name(view.name)}")


def drop_views(pipeline: dlt.Pipeline) -> None:
    """Drop every pmcrm view. PostgreSQL refuses to drop a table a view reads, so a sync
    that drops tables (a full refresh) must call this first; `install_views` restores them."""
    with pipeline.sql_client() as client:
        if client.has_dataset():
            _drop(client, VIEWS)
