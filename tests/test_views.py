"""The v_* views: every number equals what the sandbox's API rows say, computed here in
Python, on DuckDB and on PostgreSQL, for uniform and for account-shaped data; deleted rows
are left out; views whose tables were not synced are skipped, not broken."""

from __future__ import annotations

import contextlib
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pytest
from click.testing import CliRunner

from pmcrm.cli import main
from pmcrm.pipeline import make_pipeline, run_sync
from pmcrm.sandbox import Sandbox, SandboxOptions
from pmcrm.views import VIEWS, VIEWS_BY_NAME, drop_views, install_views, required_tables
from tests.helpers import postgres_dataset, sync_request
from tests.truth import NO_DATE, read_table

# East of UTC: a date-only value ('2024-03-01 00:00:00') is the previous day in UTC, so a
# view that cut months or weeks in UTC instead of the account's time zone would show.
TZ = "Asia/Tokyo"
VIEW_RESOURCES = sorted(set().union(*map(required_tables, VIEWS)))


@contextlib.contextmanager
def destination_options(name: str):
    if name == "postgres":
        with postgres_dataset("pmcrm_views") as dataset:
            yield {"destination": "postgres", "dataset": dataset}
    else:
        yield {}


def load_with_views(api, directory, **overrides):
    """Sync what the views read (in the account time zone, TZ unless `timezone=` says
    otherwise), then install the views."""
    overrides.setdefault("resources", VIEW_RESOURCES)
    overrides.setdefault("timezone", TZ)
    request = sync_request(api, directory, **overrides)
    result = run_sync(request)
    assert result.ok, result.error
    pipeline = make_pipeline(request)
    installed = install_views(pipeline, overrides["timezone"])
    return pipeline, installed


@pytest.fixture(scope="module", params=["uniform", "account"])
def api(request, sandbox):
    """The data the views are checked on: the suite's sandbox (every value drawn on its own),
    and one shaped like an account (leads open, won and lost in the stages of a few pipelines,
    three currencies, invoices and time linked to customers and projects)."""
    if request.param == "uniform":
        yield sandbox
        return
    with Sandbox(SandboxOptions(seed=7, rows=300, shape="account")) as account:
        yield account


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def views(request, api, tmp_path_factory):
    """The data loaded once per destination, views installed; returns the pipeline."""
    with destination_options(request.param) as options:
        pipeline, installed = load_with_views(api, tmp_path_factory.mktemp(request.param), **options)
        assert installed.created == [view.name for view in VIEWS] and not installed.skipped
        yield pipeline


# --------------------------------------------------------- the truth, in Python
def day(value) -> date | None:
    """The account-calendar day of an API date string (the API sends wall-clock time)."""
    return None if value is None or value in NO_DATE else date.fromisoformat(value[:10])


def month(value) -> date | None:
    d = day(value)
    return d and d.replace(day=1)


def week(value) -> date | None:
    d = day(value)
    return d and d - timedelta(days=d.weekday())


def number(value) -> int | None:
    return None if value in (None, "") else int(value)


def money(value) -> Decimal | None:
    return None if value in (None, "") else Decimal(str(value))


def total(values) -> Decimal:
    return sum((v for v in values if v is not None), Decimal(0))


class Truth:
    """The API rows, indexed by id, and the joins the views document."""

    def __init__(self, api):
        self.api = api
        self._by_id: dict[str, dict] = {}

    def rows(self, resource: str) -> list[dict]:
        return self.api.truth(resource)

    def by_id(self, resource: str) -> dict:
        if resource not in self._by_id:
            self._by_id[resource] = {number(r["id"]): r for r in self.rows(resource) if r.get("id") is not None}
        return self._by_id[resource]

    def name(self, resource: str, row_id) -> str | None:
        row = self.by_id(resource).get(number(row_id))
        return row and row.get("name")

    def project_of_task(self, task: dict) -> dict | None:
        return self.by_id("projects").get(number(task["model_id"])) if task.get("model") == "projects" else None

    def task_of_timesheet(self, sheet: dict) -> dict | None:
        return self.by_id("tasks").get(number(sheet["model_id"])) if sheet.get("model") == "tasks" else None

    def customer_of_task(self, task: dict):
        project = self.project_of_task(task)
        own = number(task.get("crm_account_id"))
        return own if own is not None else project and number(project.get("customer_id"))

    def pipeline_name(self, pipeline_id) -> str | None:
        if pipeline_id is None:
            return None
        names = [p.get("name") for p in self.rows("pipeline") if number(p.get("id")) == number(pipeline_id)]
        return min((n for n in names if n is not None), default=None)

    def overdue(self, invoice: dict, now: datetime) -> bool:
        due = invoice.get("due_date")
        if day(invoice.get("paid_date")) is not None or day(due) is None:
            return False
        return datetime.fromisoformat(due).replace(tzinfo=ZoneInfo(TZ)) < now


