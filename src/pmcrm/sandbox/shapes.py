"""How a dataset is shaped: how many rows each path has, when they were made, how they relate.

Two shapes, chosen with ``SandboxOptions.shape``:

- ``uniform`` (the default): every path has ``rows`` rows, created from 2019 on, every value
  drawn on its own. Benchmarks and the connector's tests size and compare with it.
- ``account``: one company's account, ``rows`` the size of its largest resources (tasks,
  timesheets). A handful of pipelines, loss reasons and workflows; hundreds of customers and
  projects; thousands of tasks and leads (``ACCOUNT_SIZES``). Three years of history that grows
  with the company and runs up to the data's end, where events that would come later (a task
  closed, an invoice paid) have not happened yet: no pile-up on the last day. Its rows relate
  the way a manager sees them (``account_relations``).

Both end at ``DATA_END``, so the dataset's clock and its mutations work the same in both.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from random import Random

from .account_relations import Batch, settle
from .catalog import Catalog
from .values import DATA_END, DATA_START, DAY, fractions

SHAPES = ("uniform", "account")
ACCOUNT_YEARS = 3

# The account's size of each resource: a share of ``rows`` (the work, which grows with the
# company) or a fixed count (the set-up, the same in any account; never more than ``rows``).
# One resource per path (st_projects_users is served with project_observers).
ACCOUNT_SIZES: Mapping[str, float | int] = {
    "tasks": 1.0, "timesheet": 1.0, "invoice_items": 0.6, "lead": 0.6, "agile_issues": 0.5,
    "task_lists": 0.3, "emails": 0.3, "transactions": 0.25, "invoice": 0.2, "invoice_contacts": 0.2,
    "project_observers": 0.15, "customer_payment": 0.15, "account": 0.12, "estimates": 0.1,
    "projects": 0.08, "product_list": 0.05, "agile_sprints": 0.03, "agile_epics": 0.03,
    "agile_categories": 0.01,
    "pipeline": 4, "loss_reason": 7, "agile_workflows": 3, "agile_stages": 7, "agile_issue_type": 6,
    "agile_issue_relation_names": 6, "agile_issue_relation_types": 4, "task_workflows": 3,
    "custom_fields": 10, "custom_fields_field_sets": 7, "bank_account": 3, "product_categories": 10,
    "product_manufacturer": 12, "product_price_list": 4, "lists": 8, "calendar": 7,
}


class UniformShape:
    """Every path the same size; values independent; creation spread evenly from 2019 on."""

    name = "uniform"
    start = DATA_START
    pending_is_null = False  # events after the data's end happen at its last moment

    def row_counts(self, catalog: Catalog, rows: int) -> dict[str, int]:
        return {path: rows for path in catalog.paths}

    def null_id_count(self, n: int) -> int:
        """A few rows without an id, on the paths that allow it."""
        return min(5, max(1, n // 40)) if n >= 2 else 0

    def creation_times(self, rng: Random, n: int) -> list[int]:
        """Creation times that grow with the id, spread over the first 90% of the data period."""
        span = (DATA_END - DATA_START) * 0.9 / max(n, 1)
        return [int(DATA_START + (i + f) * span) for i, f in enumerate(fractions(rng, n))]

    def settle(self, theme: str, batch: Batch) -> None:
        """Values stay as drawn."""

    def position(self, moment: int) -> float:
        """The share of a path's rows made by ``moment``."""
        return min(1.0, max(0.0, (moment - self.start) / (DATA_END - self.start) / 0.9))


class AccountShape(UniformShape):
    """A real account's proportions, growth and relations."""

    name = "account"
    start = DATA_END - ACCOUNT_YEARS * 365 * DAY
    pending_is_null = True

    def row_counts(self, catalog: Catalog, rows: int) -> dict[str, int]:
        counts = {}
        for path in catalog.paths:
            size = next(ACCOUNT_SIZES[r.name] for r in catalog.resources_on(path) if r.name in ACCOUNT_SIZES)
            if isinstance(size, int):
                counts[path] = min(size, rows)
            else:
                counts[path] = max(1, round(size * rows)) if rows else 0
        return counts

    def null_id_count(self, n: int) -> int:
        """Rows without an id only on large paths: a handful of pipelines all have ids."""
        return min(5, n // 40)

    def creation_times(self, rng: Random, n: int) -> list[int]:
        """Three times as many rows made per day at the end as at the start (the company grew),
        up to the data's end; still growing with the id."""
        span = DATA_END - self.start
        return [self.start + int(span * history_time((i + f) / n)) for i, f in enumerate(fractions(rng, n))]

    def settle(self, theme: str, batch: Batch) -> None:
        settle(theme, batch)

    def position(self, moment: int) -> float:
        """The share of a path's rows made by ``moment`` (0 at the start, 1 at the end)."""
        return history_share((moment - self.start) / (DATA_END - self.start))


def history_share(u: float) -> float:
    """The share of rows made by ``u`` (0..1 of the history), when three times as many are
    made per day at the end as at the start."""
    u = min(1.0, max(0.0, u))
    return (u + u * u) / 2


def history_time(x: float) -> float:
    """When (0..1 of the history) the row at ``x`` (0..1 of the rows) was made: the inverse
    of ``history_share``."""
    return (math.sqrt(1 + 8 * x) - 1) / 2


def make_shape(name: str) -> UniformShape:
    shapes = {shape.name: shape for shape in (UniformShape, AccountShape)}
    if name not in shapes:
        raise ValueError(f"shape must be one of {', '.join(SHAPES)}, got {name!r}")
    return shapes[name]()
