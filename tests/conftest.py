"""Shared fixtures: a sandbox API per module, an isolated dlt folder per test."""

from __future__ import annotations

import pytest

from pmcrm.pipeline import make_pipeline, run_sync
from pmcrm.sandbox import Sandbox, SandboxOptions
from tests.helpers import sync_request

# Small, odd sizes exercise short last pages; one empty resource and exact multiples too.
ROWS_FOR = {"loss_reason": 0, "emails": 100, "tasks": 300, "st_projects_users": 120, "invoice_items": 257}


RELIABILITY_LINES = pytest.StashKey[list]()


@pytest.fixture
def report_line(request):
    """Call with one line (faults injected, retries, kill points...): pytest prints all of
    them under 'reliability' in its terminal summary, whatever the verbosity."""
    return request.config.stash.setdefault(RELIABILITY_LINES, []).append


def pytest_sessionfinish(session):
    """Under pytest-xdist (`make test` runs two workers) each worker hands its lines over."""
    if hasattr(session.config, "workeroutput"):
        session.config.workeroutput["reliability"] = session.config.stash.get(RELIABILITY_LINES, [])


def pytest_testnodedown(node, error):
    lines = getattr(node, "workeroutput", {}).get("reliability", [])
    node.config.stash.setdefault(RELIABILITY_LINES, []).extend(lines)


def pytest_terminal_summary(terminalreporter, config):
    lines = config.stash.get(RELIABILITY_LINES, [])
    if lines:
        terminalreporter.section("reliability")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture(autouse=True)
def isolated_dlt(tmp_path, monkeypatch):
    """Each test gets its own dlt data folder and working directory."""
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt"))
    monkeypatch.chdir(tmp_path)
    for name in ("PMCRM_API_KEY", "PMCRM_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(SandboxOptions(seed=7, rows=61, rows_per_resource=ROWS_FOR)) as api:
        yield api


@pytest.fixture
def sync(sandbox, tmp_path):
    """Run a sync against the module's sandbox; returns (result, pipeline)."""

    def run(**overrides):
        request = sync_request(sandbox, tmp_path, **overrides)
        result = run_sync(request)
        return result, make_pipeline(request)

    return run