@pytest.fixture(scope="module")
def truth(api):
    return Truth(api)


def view_rows(pipeline, view: str, key: tuple[str, ...]) -> dict:
    rows = read_table(pipeline, view)
    keyed = {tuple(row[k] for k in key): row for row in rows}
    assert len(keyed) == len(rows), f"{view}: {key} is not unique"
    return keyed


def assert_view_equals(pipeline, view: str, key: tuple[str, ...], expected: dict) -> None:
    """Same keys; in each row, every expected column holds the expected value."""
    loaded = view_rows(pipeline, view, key)
    assert sorted(loaded, key=str) == sorted(expected, key=str), f"{view}: different rows"
    for k, want in expected.items():
        got = {column: loaded[k][column] for column in want}
        assert got == want, f"{view} {dict(zip(key, k))}"


# ----------------------------------------------------------------- declarations
def test_views_are_declared_with_a_v_prefix_a_description_and_only_earlier_views():
    seen: set[str] = set()
    for view in VIEWS:
        assert view.name.startswith("v_") and view.description and view.joins, view.name
        for name in view.references:
            if name.startswith("v_"):
                assert name in seen, f"{view.name} reads {name}, declared later (or not at all)"
        seen.add(view.name)
    assert len(VIEWS_BY_NAME) == len(VIEWS)


# ------------------------------------------------------------- detail views
def test_tasks_join_their_project_and_customer(views, truth):
    expected = {}
    for task in truth.rows("tasks"):
        project, customer = truth.project_of_task(task), truth.customer_of_task(task)
        expected[(number(task["id"]),)] = {
            "project_id": project and number(project["id"]),
            "project_name": project and project.get("name"),
            "customer_id": customer,
            "customer_name": truth.name("account", customer),
            "is_closed": day(task.get("closed_date")) is not None,
            "created_week": week(task.get("created_date")),
            "closed_week": week(task.get("closed_date")),
        }
    assert_view_equals(views, "v_tasks", ("task_id",), expected)


def test_invoice_items_join_their_invoice_customer_and_product(views, truth):
    expected = {}
    for item in truth.rows("invoice_items"):
        invoice = truth.by_id("invoice")[number(item["invoice_id"])]
        expected[(number(item["id"]),)] = {
            "invoice_id": number(invoice["id"]),
            "customer_id": number(invoice.get("customer_id")),
            "customer_name": truth.name("account", invoice.get("customer_id")),
            "product_name": truth.name("product_list", item.get("item_id")),
            "total": money(item.get("total")),
        }
    assert_view_equals(views, "v_invoice_items", ("line_id",), expected)


def test_leads_join_their_pipeline_loss_reason_and_customer(views, truth):
    expected = {
        (number(lead["id"]),): {
            "pipeline_name": truth.pipeline_name(lead.get("pipeline_id")),
            "pipeline_stage_id": number(lead.get("pipeline_stage_id")),
            "status": {1: "open", 2: "lost", 3: "won"}.get(number(lead.get("active"))),
            "loss_reason": truth.name("loss_reason", lead.get("closing_status_id")),
            "customer_name": truth.name("account", lead.get("customer_id")),
        }
        for lead in truth.rows("lead")
    }
    assert_view_equals(views, "v_leads", ("lead_id",), expected)


def test_agile_issues_join_their_sprint_epic_stage_type_and_project(views, truth):
    expected = {
        (number(issue["id"]),): {
            "sprint_name": truth.name("agile_sprints", issue.get("sprint_id")),
            "epic_name": truth.name("agile_epics", issue.get("epic_id")),
            "stage_name": truth.name("agile_stages", issue.get("workflow_stage_id")),
            "type_name": truth.name("agile_issue_type", issue.get("type_id")),
            "project_name": truth.name("projects", issue.get("project_id")),
            "is_done": day(issue.get("completed_date")) is not None,
        }
        for issue in truth.rows("agile_issues")
    }
    assert_view_equals(views, "v_agile_issues", ("issue_id",), expected)


