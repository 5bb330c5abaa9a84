"""A rate limit learnt from the API's refusals is remembered with the pipeline's state: the
next runs pace at it from their first request and are refused nothing. It holds for the
host it was learnt from, for a week; a told `--rate-limit` wins and forgets it; a lone
refusal teaches nothing to remember. A remembered limit the API no longer allows (a plan
cut) is learnt again from refusals, and the lower one remembered. `pmcrm state` shows it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pmcrm.pipeline import run_sync
from pmcrm.ratelimit import RateLimiter
from pmcrm.remembered_limit import REMEMBER_FOR, STATE_KEY, describe, keep, recall
from pmcrm.sandbox import Sandbox
from tests.helpers import invoke, sync_args, sync_request
from tests.rate_limit_sim import Gateway, simulate

HOST = "https://acme.example.com"
NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)


def memory(limit: float = 8.0, age: timedelta = timedelta(days=2), host: str = HOST) -> dict:
    return {STATE_KEY: {"requests_per_second": limit, "learnt_at": (NOW - age).isoformat(), "host": host}}


def test_a_limit_learnt_days_ago_from_the_same_host_paces_the_first_request():
    limiter = RateLimiter()
    assert recall(memory(8.0), limiter, HOST, NOW)
    assert limiter.limit == 8 and limiter.rate == 8
    assert limiter.finding() == ("paced at 8 requests per second from the first request, the limit learnt from the "
                                 "API's refusals on 2026-12-05 and remembered since; none refused (--rate-limit N "
                                 "sets a limit yourself)")


@pytest.mark.parametrize("state", [
    memory(host="https://other.example.com"),
    memory(age=REMEMBER_FOR + timedelta(seconds=1)),
    memory(age=-timedelta(days=1)),  # a clock that went back: learnt again
    memory(limit=0),
    {STATE_KEY: {"requests_per_second": "many", "learnt_at": NOW.isoformat(), "host": HOST}},
    {STATE_KEY: "8/s"},
    {STATE_KEY: {"requests_per_second": 8, "learnt_at": "2026-12-06T03:00:00", "host": HOST}},
    {},
], ids=["another host", "older than a week", "in the future", "zero", "not a number", "not a record",
        "a time without its zone", "none"])
def test_no_limit_is_recalled_from_another_host_after_a_week_or_from_what_cannot_be_read(state):
    limiter = RateLimiter()
    assert not recall(state, limiter, HOST, NOW)
    assert limiter.limit is None and limiter.finding() is None


def test_what_is_remembered_names_the_host_without_a_user_or_password_the_url_carried():
    state = {}
    keep(state, simulate(limit=8, requests=200).limiter, "https://me:s3cret-pass@acme.example.com:8443", NOW)
    assert state[STATE_KEY]["host"] == "https://acme.example.com:8443"
    assert "s3cret" not in str(state)
    assert recall(state, RateLimiter(), "https://acme.example.com:8443", NOW)


def test_a_told_limit_wins_over_the_remembered_one_and_forgets_it():
    state, limiter = memory(8.0), RateLimiter(20)
    assert not recall(state, limiter, HOST, NOW)
    assert limiter.limit == 20
    keep(state, limiter, HOST, NOW)
    assert STATE_KEY not in state, "told once, the next runs without the flag learn again"


class OneOffRefusal(Gateway):
    """No limit, but the 60th request is refused: a gateway's one-off 429 (an overload)."""

    def __init__(self, limit: int | None):
        self.seen = 0

    def accepts(self, at: float) -> bool:
        self.seen += 1
        return self.seen != 60

    def retry_after(self, at: float) -> int:
        return 1


def test_a_limit_learnt_from_a_lone_refusal_is_not_remembered():
    run = simulate(limit=None, requests=300, gateway_kind=OneOffRefusal)
    assert run.refused == 1 and run.limiter.learnt is not None, "the run itself keeps under what it learnt"
    state: dict = {}
    keep(state, run.limiter, HOST, NOW)
    assert state == {}


def test_a_limit_learnt_in_the_run_is_kept_with_the_day_it_was_learnt():
    run = simulate(limit=8, requests=200)
    assert run.limiter.learnt == 8
    state = memory(12.0, host="https://old.example.com")
    keep(state, run.limiter, HOST, NOW)
    assert state[STATE_KEY] == {"requests_per_second": 8.0, "learnt_at": NOW.isoformat(timespec="seconds"),
                                "host": HOST}


