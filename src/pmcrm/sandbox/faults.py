"""Injected faults: which attempt at a request fails, and how.

Faults are decided per ``(seed, request, attempt)``, so the same client run
meets the same faults, and never more than ``MAX_FAULTS_IN_A_ROW`` times in a
row for one request: a client that retries always gets through.
"""

from __future__ import annotations

from collections import defaultdict

from .data import seed_of

FAULT_KINDS = ("http500", "http503", "envelope13", "cut", "stall")
MAX_FAULTS_IN_A_ROW = 2


class FaultPlan:
    """Decides, per attempt at a request, whether it fails and how."""

    def __init__(self, seed: int = 0, rate: float = 0.0, kinds: tuple[str, ...] = FAULT_KINDS):
        self.seed, self.rate, self.kinds = seed, rate, kinds
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
