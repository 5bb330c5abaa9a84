"""Variants of one measurement, timed in alternating runs so that a VM's drifting speed
falls on all alike (startup.py, ab_second_sync.py, ab_first_sync.py); `report` prints two
variants' medians and their ratio (ab_first_sync.py prints its own, with dlt's phases)."""

from __future__ import annotations

import statistics
from collections.abc import Callable


def alternate(measures: dict[str, Callable[[], float]], runs: int) -> dict[str, list[float]]:
    """Seconds of each labelled measure, run in turn `runs` times."""
    seconds: dict[str, list[float]] = {label: [] for label in measures}
    for _ in range(runs):
        for label, measure in measures.items():
            seconds[label].append(measure())
    return seconds


def report(seconds: dict[str, list[float]], faster: str) -> str:
    """Each label's median, min and runs, and how many times faster `faster` is than the
    other label."""
    (slower,) = [label for label in seconds if label != faster]
    width = max(map(len, seconds))
    lines = [f"{label:<{width}}  median {statistics.median(times):.2f} s, min {min(times):.2f} s  "
             f"({', '.join(f'{t:.2f}' for t in times)})" for label, times in seconds.items()]
    ratio = statistics.median(seconds[slower]) / statistics.median(seconds[faster])
    lines.append(f"{faster} is {ratio:.2f}x as fast as {slower} (medians)")
    return "\n".join(lines)