def test_a_remembered_limit_that_held_keeps_its_day_so_that_it_is_learnt_again_after_a_week():
    state, limiter = memory(8.0, age=timedelta(days=6)), RateLimiter()
    before = dict(state[STATE_KEY])
    recall(state, limiter, HOST, NOW)
    keep(state, limiter, HOST, NOW)
    assert state[STATE_KEY] == before


def test_a_stale_memory_nothing_replaced_is_dropped():
    state = memory(age=timedelta(days=10))
    keep(state, RateLimiter(), HOST, NOW)
    assert STATE_KEY not in state


def test_paced_at_the_remembered_limit_a_simulated_sync_is_refused_nothing_and_takes_the_ideal():
    run = simulate(limit=20, requests=400, remembered=20)
    assert run.refused == 0
    assert run.seconds <= 1.05 * 400 / 20


def test_a_remembered_limit_the_gateway_no_longer_allows_is_learnt_again_lower():
    run = simulate(limit=8, requests=300, remembered=16)
    assert run.limiter.learnt == 8, run.learnt
    assert run.refused <= 0.05 * 300


def test_the_next_sync_paces_at_the_limit_the_first_learnt_even_from_a_new_pipelines_folder(tmp_path):
    # A new folder: the state comes back from the destination (a runner that starts clean).
    with Sandbox(rows=300, latency=0.05, rate_limit=8) as api:
        resources = ["tasks", "lead", "invoice"]
        first = run_sync(sync_request(api, tmp_path, resources=resources))
        assert first.ok, first.error
        assert api.stats()["rate_limited"] > 0, "the first sync learns the limit from refusals"
        api.reset_stats()
        second = run_sync(sync_request(api, tmp_path, resources=resources, pipelines_dir=str(tmp_path / "fresh")))
        assert second.ok, second.error
        assert api.stats()["rate_limited"] == 0
        assert any(note.startswith("paced at 8 requests per second from the first request") for note in second.notes)


def test_a_plan_cut_between_two_nights_is_learnt_again_and_the_lower_limit_remembered(tmp_path):
    resources = ["tasks", "lead", "invoice", "account", "projects", "bank_account"]
    with Sandbox(rows=300, latency=0.05, rate_limit=16) as api:
        port = int(api.base_url.rsplit(":", 1)[1])  # the next night's API answers at the same address
        first = run_sync(sync_request(api, tmp_path, resources=resources))
        assert first.ok, first.error
    with Sandbox(rows=300, latency=0.05, rate_limit=8, port=port) as api:
        cut = run_sync(sync_request(api, tmp_path, resources=resources))
        assert cut.ok, cut.error
        assert api.stats()["rate_limited"] > 0, "paced at the remembered 16, the API refused"
        assert any("at most 8 requests per second" in note for note in cut.notes), cut.notes
        api.reset_stats()
        after = run_sync(sync_request(api, tmp_path, resources=resources))
        assert after.ok, after.error
        assert api.stats()["rate_limited"] == 0, "the lower limit was remembered"


def test_pmcrm_state_says_which_limit_is_remembered_until_when(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with Sandbox(rows=300, latency=0.05, rate_limit=8) as api:
        synced = invoke(*sync_args(api, "--resources", "tasks,lead,invoice,account,projects,bank_account"))
        assert synced.exit_code == 0, synced.output
        base_url = api.base_url
    shown = invoke("state", "--duckdb-file", "cli.duckdb")
    assert shown.exit_code == 0, shown.output
    until = (datetime.now(UTC) + REMEMBER_FOR).date()
    assert (f"rate limit remembered: 8 requests per second for {base_url}, learnt from its refusals on "
            f"{datetime.now(UTC).date()}; syncs not told --rate-limit pace at it until {until}") in " ".join(
        shown.output.split())


def test_a_stale_or_missing_memory_is_not_described():
    assert describe(memory(age=timedelta(days=8)), NOW) is None
    assert describe({}, NOW) is None
    assert describe({STATE_KEY: {"requests_per_second": 8}}, NOW) is None
