"""What the commands print: one console for results (stdout), one for progress and errors
(stderr), the run summary, and the one way a command fails. Only `pmcrm.cli` imports this."""

from __future__ import annotations

import sys
from typing import NoReturn

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pmcrm.runs import SyncResult

console = Console()
# What each table's mode means for "rows written" (pmcrm.pipeline.read_modes).
MODES = {
    "incremental": "only rows updated since the last run (minus a 5-minute overlap) are written",
    "full": "no update time: every row is read, and all are merged again if any changed since the last run",
    "snapshot": "the table is replaced by the rows read",
}
err_console = Console(stderr=True)


def fail(message: str, exit_code: int) -> NoReturn:
    """One line on stderr, then exit with the code (README: exit codes)."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    sys.exit(exit_code)


def print_summary(result: SyncResult, out: Console = console) -> None:
    if result.ok or result.rows or result.written:
        print_tables(result, out)
    retries = ", ".join(f"{reason}: {n}" for reason, n in sorted(result.stats.retries.items()))
    out.print(
        f"requests: {result.stats.requests}   retries: {result.stats.total_retries}"
        + (f" ({retries})" if retries else "")
        + f"   duration: {result.duration:.1f} s",
        highlight=False,
    )
    if result.stats.bad_values:
        kept = ", ".join(f"{col}: {n}" for col, n in sorted(result.stats.bad_values.items()))
        out.print(f"[yellow]values that did not fit their column (kept in *__v_text): {escape(kept)}[/]")
    for note in result.notes:
        out.print(f"[yellow]{escape(note)}[/]")


def print_tables(result: SyncResult, out: Console) -> None:
    """Rows per table, where they went, and what each mode means. Not for a failed run that
    read nothing (a wrong key): an empty table and a destination it never reached only
    pushed its one error line down."""
    table = Table(title="pmcrm sync", show_footer=True)
    table.add_column("table", footer="total")
    table.add_column("mode")
    table.add_column("rows read", justify="right", footer=str(sum(result.rows.values())))
    table.add_column("rows written", justify="right", footer=str(sum(result.written.values())))
    table.add_column("deleted", justify="right", footer=str(sum(result.deleted.values())))
    for name in sorted(set(result.rows) | set(result.written)):
        table.add_row(name, result.modes.get(name, "-"), str(result.rows.get(name, 0)), str(result.written.get(name, 0)),
                      str(result.deleted.get(name, 0) or ""))
    out.print(table)
    if result.location:
        out.print(f"into {escape(result.location)}", highlight=False)
    used = set(result.modes.values())
    for mode in (m for m in MODES if m in used):
        out.print(f"[dim]{mode}: {MODES[mode]}[/]", highlight=False)


def finish(result: SyncResult) -> None:
    """The summary, then 'sync complete' or the failure and its exit code."""
    print_summary(result, err_console if not result.ok else console)
    if not result.ok:
        fail(f"sync failed: {result.error}", result.exit_code)
    console.print("[bold green]sync complete[/]")
