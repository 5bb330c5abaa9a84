"""What the sandbox has served: the counters behind ``Sandbox.stats()``.

Counted in the server's thread, read from the test's: a lock keeps a snapshot whole.
"""

from __future__ import annotations

import threading
from collections import Counter


class Stats:
    """Requests, pages, errors, 429s and faults since the start or the last reset."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.requests = 0
            self.pages = 0
            self.rate_limited = 0
            self.by_path: Counter[str] = Counter()
            self.pages_by_path: Counter[str] = Counter()
            self.errors: Counter[int] = Counter()
            self.faults: Counter[str] = Counter()

    def request(self, path: str | None) -> None:
        with self._lock:
            self.requests += 1
            if path is not None:
                self.by_path[path] += 1

    def page(self, path: str) -> None:
        with self._lock:
            self.pages += 1
            self.pages_by_path[path] += 1

    def error(self, code: int) -> None:
        with self._lock:
            self.errors[code] += 1

    def limited(self) -> None:
        with self._lock:
            self.rate_limited += 1

    def fault(self, kind: str) -> None:
        with self._lock:
            self.faults[kind] += 1

    def snapshot(self) -> dict:
        """A JSON-ready copy: requests (API requests of any outcome), pages (list pages
        served), requests and pages per path, error envelopes by code, 429s sent and
        faults injected by kind."""
        with self._lock:
            return {
                "requests": self.requests,
                "pages": self.pages,
                "requests_by_path": dict(self.by_path),
                "pages_by_path": dict(self.pages_by_path),
                "errors": {str(code): n for code, n in sorted(self.errors.items())},
                "rate_limited": self.rate_limited,
                "faults": dict(self.faults),
            }