# ---------------------------------------------------------- what the report shows
def test_lead_funnel_counts_leads_open_won_and_lost_per_pipeline_stage_numbered_by_id(views, truth):
    groups = defaultdict(list)
    for lead in truth.rows("lead"):
        pipeline_id = number(lead.get("pipeline_id"))
        groups[(pipeline_id, truth.pipeline_name(pipeline_id), number(lead.get("pipeline_stage_id")))].append(lead)
    stages = defaultdict(list)
    for pipeline_id, _, stage_id in sorted(groups, key=lambda key: (str(key[0]), key[2] or 0)):
        if stage_id is not None:
            stages[pipeline_id].append(stage_id)
    expected = {
        key: {
            "stage_number": None if key[2] is None else stages[key[0]].index(key[2]) + 1,
            "leads": len(leads),
            **{f"{status}_leads": sum(number(lead.get("active")) == active for lead in leads)
               for status, active in (("open", 1), ("lost", 2), ("won", 3))},
            "budget": total(money(lead.get("budget")) for lead in leads),
        }
        for key, leads in groups.items()
    }
    assert_view_equals(views, "v_lead_funnel", ("pipeline_id", "pipeline_name", "pipeline_stage_id"), expected)


def test_invoices_are_counted_per_month_issued_and_paid_on_the_account_calendar_per_currency(views, truth):
    expected = defaultdict(lambda: {"invoices_issued": 0, "amount_issued": Decimal(0),
                                    "invoices_paid": 0, "amount_paid": Decimal(0)})
    for invoice in truth.rows("invoice"):
        amount = money(invoice.get("total")) or Decimal(0)
        for event, stamp in (("issued", invoice.get("invoice_date")), ("paid", invoice.get("paid_date"))):
            if month(stamp):
                key = (month(stamp), invoice.get("currency_code"))
                expected[key][f"invoices_{event}"] += 1
                expected[key][f"amount_{event}"] += amount
    assert len({currency for _, currency in expected}) >= 3, "the data should hold several currencies"
    assert_view_equals(views, "v_invoices_monthly", ("month", "currency_code"), dict(expected))


def test_overdue_amounts_sum_unpaid_invoices_past_their_due_date_per_customer_and_currency(views, truth):
    now = datetime.now(UTC)
    groups = defaultdict(list)
    for invoice in truth.rows("invoice"):
        if truth.overdue(invoice, now):
            customer = number(invoice.get("customer_id"))
            groups[(customer, truth.name("account", customer), invoice.get("currency_code"))].append(invoice)
    assert groups, "the sandbox should hold overdue invoices"
    expected = {
        key: {
            "overdue_invoices": len(invoices),
            "overdue_amount": total(money(i.get("total")) for i in invoices),
            "oldest_due_date": min(datetime.fromisoformat(i["due_date"]).replace(tzinfo=ZoneInfo(TZ)) for i in invoices),
        }
        for key, invoices in groups.items()
    }
    assert_view_equals(views, "v_overdue_by_customer", ("customer_id", "customer_name", "currency_code"), expected)


def test_hours_per_project_sum_timesheet_seconds_through_their_task(views, truth):
    groups = defaultdict(list)
    for sheet in truth.rows("timesheet"):
        task = truth.task_of_timesheet(sheet)
        project = task and truth.project_of_task(task)
        groups[(project and number(project["id"]), project and project.get("name"))].append(sheet)
    expected = {
        key: {"entries": len(sheets), "seconds_spent": sum(number(s.get("time_spent")) or 0 for s in sheets)}
        for key, sheets in groups.items()
    }
    assert_view_equals(views, "v_hours_by_project", ("project_id", "project_name"), expected)
    for row in read_table(views, "v_hours_by_project"):
        assert float(row["hours"]) == pytest.approx(float(row["seconds_spent"]) / 3600, abs=0.005)


def test_tasks_opened_and_closed_are_counted_per_week_from_monday(views, truth):
    opened = Counter(week(t.get("created_date")) for t in truth.rows("tasks"))
    closed = Counter(week(t.get("closed_date")) for t in truth.rows("tasks"))
    weeks = (set(opened) | set(closed)) - {None}
    expected = {(w,): {"opened": opened[w], "closed": closed[w]} for w in weeks}
    assert_view_equals(views, "v_tasks_weekly", ("week",), expected)


def test_sprint_burn_counts_issues_and_estimate_done_per_sprint(views, truth):
    issues = defaultdict(list)
    for issue in truth.rows("agile_issues"):
        issues[number(issue.get("sprint_id"))].append(issue)
    expected = {}
    for sprint in truth.rows("agile_sprints"):
        mine = issues[number(sprint["id"])]
        done = [i for i in mine if day(i.get("completed_date")) is not None]
        expected[(number(sprint["id"]),)] = {
            "sprint_name": sprint.get("name"),
            "project_name": truth.name("projects", sprint.get("project_id")),
            "issues": len(mine),
            "issues_done": len(done),
            "estimate": total(money(i.get("estimate")) for i in mine),
            "estimate_done": total(money(i.get("estimate")) for i in done),
        }
    assert_view_equals(views, "v_sprint_burn", ("sprint_id",), expected)


