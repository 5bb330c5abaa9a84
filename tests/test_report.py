"""`pmcrm report`: one self-contained HTML file, read from the views, whose every chart
draws in a real browser (Debian's headless Chromium) with the numbers of its table - and,
on the data `pmcrm demo` loads (shaped like a real account), tells a manager the truth:
more than a few distinct bars and values, stages named, currencies never added together,
"no customer" and "no project" apart from the rankings, axes from zero with their unit."""

from __future__ import annotations

import os
import re
import shutil
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from pmcrm.cli import main
from pmcrm.cli.demo import demo_options
from pmcrm.report import SECTIONS, dataset_pipeline, display, render_report, write_report
from pmcrm.sandbox import Sandbox
from pmcrm.views import VIEWS_BY_NAME, drop_views, required_tables
from tests.helpers import postgres_dataset
from tests.test_views import load_with_views
from tests.truth import read_table

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
# Per view: the table columns whose values the chart draws as its categories and its values.
DRAWN = {
    "v_lead_funnel": ("stage id", ("open", "won", "lost")),
    "v_invoices_monthly": ("month", ("issued amount", "paid amount")),
    "v_overdue_by_customer": ("customer", ("amount",)),
    "v_hours_by_project": ("project", ("hours",)),
    "v_tasks_weekly": ("week", ("opened", "closed")),
    "v_sprint_burn": ("sprint", ("issues", "done")),
}
UNITS = {  # the title of each chart's quantity axis: its unit
    "v_lead_funnel": {"leads"},
    "v_invoices_monthly": {"amount (EUR)", "amount (USD)", "amount (GBP)"},
    "v_overdue_by_customer": {"overdue amount (EUR)", "overdue amount (USD)", "overdue amount (GBP)"},
    "v_hours_by_project": {"hours"},
    "v_tasks_weekly": {"tasks"},
    "v_sprint_burn": {"issues"},
}
PIPELINES = ("Sales", "Partners", "Enterprise", "Renewals")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """What `pmcrm demo` loads (its very sandbox options), synced in UTC as the demo does,
    views installed."""
    with Sandbox(demo_options()) as api:
        pipeline, _ = load_with_views(api, tmp_path_factory.mktemp("demo"), timezone="UTC")
    return pipeline


@pytest.fixture(scope="module")
def report(demo, tmp_path_factory) -> Path:
    return write_report(demo, tmp_path_factory.mktemp("html") / "report.html")


def chromium_or_fail():
    """Skip where there is no Chromium, except in CI, where `make test` installs it."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not shutil.which(path)]
    if missing:
        message = f"{', '.join(missing)} missing: run scripts/ensure-chromium.sh"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def browser(report, tmp_path_factory):
    """Debian's Chromium through its ChromeDriver, the report loaded; no browser download."""
    chromium_or_fail()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--hide-scrollbars", "--window-size=1280,900",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.get(report.as_uri())
        yield driver
    finally:
        driver.quit()


CHARTS = """
return [...document.querySelectorAll('main > section')].map(section => {
  const svg = section.querySelector('figure.chart svg');
  const drawn = kind => svg ? [...svg.querySelectorAll(`g.mark-${kind}.role-mark > path`)]
      .filter(p => { const b = p.getBoundingClientRect(); return b.width > 0 || b.height > 0; }).length : 0;
  const texts = selector => svg ? [...svg.querySelectorAll(selector)].map(t => t.textContent) : [];
  const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
  const aside = section.querySelector('figcaption.aside');
  return {view: section.dataset.view, width: box.width, height: box.height,
          rect: drawn('rect'), symbol: drawn('symbol'), line: drawn('line'),
          axis_titles: texts('g.role-axis-title text'), axis_labels: texts('g.role-axis-label text'),
          headers: [...section.querySelectorAll('thead th')].map(th => th.textContent),
          rows: [...section.querySelectorAll('tbody tr')].map(tr => [...tr.cells].map(td => td.textContent)),
          aside: aside ? aside.textContent : null};
});
"""

OVERFLOWING_TEXT = """
return [...document.querySelectorAll('main > section')].flatMap(section => {
  const svg = section.querySelector('figure.chart svg');
  const box = svg.getBoundingClientRect();
  return [...svg.querySelectorAll('text')].filter(t => {
    const b = t.getBoundingClientRect();
    return b.left < box.left - 0.5 || b.right > box.right + 0.5;
  }).map(t => `${section.dataset.view}: ${t.textContent}`);
});
"""


@pytest.fixture(scope="module")
def charts(browser) -> dict[str, dict]:
    """What the browser shows of each section: marks drawn, axis texts, table, aside."""
    return {chart["view"]: chart for chart in browser.execute_script(CHARTS)}


def column(chart: dict, header: str) -> list[str]:
    return [row[chart["headers"].index(header)] for row in chart["rows"]]


def number(cell: str) -> Decimal:
    return Decimal(cell.replace(",", ""))


