"""The sandbox's knobs, and the per-request decisions they lead to.

Every knob is off by default: a plain ``SandboxOptions()`` serves a quiet,
well-behaved API. Faults are decided per ``(seed, request, attempt)``, so the
same client run meets the same faults, and never more than
``MAX_FAULTS_IN_A_ROW`` times in a row for one request: a client that retries
always gets through.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass, field, fields
from typing import Callable, Mapping

from .data import DEFAULT_ROWS, seed_of

DEFAULT_API_KEY = "sandbox-demo-key"
FAULT_KINDS = ("http500", "http503", "envelope13", "cut", "stall")
MAX_FAULTS_IN_A_ROW = 2


@dataclass(frozen=True)
class SandboxOptions:
    """How the sandbox behaves. Every knob is settable here and from the CLI."""

    seed: int = 0
    rows: int = DEFAULT_ROWS  # rows per path
    rows_per_resource: Mapping[str, int] = field(default_factory=dict)  # by resource name or path
    api_key: str = DEFAULT_API_KEY
    max_page_size: int = 100  # larger limits are clamped to it
    latency: float = 0.0  # seconds added to every API request (never blocks other requests)
    rate_limit: float = 0.0  # requests per second per key; 0 = unlimited
    fault_rate: float = 0.0  # share of list requests that fail, 0..1
    fault_kinds: tuple[str, ...] = FAULT_KINDS  # which failures to draw from
    stall_seconds: float = 30.0  # how long a 'stall' fault holds the connection before closing it
    mutate_while_paging: float = 0.0  # share of a path's rows changed after each page served
    server_filter: bool = False  # accept updated_since= and sort= on list requests
    host: str = "127.0.0.1"
    port: int = 0  # 0 = any free port

    def __post_init__(self) -> None:
        kinds = (self.fault_kinds,) if isinstance(self.fault_kinds, str) else tuple(self.fault_kinds)
        object.__setattr__(self, "fault_kinds", kinds)
        object.__setattr__(self, "rows_per_resource", dict(self.rows_per_resource))
        unknown = set(kinds) - set(FAULT_KINDS)
        problems = [
            (bool(unknown), f"unknown fault kinds {sorted(unknown)}; choose from {FAULT_KINDS}"),
            (not kinds and self.fault_rate > 0, "fault_rate needs at least one fault kind"),
            (not 0 <= self.fault_rate <= 1, "fault_rate must be between 0 and 1"),
            (not 0 <= self.mutate_while_paging <= 1, "mutate_while_paging must be between 0 and 1"),
            (self.rows < 0, "rows must be >= 0"),
            (self.max_page_size < 1, "max_page_size must be >= 1"),
            (self.latency < 0 or self.rate_limit < 0 or self.stall_seconds < 0,
             "latency, rate_limit and stall_seconds must be >= 0"),
            (not self.api_key, "api_key must not be empty"),
        ]
        for failed, message in problems:
            if failed:
                raise ValueError(message)

    def to_cli_args(self) -> list[str]:
        """The command-line flags that give these options (for running it as a subprocess)."""
        args: list[str] = []
        for spec in fields(self):
            value, default = getattr(self, spec.name), _default_of(spec)
            flag = "--" + spec.name.replace("_", "-")
            if spec.name == "rows_per_resource":
                for name, count in value.items():
                    args += ["--rows-for", f"{name}={count}"]
            elif spec.name in ("host", "port"):  # the CLI's own defaults differ
                args += [flag, str(value)]
            elif value == default:
                continue
            elif spec.name == "fault_kinds":
                args += [flag, ",".join(value)]
            elif isinstance(value, bool):
                args.append(flag if value else "--no-" + flag[2:])
            else:
                args += [flag, str(value)]
        return args


def _default_of(spec):
    return spec.default_factory() if callable(spec.default_factory) else spec.default


class FaultPlan:
    """Decides, per attempt at a request, whether it fails and how."""

    def __init__(self, options: SandboxOptions):
        self.seed = options.seed
        self.rate = options.fault_rate
        self.kinds = options.fault_kinds
        self._attempts: dict[tuple, int] = defaultdict(int)
        self._faults_in_a_row: dict[tuple, int] = defaultdict(int)

    def decide(self, api_key: str, request: tuple) -> str | None:
        """The fault kind for this attempt at ``request`` (any hashable description of it), or None."""
        if self.rate <= 0:
            return None
        key = (api_key, request)
        self._attempts[key] += 1
        draw = seed_of(self.seed, "fault", *request, self._attempts[key])
        fails = self._faults_in_a_row[key] < MAX_FAULTS_IN_A_ROW and (draw >> 11) / 2**53 < self.rate
        if not fails:
            self._faults_in_a_row[key] = 0
            return None
        self._faults_in_a_row[key] += 1
        return self.kinds[draw % len(self.kinds)]


class RateLimiter:
    """A token bucket per API key: ``rate`` requests per second, bursts of one second's worth."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic):
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def retry_after(self, api_key: str) -> int | None:
        """None if the request may pass, else the whole seconds to wait before retrying."""
        if self.rate <= 0:
            return None
        now = self.clock()
        tokens, last = self._buckets.get(api_key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.rate)
        if tokens >= 1:
            self._buckets[api_key] = (tokens - 1, now)
            return None
        self._buckets[api_key] = (tokens, now)
        return max(1, math.ceil((1 - tokens) / self.rate))