# ------------------------------------------------------------------- lifecycle
def test_installing_again_replaces_the_views_even_when_their_columns_changed(views):
    with views.sql_client() as client:
        client.execute_sql(f"DROP VIEW {client.make_qualified_table_name('v_tasks_weekly')}")
        client.execute_sql(f"CREATE VIEW {client.make_qualified_table_name('v_tasks_weekly')} AS SELECT 1 AS old_column")
    assert install_views(views, TZ).created == [view.name for view in VIEWS]
    assert set(read_table(views, "v_tasks_weekly")[0]) == {"week", "opened", "closed"}


def test_views_leave_out_rows_marked_deleted(tmp_path):
    with Sandbox(SandboxOptions(seed=3, rows=40)) as api:
        load_with_views(api, tmp_path, resources=["invoice", "account", "projects"])
        gone = {number(r["id"]) for r in api.truth("invoice")}
        api.delete(5, ["invoice"])
        gone -= {number(r["id"]) for r in api.truth("invoice")}
        pipeline, _ = load_with_views(api, tmp_path, resources=["invoice", "account", "projects"], deletions="mark")
        live = {number(r["id"]) for r in api.truth("invoice")}
    assert len(gone) == 5
    marked = {row["id"] for row in read_table(pipeline, "invoice") if row["_pmcrm_deleted_at"] is not None}
    assert marked == gone, "the sync should have marked exactly the deleted invoices"
    assert {row["invoice_id"] for row in read_table(pipeline, "v_invoices")} == live


def test_views_whose_tables_were_not_synced_are_skipped_and_name_the_missing_tables(sandbox, tmp_path):
    _, installed = load_with_views(sandbox, tmp_path, resources=["invoice", "account", "projects"])
    assert installed.created == ["v_invoices", "v_invoices_monthly", "v_overdue_by_customer"]
    assert installed.skipped["v_invoice_items"] == ["invoice_items", "product_list"]
    assert set(installed.skipped) == {view.name for view in VIEWS} - set(installed.created)


def test_views_use_customer_id_also_when_the_sync_kept_the_api_names(api, truth, tmp_path):
    pipeline, installed = load_with_views(api, tmp_path, resources=["tasks", "projects", "account"],
                                          keep_api_names=True)
    assert "v_tasks" in installed.created
    loaded = {row["task_id"]: row["customer_id"] for row in read_table(pipeline, "v_tasks")}
    assert loaded == {number(t["id"]): truth.customer_of_task(t) for t in truth.rows("tasks")}


def test_postgres_syncs_again_with_views_in_place_and_refreshes_once_they_are_dropped(sandbox, tmp_path):
    """Merge and replace (`pipeline` is a snapshot) write under the views; but PostgreSQL
    refuses to drop a table a view reads, so a full refresh calls drop_views first."""
    with postgres_dataset("pmcrm_views") as dataset:
        options = dict(destination="postgres", dataset=dataset,
                       resources=["invoice", "account", "projects", "lead", "pipeline", "loss_reason"])
        load_with_views(sandbox, tmp_path, **options)
        pipeline, _ = load_with_views(sandbox, tmp_path, **options)
        drop_views(pipeline)
        pipeline, installed = load_with_views(sandbox, tmp_path, full_refresh=True, **options)
        assert {"v_invoices", "v_leads"} <= set(installed.created)
        assert len(read_table(pipeline, "v_invoices")) == len(sandbox.truth("invoice"))
        assert len(read_table(pipeline, "v_leads")) == len(sandbox.truth("lead"))


def test_an_unknown_time_zone_is_refused_before_any_sql(views):
    with pytest.raises(ZoneInfoNotFoundError):
        install_views(views, "Mars/Olympus_Mons")


# ------------------------------------------------------------------------- CLI
def test_views_command_installs_the_views_in_a_duckdb_file(sandbox, tmp_path):
    load_with_views(sandbox, tmp_path, resources=["tasks", "projects", "account"], duckdb_file=str(tmp_path / "cli.duckdb"))
    result = CliRunner().invoke(main, ["views", "--duckdb-file", str(tmp_path / "cli.duckdb"), "--timezone", TZ])
    assert result.exit_code == 0, result.output
    assert "v_tasks" in result.output and "skipped v_invoices" in result.output


def test_views_command_on_a_missing_file_exits_2_and_says_to_sync_first(tmp_path):
    result = CliRunner().invoke(main, ["views", "--duckdb-file", str(tmp_path / "none.duckdb")])
    assert result.exit_code == 2
    assert "pmcrm sync" in result.output
    assert not (tmp_path / "none.duckdb").exists()