def marks_expected(chart: dict) -> dict[str, int]:
    """What the chart must draw for its table: a bar (or bar segment) per non-zero count,
    or a point per row and measure with one line per measure (and currency)."""
    view, rows = chart["view"], len(chart["rows"])
    if view == "v_lead_funnel":
        return {"rect": sum(number(cell) > 0 for status in ("open", "won", "lost") for cell in column(chart, status))}
    if view == "v_sprint_burn":
        done, issues = column(chart, "done"), column(chart, "issues")
        return {"rect": sum(number(d) > 0 for d in done) + sum(number(i) > number(d) for i, d in zip(issues, done))}
    if view == "v_invoices_monthly":
        return {"symbol": 2 * rows, "line": 2 * len(set(column(chart, "currency")))}
    if view == "v_tasks_weekly":
        return {"symbol": 2 * rows, "line": 2}
    return {"rect": rows}


def test_every_chart_draws_its_table_in_headless_chromium_without_console_errors(browser, charts):
    assert list(charts) == [section.view for section in SECTIONS]
    for chart in charts.values():
        assert chart["width"] > 100 and chart["height"] > 100, chart["view"]
        assert chart["rows"], chart["view"]
        expected = marks_expected(chart)
        assert {kind: chart[kind] for kind in expected} == expected, chart["view"]
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1280, height)
    ARTIFACTS.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / "report.png"))


@pytest.mark.parametrize("view", list(DRAWN))
def test_every_chart_shows_at_least_three_categories_and_three_values(charts, view):
    category, values = DRAWN[view]
    chart = charts[view]
    assert len(set(column(chart, category))) >= 3
    for header in values:
        assert len(set(column(chart, header))) >= 3, header


def test_funnel_bars_name_their_pipeline_and_stage_number_never_a_bare_stage_id(charts):
    funnel = charts["v_lead_funnel"]
    bars = [label for label in funnel["axis_labels"] if " · " in label]
    assert len(bars) == len(funnel["rows"])
    assert all(re.fullmatch(rf"({'|'.join(PIPELINES)}) · stage [1-6]", label) for label in bars), bars
    assert set(column(funnel, "stage id")).isdisjoint(funnel["axis_labels"])
    assert {label.split(" · ")[0] for label in bars} == set(PIPELINES)


def test_invoice_amounts_are_charted_per_currency_and_never_added_together(demo, charts):
    monthly = charts["v_invoices_monthly"]
    assert set(monthly["axis_titles"]) == UNITS["v_invoices_monthly"]
    view = {(row["month"].isoformat(), row["currency_code"]): row for row in read_table(demo, "v_invoices_monthly")}
    headers = ("month", "currency", "issued", "issued amount", "paid", "paid amount")
    assert monthly["headers"] == list(headers)
    for month, currency, issued, issued_amount, paid, paid_amount in monthly["rows"]:
        row = view.get((month, currency), {"invoices_issued": 0, "amount_issued": Decimal(0), "invoices_paid": 0,
                                           "amount_paid": Decimal(0)})  # no invoice in that currency that month
        assert [issued, issued_amount, paid, paid_amount] == [
            display(row[c]) for c in ("invoices_issued", "amount_issued", "invoices_paid", "amount_paid")]
    months = sorted({month for month, _ in view})
    assert sorted(set(column(monthly, "month"))) == months[-24:]


def test_overdue_invoices_without_a_customer_are_said_apart_from_the_ranking(demo, charts):
    overdue = charts["v_overdue_by_customer"]
    assert set(overdue["axis_titles"]) == UNITS["v_overdue_by_customer"]
    assert "(no customer)" not in column(overdue, "customer")
    per_currency = [column(overdue, "currency").count(c) for c in ("EUR", "USD", "GBP")]
    assert all(1 <= n <= 10 for n in per_currency), per_currency
    unassigned = sorted((r for r in read_table(demo, "v_overdue_by_customer") if r["customer_id"] is None),
                        key=lambda r: (-r["overdue_invoices"], r["currency_code"]))
    assert unassigned, "the demo account has overdue invoices without a customer"
    said = "; ".join(f"{display(r['overdue_invoices'])} invoice{'' if r['overdue_invoices'] == 1 else 's'}, "
                     f"{display(r['overdue_amount'])} {r['currency_code']}" for r in unassigned)
    assert overdue["aside"] == f"Overdue invoices without a customer, not ranked: {said}."


def test_time_on_no_project_is_said_apart_from_the_ranking(demo, charts):
    hours = charts["v_hours_by_project"]
    assert "(no project)" not in column(hours, "project")
    [nowhere] = [r for r in read_table(demo, "v_hours_by_project") if r["project_id"] is None]
    assert hours["aside"] == ("Time on no project (entries without a task, or on a task outside any project), not "
                              f"ranked: {display(nowhere['hours'])} hours in {display(nowhere['entries'])} entries.")
    ranked = [number(cell) for cell in column(hours, "hours")]
    assert ranked == sorted(ranked, reverse=True) and len(ranked) == 15


