"""What a run learnt about the API while reading: resources the key cannot read, the
server's own page size, server filters the API ignored, its rate limit. For the summary,
`--json` and `_pmcrm_runs.notes`; filled from the read's threads, so thread-safe.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from pmcrm.errors import UnavailableError

log = logging.getLogger("pmcrm")


@dataclass(frozen=True)
class Unavailable:
    """A resource skipped because its first page said the key cannot read it. Its table
    is left as it was. `last_loaded`: when an earlier run last read it completely (a
    resource that used to load and now cannot usually means revoked rights)."""

    resource: str
    code: int
    reason: str
    last_loaded: str | None = None

    @property
    def note(self) -> str:
        if self.last_loaded:
            return (f"WARNING: {self.resource} is now unavailable - {self.reason} - but was last loaded "
                    f"{self.last_loaded}: were the key's rights revoked? Its table keeps that load.")
        return f"{self.resource} skipped: {self.reason}"


class RunFindings:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.locations = None  # the client's LocationResolver (pmcrm.client), set by the source
        self.pacer = None  # the client's RateLimiter (pmcrm.ratelimit), set by the source
        self.unavailable: dict[str, Unavailable] = {}
        self.page_sizes: dict[str, tuple[int, int]] = {}  # resource -> (asked, served)
        self.ignored_filters: dict[str, str] = {}  # resource -> what showed it

    def resource_unavailable(self, error: UnavailableError, last_loaded: str | None = None) -> None:
        with self._lock:
            self.unavailable[error.resource] = Unavailable(error.resource, error.code, error.reason, last_loaded)

    def page_size(self, resource: str, asked: int, served: int) -> None:
        """The server chose its own page size; logged once per distinct size."""
        with self._lock:
            first = (asked, served) not in self.page_sizes.values()
            self.page_sizes[resource] = (asked, served)
        if first:
            log.info("the API serves %d rows per page where %d were asked (%s): pages planned with its size",
                     served, asked, resource)

    def filter_ignored(self, resource: str, evidence: str) -> None:
        with self._lock:
            self.ignored_filters[resource] = evidence
        log.warning("%s: the server filter was not applied by the API (%s): read in full", resource, evidence)

    @property
    def api_url(self) -> str:
        """The base URL requests went to (platform docs' form), or '?' before any."""
        return self.locations.best_guess.base_url if self.locations else "?"

    @property
    def tried_urls(self) -> list[str]:
        return [location.base_url for location in self.locations.candidates] if self.locations else []

    def notes(self) -> list[str]:
        """One line per finding, for the summary and `_pmcrm_runs.notes`."""
        with self._lock:
            notes = [self.unavailable[name].note for name in sorted(self.unavailable)]
            by_size: dict[tuple[int, int], list[str]] = {}
            for name, sizes in sorted(self.page_sizes.items()):
                by_size.setdefault(sizes, []).append(name)
            for (asked, served), names in by_size.items():
                notes.append(f"the API served {served} rows per page where {asked} were asked "
                             f"({_some(names)}): pages were planned with its size")
            for name, evidence in sorted(self.ignored_filters.items()):
                notes.append(f"{name}: the API ignored the server filter ({evidence}); read in full, nothing lost")
        rate = self.pacer.finding() if self.pacer is not None else None
        return notes + ([rate] if rate else [])


def _some(names: list[str], shown: int = 5) -> str:
    more = len(names) - shown
    return ", ".join(names[:shown]) + (f" and {more} more" if more > 0 else "")
