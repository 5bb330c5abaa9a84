"""Feedback while a sync runs: what the source reports, and how it is shown.

The source calls a `Progress` observer from its read's threads (requests, dlt's extract
loop): `total` once page 1 told how many rows a resource holds (and the server's page
size), `advance` per page fetched (a page fetched again - the consistency check, a
settle pass - counts as a re-read, never past the planned pages) and per rows read,
`finished` the moment a resource's read is complete (its rows are then handed to dlt;
`note` says why it was skipped, if it was). The run reports its steps with `phase`:
reading, normalizing, loading; the pacer reports with `limit_learnt` the rate limit it
learnt from the API's refusals (what a slow read is waiting for). Implementations must
be thread-safe.

- `LiveProgress`: a rich display on a terminal: one bar per resource being read (rows
  and pages of the planned, read rate, ETA), an overall line with how many resources are
  read, being read and queued, and the run's step; each read resource scrolls above it as
  one line, at the moment it is read.
- `LineProgress`: one plain line per read resource and per step, each stamped when it
  happened, for cron and CI logs.
- `NO_PROGRESS`: nothing (`--quiet`, `--json` without a terminal, library use).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol, Self, TextIO

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress as RichProgress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class Progress(Protocol):
    """What the source and the run report; called from several threads at once."""

    def total(self, resource: str, rows: int | None, page_size: int) -> None: ...

    def advance(self, resource: str, pages: int = 0, rows: int = 0, rereads: int = 0) -> None: ...

    def finished(self, resource: str, note: str | None = None) -> None: ...

    def phase(self, name: str) -> None: ...

    def limit_learnt(self, requests_per_second: float) -> None:
        """Optional: an object without it is simply not told (the README's four methods)."""


class _NoProgress:
    def total(self, resource: str, rows: int | None, page_size: int) -> None:
        pass

    def advance(self, resource: str, pages: int = 0, rows: int = 0, rereads: int = 0) -> None:
        pass

    def finished(self, resource: str, note: str | None = None) -> None:
        pass

    def phase(self, name: str) -> None:
        pass

    def limit_learnt(self, requests_per_second: float) -> None:
        pass


NO_PROGRESS: Progress = _NoProgress()


@dataclass
class ResourceTally:
    """Rows and pages read of one resource, from its first page to the end of its read."""

    rows: int = 0
    pages: int = 0  # distinct pages, never more than planned
    rereads: int = 0  # pages fetched again (consistency check, settle pass)
    total_rows: int | None = None
    total_pages: int | None = None
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None
    ended_at: datetime | None = None  # wall-clock time of the end of the read
    note: str | None = None

    @property
    def seconds(self) -> float:
        return (self.ended if self.ended is not None else time.monotonic()) - self.started

    def line(self, resource: str) -> str:
        if self.note:
            return f"{resource}: {self.note}"
        rate = self.rows / self.seconds if self.seconds > 0 else 0.0
        again = f" (+{self.rereads} re-read)" if self.rereads else ""
        return f"{resource}: {self.rows} rows, {self.pages} pages{again} read in {self.seconds:.1f} s ({rate:,.0f} rows/s)"


class TallyProgress:
    """Keeps a tally per resource and the run's step; subclasses decide what to show.
    Thread-safe: every change and every `_show` happens under one lock."""

    def __init__(self) -> None:
        self.tallies: dict[str, ResourceTally] = {}
        self.step = "starting"
        self.api_limit: float | None = None  # requests per second, once learnt
        self._lock = threading.Lock()

    def _tally(self, resource: str) -> ResourceTally:
        return self.tallies.setdefault(resource, ResourceTally())

    def total(self, resource: str, rows: int | None, page_size: int) -> None:
        with self._lock:
            tally = self._tally(resource)
            tally.total_rows = rows
            tally.total_pages = max(1, math.ceil(rows / page_size)) if rows is not None else None
            self._show(resource, tally)

    def advance(self, resource: str, pages: int = 0, rows: int = 0, rereads: int = 0) -> None:
        with self._lock:
            tally = self._tally(resource)
            tally.pages += pages
            tally.rows += rows
            tally.rereads += rereads
            self._show(resource, tally)

    def finished(self, resource: str, note: str | None = None) -> None:
        with self._lock:
            tally = self._tally(resource)
            tally.ended, tally.ended_at, tally.note = time.monotonic(), datetime.now(UTC), note
            self._show(resource, tally)

    def phase(self, name: str) -> None:
        with self._lock:
            self.step = name
            self._show_step(name)

    def limit_learnt(self, requests_per_second: float) -> None:
        with self._lock:
            self.api_limit = requests_per_second
            self._show_limit()

    @property
    def read(self) -> int:
        return sum(1 for tally in self.tallies.values() if tally.ended is not None)

    def _show(self, resource: str, tally: ResourceTally) -> None:
        """Called under the lock after every change of one resource."""

    def _show_step(self, name: str) -> None:
        """Called under the lock when the run moves on to another step."""

    def _show_limit(self) -> None:
        """Called under the lock when the API's rate limit was learnt (again)."""

    @property
    def pace(self) -> str:
        """The learnt limit in words, or nothing."""
        return (f"the API accepts at most {self.api_limit:g} requests/s: paced at that from now on"
                if self.api_limit else "")


class LineProgress(TallyProgress):
    """One line per read resource and per step, stamped when it happened: readable in a
    cron mail or a CI log."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self.stream = stream
        self._written: set[str] = set()

    def _show(self, resource: str, tally: ResourceTally) -> None:
        if tally.ended_at is not None and resource not in self._written:
            self._written.add(resource)
            self._write(tally.ended_at, tally.line(resource))

    def _show_step(self, name: str) -> None:
        if name != "reading":  # reading starts at once; its end is each resource's line
            self._write(datetime.now(UTC), f"{name} ({self.read} resources read)")

    def _show_limit(self) -> None:
        self._write(datetime.now(UTC), self.pace)

    def _write(self, moment: datetime, text: str) -> None:
        self.stream.write(f"{moment.strftime('%Y-%m-%dT%H:%M:%SZ')} pmcrm: {text}\n")
        self.stream.flush()


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.speed
        shown = speed and task.fields.get("unit") == "rows"
        return Text(f"{speed:,.0f} rows/s" if shown else "", style="progress.data.speed")


class LiveProgress(TallyProgress):
    """A rich display on stderr: one bar per resource being read, an overall line on top
    (read / reading / queued of all, and the run's step).

    Use as a context manager around the sync; `resources` is how many will be read. At
    most `max_bars` resources have a bar at once (a live area taller than the terminal
    garbles it); the others being read are counted on the overall line until a bar frees."""

    def __init__(self, console: Console, resources: int, max_bars: int | None = None) -> None:
        super().__init__()
        self.resources = resources
        self.max_bars = max_bars or max(1, min(12, console.height - 4))
        self.display = RichProgress(
            TextColumn("{task.description:<28}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[unit]}"),
            TextColumn("{task.fields[pages]}", style="dim"),
            _RateColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self._overall = self.display.add_task("", total=resources, unit="read", pages="")
        self._tasks: dict[str, TaskID] = {}
        self._describe_overall()

    def __enter__(self) -> Self:
        self.display.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.display.stop()

    def _show(self, resource: str, tally: ResourceTally) -> None:
        task = self._tasks.get(resource)
        if tally.ended is not None:
            if task is not None:
                self.display.remove_task(task)
                del self._tasks[resource]
                self._show_waiting_bar()
            self.display.update(self._overall, completed=self.read)
            mark = "[yellow]skipped[/]" if tally.note else "[green]read[/]"
            self.display.console.print(f"{mark} {escape(tally.line(resource))}", highlight=False)
        else:
            planned = tally.total_pages if tally.total_pages is not None else "?"
            pages = f"{tally.pages}/{planned} pages" + (f" +{tally.rereads} re-read" if tally.rereads else "")
            if task is None:
                self._tasks[resource] = self.display.add_task(
                    resource, total=tally.total_rows, completed=tally.rows, unit="rows", pages=pages,
                    visible=self._bars_shown() < self.max_bars,
                )
            else:
                self.display.update(task, total=tally.total_rows, completed=tally.rows, pages=pages)
        self._describe_overall()

    def _show_step(self, name: str) -> None:
        self._describe_overall()

    def _show_limit(self) -> None:
        # A line above the bars, as a read resource's: on the overall line it widened the
        # first column of every bar.
        self.display.console.print(f"[yellow]{escape(self.pace)}[/]", highlight=False)

    def _describe_overall(self) -> None:
        reading = len(self._tasks)
        hidden = reading - self._bars_shown()
        queued = max(0, self.resources - self.read - reading)
        more = f" ({hidden} without a bar)" if hidden else ""
        self.display.update(self._overall, description=f"{self.step}: {reading} reading{more}, {queued} queued")

    def _bars_shown(self) -> int:
        return sum(1 for task in self.display.tasks if task.visible and task.id != self._overall)

    def _show_waiting_bar(self) -> None:
        waiting = [task for task in self.display.tasks if not task.visible]
        if waiting and self._bars_shown() < self.max_bars:
            self.display.update(waiting[0].id, visible=True)
