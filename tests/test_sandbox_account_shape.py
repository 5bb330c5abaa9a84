"""shape="account": the sandbox sized and related like one company's account (the demo and the
report read it); the default shape, "uniform", keeps every path at `rows` rows."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from datetime import date, timedelta

import pytest

from pmcrm.sandbox import FOREIGN_KEYS, SandboxOptions
from pmcrm.sandbox.catalog import load_catalog
from pmcrm.sandbox.command import sandbox_command
from pmcrm.sandbox.data import Dataset, as_int
from pmcrm.sandbox.raw_client import SandboxClient
from pmcrm.sandbox.relations import split_key
from tests.sandbox_fixtures import sandbox_api

CATALOG = load_catalog()
DATA_END = "2024-07-01 00:00:00"
NO_DATE = (None, "", "0000-00-00 00:00:00")
STAGES = {1: [11, 12, 13, 14, 15], 2: [21, 22, 23, 24, 25, 26], 3: [31, 32, 33, 34], 4: [41, 42, 43, 44, 45]}

api = sandbox_api(seed=2, rows=1000, shape="account")


def share(rows: list[dict], holds) -> float:
    return sum(1 for row in rows if holds(row)) / len(rows)


def week_of(stamp: str) -> date:
    day = date.fromisoformat(stamp[:10])
    return day - timedelta(days=day.weekday())


def dangling(dataset: Dataset) -> list[str]:
    """Every foreign-key value that names no row of its target."""
    found = []
    for key, target in FOREIGN_KEYS.items():
        resource, field = split_key(key)
        ids = {row["id"] for row in dataset.rows(target)}
        found += [f"{key}={row[field]}" for row in dataset.rows(resource)
                  if as_int(row[field]) is not None and as_int(row[field]) not in ids]
    return found


# ------------------------------------------------------------------------ sizes
def test_resources_are_sized_like_an_account_from_the_one_size_knob(api):
    client = SandboxClient(api.base_url, api.api_key)
    totals = {name: client.page(CATALOG.path_of(name), limit=1)["total"]
              for name in ("tasks", "timesheet", "lead", "invoice", "account", "projects", "agile_sprints",
                           "pipeline", "loss_reason", "agile_workflows")}
    client.close()
    assert totals == {"tasks": 1000, "timesheet": 1000, "lead": 600, "invoice": 200, "account": 120,
                      "projects": 80, "agile_sprints": 30, "pipeline": 4, "loss_reason": 7, "agile_workflows": 3}


def test_the_set_up_is_a_fixed_handful_but_never_more_than_rows():
    counts = Dataset(rows=3, shape="account").row_counts
    assert (counts[CATALOG.path_of("pipeline")], counts[CATALOG.path_of("tasks")],
            counts[CATALOG.path_of("projects")]) == (3, 3, 1)
    assert set(Dataset(rows=0, shape="account").row_counts.values()) == {0}


def test_rows_per_resource_still_overrides_a_shaped_size():
    counts = Dataset(rows=100, rows_per_resource={"pipeline": 2, "tasks": 7}, shape="account").row_counts
    assert (counts[CATALOG.path_of("pipeline")], counts[CATALOG.path_of("tasks")],
            counts[CATALOG.path_of("timesheet")]) == (2, 7, 100)


def test_the_uniform_shape_is_the_default_and_gives_every_path_rows_rows():
    assert SandboxOptions().shape == "uniform"
    assert set(Dataset(rows=12).row_counts.values()) == {12}


# ------------------------------------------------------------------ the funnel
def test_pipelines_are_a_handful_with_ids_and_distinct_names(api):
    assert [(p["id"], p["name"]) for p in api.truth("pipeline")] == [
        (1, "Sales"), (2, "Partners"), (3, "Enterprise"), (4, "Renewals")]
    assert [r["name"] for r in api.truth("loss_reason")] == [
        "Price too high", "Chose a competitor", "No budget", "No response", "Timing", "Missing features",
        "Project cancelled"]


def test_every_lead_sits_in_a_stage_of_its_own_pipeline(api):
    leads = api.truth("lead")
    stages = defaultdict(set)
    for lead in leads:
        stages[lead["pipeline_id"]].add(lead["pipeline_stage_id"])
    assert {pipeline: sorted(ids) for pipeline, ids in stages.items() if pipeline is not None} == STAGES
    assert stages[None] == {None}, "a lead without a pipeline has no stage"
    assert share(leads, lambda lead: lead["pipeline_id"] == 1) > 0.35, "the main pipeline has the most leads"


def test_open_leads_thin_out_from_the_first_stage_to_the_last(api):
    open_by_stage = Counter(STAGES[lead["pipeline_id"]].index(lead["pipeline_stage_id"])
                            for lead in api.truth("lead") if lead["active"] == 1)
    assert open_by_stage[0] > open_by_stage[1] > open_by_stage[2] > open_by_stage[3] > 0


def test_won_leads_reached_the_last_stage_and_lost_leads_have_a_loss_reason(api):
    leads = api.truth("lead")
    assert {lead["active"] for lead in leads} == {1, 2, 3}, "1 open, 2 lost, 3 won, as the platform numbers them"
    for lead in leads:
        if lead["active"] == 3 and lead["pipeline_id"] is not None:
            assert lead["pipeline_stage_id"] == STAGES[lead["pipeline_id"]][-1], lead["id"]
        assert (lead["closing_status_id"] is not None) == (lead["active"] == 2), lead["id"]
    assert 0.1 < share(leads, lambda lead: lead["active"] == 1) < 0.3
    assert 0.15 < share(leads, lambda lead: lead["active"] == 3) < 0.4


# ------------------------------------------------------------ money and links
def test_most_invoices_are_in_one_main_currency_whose_id_and_code_agree(api):
    invoices = api.truth("invoice")
    codes = Counter(invoice["currency_code"] for invoice in invoices)
    assert set(codes) == {"EUR", "USD", "GBP"}
    assert codes["EUR"] / len(invoices) > 0.75
    assert {(i["currency_code"], i["currency_id"]) for i in invoices} == {("USD", 1), ("EUR", 2), ("GBP", 3)}


def test_most_invoices_timesheets_and_tasks_are_linked_to_a_customer_or_project(api):
    assert share(api.truth("invoice"), lambda invoice: invoice["customer_id"] is not None) >= 0.9
    assert share(api.truth("timesheet"), lambda sheet: sheet["model_id"] is not None) >= 0.9
    assert share(api.truth("tasks"), lambda task: task["model_id"] is not None) >= 0.9


def test_a_few_customers_hold_many_invoices_and_most_few(api):
    per_customer = Counter(i["customer_id"] for i in api.truth("invoice") if i["customer_id"] is not None)
    most = per_customer.most_common()
    assert most[0][1] >= 5 * statistics.median(n for _, n in most)


# --------------------------------------------------------------------- time
def test_events_happen_after_their_cause_and_before_the_data_end(api):
    for invoice in api.truth("invoice"):
        assert invoice["paid_date"] is None or invoice["invoice_date"] <= invoice["paid_date"] < DATA_END
        assert invoice["due_date"] > invoice["invoice_date"]
        assert invoice["paid_date"] is None or invoice["updated_date"] >= invoice["paid_date"]
    for task in api.truth("tasks"):
        assert task["closed_date"] is None or task["created_date"] <= task["closed_date"] < DATA_END
    for lead in api.truth("lead"):
        if lead["active"] != 1:
            assert lead["created_date"][:10] <= lead["closing_date"] < DATA_END


def test_weeks_and_months_run_up_to_the_data_end_without_a_pile_up_in_the_last_one(api):
    closed = Counter(week_of(t["closed_date"]) for t in api.truth("tasks") if t["closed_date"] not in NO_DATE)
    weeks = sorted(closed)
    assert weeks[-1] == date(2024, 6, 24), "the last week before 2024-07-01"
    assert closed[weeks[-1]] <= 1.6 * statistics.median(closed[w] for w in weeks[-13:-1])
    paid = Counter(i["paid_date"][:7] for i in api.truth("invoice") if i["paid_date"] is not None)
    months = sorted(paid)
    assert months[-1] == "2024-06"
    assert paid[months[-1]] <= 1.6 * statistics.median(paid[m] for m in months[-13:-1])


def test_the_account_grows_over_its_three_years(api):
    created = Counter(t["created_date"][:4] for t in api.truth("tasks"))
    assert sorted(created) == ["2021", "2022", "2023", "2024"]
    assert created["2023"] > 1.3 * created["2022"] > 1.3 * 1.3 * (created["2021"] * 2)  # 2021: from July only


# ------------------------------------------------------- keys, changes, seeds
def test_every_foreign_key_resolves_also_after_every_kind_of_change():
    dataset = Dataset(seed=3, rows=200, shape="account")
    assert dangling(dataset) == []
    dataset.touch(0.1)
    dataset.insert(5)
    dataset.update(0.1)
    dataset.delete(3, ["account", "projects", "pipeline", "tasks", "invoice"])
    assert dangling(dataset) == []
    inserted = dataset.rows("lead")[-5:]
    assert all(lead["pipeline_stage_id"] in STAGES[lead["pipeline_id"]] for lead in inserted
               if lead["pipeline_id"] in STAGES)
    assert [lead["active"] for lead in inserted] == [1] * 5, "a lead made now is still open"


def test_the_same_seed_gives_the_same_account_whatever_path_is_asked_first():
    leads_first, pipelines_first = (Dataset(seed=9, rows=200, shape="account") for _ in range(2))
    one = (leads_first.rows("lead"), leads_first.rows("pipeline"), leads_first.rows("invoice"))
    other = (pipelines_first.rows("invoice"), pipelines_first.rows("pipeline"), pipelines_first.rows("lead"))
    assert one == other[::-1]
    assert Dataset(seed=10, rows=200, shape="account").rows("lead") != one[0]


# ------------------------------------------------------------------ the knob
def test_an_unknown_shape_is_refused_with_the_choices():
    with pytest.raises(ValueError) as refused:
        SandboxOptions(shape="real")
    assert str(refused.value) == "shape must be one of uniform, account, got 'real'"


def test_the_shape_round_trips_through_the_command_line_flag():
    options = SandboxOptions(shape="account", rows=300, api_key="k")
    assert options.to_cli_args()[options.to_cli_args().index("--shape"):][:2] == ["--shape", "account"]
    assert SandboxOptions(**sandbox_command.make_context("sandbox", options.to_cli_args()).params) == options
