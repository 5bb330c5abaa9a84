"""Feedback while a sync runs: what the source reports, and how it is shown.

The source calls a `Progress` observer from its extract threads: `total` once page 1 told
how many rows a resource holds, `advance` per page fetched and per rows read, `finished`
when the resource's read is complete. Implementations must be thread-safe.

- `LiveProgress`: a rich display on a terminal (rows and pages done of the total, rate,
  ETA); finished resources scroll above it as one line each.
- `LineProgress`: one plain, timestamped line per finished resource, for cron and CI logs.
- `NO_PROGRESS`: nothing (`--quiet`, `--json` without a terminal, library use).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Protocol, TextIO

from rich.console import Console
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
    """What the source reports while it reads; called from several threads at once."""

    def total(self, resource: str, rows: int | None, page_size: int) -> None: ...

    def advance(self, resource: str, pages: int = 0, rows: int = 0) -> None: ...

    def finished(self, resource: str) -> None: ...

    def phase(self, name: str) -> None:
        """The run moved on to `name`: reading, normalizing or loading."""


class _NoProgress:
    def total(self, resource: str, rows: int | None, page_size: int) -> None:
        pass

    def advance(self, resource: str, pages: int = 0, rows: int = 0) -> None:
        pass

    def finished(self, resource: str) -> None:
        pass

    def phase(self, name: str) -> None:
        pass


NO_PROGRESS: Progress = _NoProgress()


@dataclass
class ResourceTally:
    """Rows and pages done of one resource, and since when."""

    rows: int = 0
    pages: int = 0
    total_rows: int | None = None
    total_pages: int | None = None
    started: float = field(default_factory=time.monotonic)

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started

    def line(self, resource: str) -> str:
        rate = self.rows / self.seconds if self.seconds > 0 else 0.0
        return f"{resource}: {self.rows} rows, {self.pages} pages in {self.seconds:.1f} s ({rate:,.0f} rows/s)"


class TallyProgress:
    """Keeps a tally per resource; subclasses decide what to show. Thread-safe."""

    def __init__(self) -> None:
        self.tallies: dict[str, ResourceTally] = {}
        self._lock = threading.Lock()

    def _tally(self, resource: str) -> ResourceTally:
        return self.tallies.setdefault(resource, ResourceTally())

    def total(self, resource: str, rows: int | None, page_size: int) -> None:
        with self._lock:
            tally = self._tally(resource)
            tally.total_rows = rows
            tally.total_pages = max(1, math.ceil(rows / page_size)) if rows is not None else None
            self._show(resource, tally, done=False)

    def advance(self, resource: str, pages: int = 0, rows: int = 0) -> None:
        with self._lock:
            tally = self._tally(resource)
            tally.pages += pages
            tally.rows += rows
            self._show(resource, tally, done=False)

    def finished(self, resource: str) -> None:
        with self._lock:
            self._show(resource, self._tally(resource), done=True)

    def phase(self, name: str) -> None:
        pass

    def _show(self, resource: str, tally: ResourceTally, done: bool) -> None:
        """Called under the lock after every change."""


class LineProgress(TallyProgress):
    """One timestamped line per finished resource: readable in a cron mail or CI log."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self.stream = stream

    def _show(self, resource: str, tally: ResourceTally, done: bool) -> None:
        if done:
            stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            self.stream.write(f"{stamp} pmcrm: {tally.line(resource)}\n")
            self.stream.flush()


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        shown = speed and task.fields.get("unit") == "rows"
        return Text(f"{speed:,.0f} rows/s" if shown else "", style="progress.data.speed")


class LiveProgress(TallyProgress):
    """A rich display on stderr: one bar per resource being read, an overall bar on top.

    Use as a context manager around the sync; `resources` is how many will be read. At
    most `max_bars` resources have a bar at once (a live area taller than the terminal
    garbles it); the others wait hidden and show up as bars finish."""

    def __init__(self, console: Console, resources: int, max_bars: int | None = None) -> None:
        super().__init__()
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
        self._overall = self.display.add_task("all resources", total=resources, unit="done", pages="")
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> "LiveProgress":
        self.display.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.display.stop()

    def _show(self, resource: str, tally: ResourceTally, done: bool) -> None:
        task = self._tasks.get(resource)
        if done:
            if task is not None:
                self.display.remove_task(task)
                self._show_waiting_bar()
            self.display.advance(self._overall)
            self.display.console.print(f"[green]done[/] {tally.line(resource)}", highlight=False)
            return
        pages = f"{tally.pages}/{tally.total_pages if tally.total_pages is not None else '?'} pages"
        if task is None:
            self._tasks[resource] = self.display.add_task(
                resource, total=tally.total_rows, completed=tally.rows, unit="rows", pages=pages,
                visible=self._bars_shown() < self.max_bars,
            )
        else:
            self.display.update(task, total=tally.total_rows, completed=tally.rows, pages=pages)

    def _bars_shown(self) -> int:
        return sum(1 for task in self.display.tasks if task.visible and task.id != self._overall)

    def _show_waiting_bar(self) -> None:
        waiting = [task for task in self.display.tasks if not task.visible]
        if waiting and self._bars_shown() < self.max_bars:
            self.display.update(waiting[0].id, visible=True)
