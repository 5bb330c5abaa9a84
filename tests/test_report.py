"""`pmcrm report`: one self-contained HTML file, read from the views, whose every chart
draws in a real browser (Debian's headless Chromium) with the numbers of its table."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from pmcrm.cli import main
from pmcrm.report import SECTIONS, display, render_report, write_report
from tests.test_views import load_with_views, postgres_dataset
from tests.truth import read_table

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
# What each chart draws per row of its table: bars, or points of its two lines.
MARKS_PER_ROW = {
    "v_lead_funnel": ("rect", 1),
    "v_invoices_monthly": ("symbol", 2),
    "v_overdue_by_customer": ("rect", 1),
    "v_hours_by_project": ("rect", 1),
    "v_tasks_weekly": ("symbol", 2),
    "v_sprint_burn": ("rect", 2),  # done and open, stacked
}


@pytest.fixture(scope="module")
def loaded(sandbox, tmp_path_factory):
    pipeline, _ = load_with_views(sandbox, tmp_path_factory.mktemp("report"))
    return pipeline


@pytest.fixture(scope="module")
def report(loaded, tmp_path_factory) -> Path:
    return write_report(loaded, tmp_path_factory.mktemp("html") / "report.html")


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


DRAWN_MARKS = """
return [...document.querySelectorAll('main > section')].map(section => {
  const svg = section.querySelector('figure.chart svg');
  const drawn = kind => svg ? [...svg.querySelectorAll(`g.mark-${kind}.role-mark > path`)]
      .filter(p => { const b = p.getBoundingClientRect(); return b.width > 0 || b.height > 0; }).length : 0;
  const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
  return {view: section.dataset.view, width: box.width, height: box.height,
          rect: drawn('rect'), symbol: drawn('symbol'), line: drawn('line'),
          rows: section.querySelectorAll('tbody tr').length};
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


def test_every_chart_draws_in_headless_chromium_without_console_errors(browser):
    charts = browser.execute_script(DRAWN_MARKS)
    assert [chart["view"] for chart in charts] == [section.view for section in SECTIONS]
    for chart in charts:
        kind, per_row = MARKS_PER_ROW[chart["view"]]
        assert chart["width"] > 100 and chart["height"] > 100, chart
        assert chart["rows"] > 0, chart
        assert chart[kind] == per_row * chart["rows"], f"{chart['view']}: one {kind} per row and series expected: {chart}"
        if kind == "symbol":
            assert chart["line"] == 2, chart
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1280, height)
    ARTIFACTS.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / "report.png"))


def test_no_chart_label_spills_out_of_its_chart(browser):
    assert browser.execute_script(OVERFLOWING_TEXT) == []


def test_the_report_is_one_file_that_loads_nothing_from_anywhere(report):
    html = report.read_text(encoding="utf-8")
    assert "<script" not in html
    assert not re.findall(r"""(?:src|href)\s*=\s*["'](?!#)""", html), "no external file, image or style sheet"
    assert "@import" not in html and "url(" not in html
    assert html.count("<svg") == len(SECTIONS)


def test_the_monthly_invoice_table_holds_the_latest_months_of_its_view(loaded, report):
    html = report.read_text(encoding="utf-8")
    section = html[html.index('data-view="v_invoices_monthly"'):]
    section = section[:section.index("</section>")]
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", section)[1:]]
    months = sorted(read_table(loaded, "v_invoices_monthly"), key=lambda row: row["month"])[-len(cells):]
    assert 0 < len(cells) <= 24
    assert cells == [[display(row[c]) for c in ("month", "invoices_issued", "amount_issued", "invoices_paid", "amount_paid")]
                     for row in months]


def test_a_section_whose_view_is_missing_says_so_and_the_others_still_draw(sandbox, tmp_path):
    pipeline, installed = load_with_views(sandbox, tmp_path, resources=["invoice", "account", "projects"])
    html = render_report(pipeline)
    assert html.count("<svg") == 2  # invoices per month, overdue by customer
    assert html.count("not found: run `pmcrm views`") == len(SECTIONS) - 2


def test_the_report_reads_postgresql_too(sandbox, tmp_path):
    with postgres_dataset() as dataset:
        pipeline, _ = load_with_views(sandbox, tmp_path, destination="postgres", dataset=dataset)
        assert render_report(pipeline).count("<svg") == len(SECTIONS)


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
