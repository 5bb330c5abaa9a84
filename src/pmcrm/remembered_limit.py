"""A rate limit learnt from the API's refusals, remembered for the pipeline's next runs:
they pace at it from their first request instead of learning it again from refusals of
their own. Why: not told `--rate-limit`, every nightly run paid the learning again: 4-8
refusals at 5-50 requests/s, about 20 and 1.2x the ideal at 1-3/s (benchmarks/README.md).

Kept in dlt's source state, so it is loaded with the data and restored from the
destination like the cursors (a failed run's state is discarded: it remembers nothing).
It holds for the API host it was learnt from, for REMEMBER_FOR: after that a run learns
again, so a plan that allows more is found. A run told `--rate-limit` paces at that and
forgets the remembered limit (the user has said what it is). Paced as a limit learnt in
the run: refusals still lower it, and the lower limit is what is remembered. A limit
learnt from a lone refusal is not remembered: a gateway's one-off 429 (an overload, a
deploy) tells no plan, and would have paced a week of runs at whatever the count was.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from pmcrm.ratelimit import RateLimiter

STATE_KEY = "learnt_rate_limit"  # source state: {"requests_per_second", "learnt_at" (ISO, UTC), "host"}
REMEMBER_FOR = timedelta(days=7)
REFUSALS_TO_REMEMBER = 2  # a limit's first refusals: the requests in flight when it is met (4-8 at 5-50/s)


def recall(state: dict[str, Any], limiter: RateLimiter, host: str, now: datetime | None = None) -> bool:
    """Hand the limiter the limit an earlier run learnt from `host`, if still fresh and
    nothing is told or known yet; True if it paces at it now."""
    kept = _fresh(state, _without_credentials(host), now or datetime.now(UTC))
    return kept is not None and limiter.remember(kept["requests_per_second"], kept["learnt_at"][:10])


def keep(state: dict[str, Any], limiter: RateLimiter, host: str, now: datetime | None = None) -> None:
    """Write what the run knows of `host`'s limit now (called as each resource ends: the last
    one leaves the run's final word). A limit handed over unchanged keeps its date; a
    stale memory that nothing replaced is dropped, and a told limit drops any."""
    now, host = now or datetime.now(UTC), _without_credentials(host)
    if limiter.ceiling is not None:
        state.pop(STATE_KEY, None)
        return
    learnt = limiter.learnt
    if learnt is None or (limiter.remembered_on is None and limiter.throttled < REFUSALS_TO_REMEMBER):
        if STATE_KEY in state and _fresh(state, host, now) is None:
            del state[STATE_KEY]
        return
    kept = _fresh(state, host, now)
    if kept is not None and kept["requests_per_second"] == learnt:
        return
    state[STATE_KEY] = {"requests_per_second": learnt, "learnt_at": now.isoformat(timespec="seconds"), "host": host}


def describe(state: dict[str, Any], now: datetime | None = None) -> str | None:
    """The remembered limit in words (`pmcrm state`), None when there is none or it is stale."""
    kept = state.get(STATE_KEY)
    host = kept.get("host") if isinstance(kept, dict) else None
    kept = _fresh(state, host, now or datetime.now(UTC)) if isinstance(host, str) else None
    if kept is None:
        return None
    until = (datetime.fromisoformat(kept["learnt_at"]) + REMEMBER_FOR).date()
    return (f"rate limit remembered: {float(kept['requests_per_second']):g} requests per second for {host}, learnt "
            f"from its refusals on {kept['learnt_at'][:10]}; syncs not told --rate-limit pace at it until {until}")


def _fresh(state: dict[str, Any], host: str, now: datetime) -> dict[str, Any] | None:
    kept = state.get(STATE_KEY)
    if not isinstance(kept, dict) or kept.get("host") != host:
        return None
    try:
        age = now - datetime.fromisoformat(kept["learnt_at"])  # a time without its zone: TypeError
        rate = float(kept["requests_per_second"])
    except (KeyError, TypeError, ValueError):
        return None  # written by something else: learnt again
    return kept if rate > 0 and timedelta(0) <= age <= REMEMBER_FOR else None


def _without_credentials(origin: str) -> str:
    """scheme://host[:port] without a user or password a base URL may carry: the state is
    loaded into the destination."""
    parts = urlsplit(origin)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}"