@pytest.mark.parametrize("view", list(UNITS))
def test_every_quantity_axis_starts_at_zero_and_names_its_unit(charts, view):
    chart = charts[view]
    assert UNITS[view] <= set(chart["axis_titles"])
    assert chart["axis_labels"].count("0") >= len(UNITS[view]), "every quantity axis starts at 0"


def test_no_chart_label_spills_out_of_its_chart(browser):
    assert browser.execute_script(OVERFLOWING_TEXT) == []


def test_the_report_is_one_file_that_loads_nothing_from_anywhere(report):
    html = report.read_text(encoding="utf-8")
    assert "<script" not in html
    assert not re.findall(r"""(?:src|href)\s*=\s*["'](?!#)""", html), "no external file, image or style sheet"
    assert "@import" not in html and "url(" not in html
    assert html.count("<svg") == len(SECTIONS)


def test_a_section_whose_tables_were_not_synced_names_them_and_the_others_still_draw(sandbox, tmp_path):
    pipeline, _ = load_with_views(sandbox, tmp_path, resources=["invoice", "account", "projects"])
    html = render_report(pipeline)
    assert html.count("<svg") == 2  # invoices per month, overdue by customer
    assert "run `pmcrm views`" not in html, "installing views cannot help: their tables are missing"
    hints = re.findall(r"view (v_\w+) needs tables not loaded yet: ([\w, ]+); sync them "
                       r"\(`pmcrm sync --resources ([\w,]+)`", html)
    assert len(hints) == len(SECTIONS) - 2
    for view, named, flag in hints:
        absent = sorted(required_tables(VIEWS_BY_NAME[view]) - {"invoice", "account", "projects"})
        assert named.split(", ") == absent and flag.split(",") == absent


def test_a_section_whose_view_was_dropped_says_to_install_the_views(sandbox, tmp_path):
    pipeline, _ = load_with_views(sandbox, tmp_path)
    drop_views(pipeline)
    html = render_report(pipeline)
    assert html.count("not found: run `pmcrm views`") == len(SECTIONS)


def test_the_report_reads_postgresql_too(sandbox, tmp_path):
    with postgres_dataset() as dataset:
        pipeline, _ = load_with_views(sandbox, tmp_path, destination="postgres", dataset=dataset)
        assert render_report(pipeline).count("<svg") == len(SECTIONS)


def test_the_report_draws_every_chart_from_data_whose_values_are_drawn_on_their_own_too(sandbox, tmp_path):
    """The suite's uniform sandbox: six currencies, names that repeat, customers and projects
    missing here and there - any account, not only a tidy one."""
    pipeline, _ = load_with_views(sandbox, tmp_path)
    html = render_report(pipeline)
    assert html.count("<svg") == len(SECTIONS)
    assert "Time on no project" in html and "(no project)" not in html and "(no customer)" not in html


def test_report_command_writes_the_html_file_from_a_duckdb_file(sandbox, tmp_path):
    load_with_views(sandbox, tmp_path, duckdb_file=str(tmp_path / "cli.duckdb"))
    out = tmp_path / "out" / "r.html"
    out.parent.mkdir()
    result = CliRunner().invoke(main, ["report", "--duckdb-file", str(tmp_path / "cli.duckdb"), "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8").count("<svg") == len(SECTIONS)


def test_report_command_without_a_dataset_exits_2_and_says_to_sync_first(tmp_path):
    load_args = ["report", "--duckdb-file", str(tmp_path / "missing.duckdb"), "--output", str(tmp_path / "r.html")]
    result = CliRunner().invoke(main, load_args)
    assert result.exit_code == 2 and "pmcrm sync" in result.output
    assert not (tmp_path / "r.html").exists()


def test_report_without_its_extra_says_exactly_what_to_install(monkeypatch, tmp_path):
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("altair", "vl_convert") else real_find_spec(name, *a))
    result = CliRunner().invoke(main, ["report", "--duckdb-file", str(tmp_path / "any.duckdb")])
    assert result.exit_code == 2
    assert "pmcrm report needs altair, vl-convert-python: pip install 'pmcrm[report]'" in result.output


def test_the_report_reads_with_duckdbs_own_memory_limit_not_the_loads_64_mb(demo):
    # The load's 64 MB bound a sync's memory; under it, a report query ran out of memory
    # on a 400-row account (v_invoices_monthly).
    path = demo.destination_client().config.credentials.database
    reader = dataset_pipeline("duckdb", path, demo.dataset_name)
    setting = "SELECT current_setting('memory_limit'), current_setting('threads')"
    with reader.sql_client() as client:
        reading = client.execute_sql(setting)[0]
    assert tuple(reading) == duckdb.connect().execute(setting).fetchall()[0]
