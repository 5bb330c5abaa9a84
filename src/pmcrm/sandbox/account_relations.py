"""How the rows of an account relate, for the "account" shape (``shapes``).

Rows are first made as in the uniform shape; ``settle`` then rewrites the few fields a
manager reads together, resource by resource (``SETTLERS``):

- leads sit in the stages of their pipeline: many in the first stages, fewer later; older
  leads are more often closed, won (in the last stage) or lost (with a loss reason);
- most invoices are in one main currency, belong to a customer, are of a typical size, and
  are paid some weeks after they are issued, unless that is after the data's end (then
  they are still open);
- tasks belong to the projects of their time, timesheets to recent tasks, agile issues to
  the sprint of their time; a few customers have most of the invoices and projects;
- the set-up (pipelines, loss reasons, workflows...) has distinct names.

It runs on every batch of made rows - generated, inserted, or the fresh values of an
update - and picks only ids from ``Batch.pools``, so no foreign key dangles, and writes
only dates before the data's end. Lead stages have no list endpoint among the 36
resources: their ids are ``10 * pipeline_id + 1, 2, ...`` (``stages_of``).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from random import Random

from .values import (
    CALENDAR_NAMES,
    CURRENCY_CODES,
    DATA_END,
    DAY,
    FIELD_LABELS,
    FIELDSET_NAMES,
    ISSUE_TYPES,
    LIST_NAMES,
    LOSS_REASONS,
    PIPELINE_NAMES,
    PRODUCT_CATEGORIES,
    RELATION_NAMES,
    STAGE_NAMES,
    WORKFLOW_NAMES,
    format_timestamp,
)

CURRENCY_MIX = (("EUR", 0.82), ("USD", 0.12), ("GBP", 0.06))  # the main currency first
STAGE_DECAY = 0.55  # each stage holds about this share of the leads of the one before
LEAD_DAYS_TO_CLOSE, LEADS_WON, LEADS_NEVER_CLOSED = 35, 0.3, 0.1
INVOICE_TERMS_DAYS, INVOICES_NEVER_PAID, INVOICE_MEDIAN = (14, 30, 30, 30), 0.04, 3000
TASK_DAYS_TO_CLOSE, TASKS_NEVER_CLOSED = 14, 0.06
ISSUE_DAYS_TO_DONE, ISSUES_NEVER_DONE, SPRINT_DAYS = 10, 0.05, 14
UNEVEN_TRIES = 12
SETUP_NAMES: Mapping[str, tuple[str, ...]] = {
    "pipeline": PIPELINE_NAMES, "loss_reason": LOSS_REASONS, "agile_stages": STAGE_NAMES,
    "agile_workflows": WORKFLOW_NAMES, "task_workflows": WORKFLOW_NAMES, "agile_issue_type": ISSUE_TYPES,
    "agile_issue_relation_names": RELATION_NAMES, "lists": LIST_NAMES, "calendar": CALENDAR_NAMES,
    "custom_fields": FIELD_LABELS, "custom_fields_field_sets": FIELDSET_NAMES,
    "product_categories": PRODUCT_CATEGORIES,
}


@dataclass
class Batch:
    """Rows just made, with their creation times and each foreign key's candidate ids.
    ``position(t)``: the share of a path's rows made by time t; ``generated``: the first rows
    of a path (not inserted or updated ones)."""

    rows: list[dict]
    created: list[int]
    pools: Mapping[str, list[int]]
    rng: Random
    position: Callable[[int], float]
    generated: bool
    update_field: str | None


def stages_of(pipeline_id: int) -> list[int]:
    """The stage ids of a pipeline, in order: 4 to 6 stages."""
    return [10 * pipeline_id + k for k in range(1, 5 + pipeline_id % 3)]


def when(moment: int | None) -> str | None:
    """A time that has happened by the data's end, formatted; None for one still to come."""
    return None if moment is None or moment >= DATA_END else format_timestamp(moment)


def day_of(moment: int) -> int:
    return moment - moment % DAY


# ---------------------------------------------------------------- picking parents
def favourites(batch: Batch, field: str, none_share: float, skew: float) -> list:
    """Ids of ``field``'s pool, the first ones far more often (the oldest customers have
    the most invoices; the main pipeline the most leads); ``none_share`` of them null."""
    pool, rng = batch.pools[field], batch.rng
    size = len(pool)
    return [None if not size or rng.random() < none_share else pool[int(size * rng.random() ** skew)]
            for _ in batch.rows]


def of_their_time(batch: Batch, field: str, none_share: float, lag: float, uneven: bool = False) -> list:
    """Ids of parents made shortly before each row (a task's project is one of the projects
    of its time); ``lag``: how far back, as a share of the pool, on average. ``uneven``:
    some parents draw many more rows than others (a large project, a small one)."""
    pool, rng = batch.pools[field], batch.rng
    size = len(pool)
    mean = max(1.0, lag * size)
    picks = []
    for moment in batch.created:
        if not size or rng.random() < none_share:
            picks.append(None)
            continue
        for _ in range(UNEVEN_TRIES if uneven else 1):
            index = min(size - 1, abs(int(batch.position(moment) * size - rng.expovariate(1 / mean))))
            if rng.random() < weight_of(pool[index]):
                break
        picks.append(pool[index])
    return picks


def weight_of(parent_id: int) -> float:
    """How much work a parent draws, 0.03 to 1 and mostly little, fixed by its id (Knuth's
    multiplicative hash): a few large projects, many small ones."""
    return 0.03 + 0.97 * ((parent_id * 2654435761) % 4096 / 4096) ** 3


def later(batch: Batch, moment: int, mean_days: float, never: float) -> int | None:
    """When something that takes ``mean_days`` on average happens after ``moment``; None
    for the ``never`` share that never happens."""
    if batch.rng.random() < never:
        return None
    return moment + int(DAY * batch.rng.expovariate(1 / mean_days))


def updated_at_least(batch: Batch, row: dict, moment: int | None) -> None:
    """A row changed when something happened to it: its update time is not before it."""
    stamp = when(moment)
    if stamp and batch.update_field and (row[batch.update_field] or "") < stamp:
        row[batch.update_field] = stamp


@functools.cache
def _decaying(count: int) -> list[float]:
    return list(itertools.accumulate(STAGE_DECAY ** k for k in range(count)))


def early_stage(batch: Batch, stages: list[int]) -> int:
    """A stage, the first ones more often."""
    return batch.rng.choices(stages, cum_weights=_decaying(len(stages)))[0]


# ------------------------------------------------------------------- resources
def settle_leads(batch: Batch) -> None:
    pipelines = favourites(batch, "pipeline_id", 0.01, 1.8)
    reasons = favourites(batch, "closing_status_id", 0.0, 1.5)
    for row, made, pipeline, reason in zip(batch.rows, batch.created, pipelines, reasons):
        stages = stages_of(pipeline) if pipeline is not None else [None]
        closed = later(batch, made + 3 * DAY, LEAD_DAYS_TO_CLOSE, LEADS_NEVER_CLOSED)
        won = batch.rng.random() < LEADS_WON
        row["pipeline_id"] = pipeline
        if when(closed) is None:
            row["active"], row["pipeline_stage_id"], row["closing_status_id"] = 1, early_stage(batch, stages), None
            continue
        row["active"] = 3 if won else 2
        row["pipeline_stage_id"] = stages[-1] if won else early_stage(batch, stages)
        row["closing_status_id"] = None if won else reason
        row["closing_date"] = when(day_of(closed))
        updated_at_least(batch, row, closed)


def settle_invoices(batch: Batch) -> None:
    customers = favourites(batch, "customer_id", 0.03, 2.2)
    for row, made, customer in zip(batch.rows, batch.created, customers):
        terms = batch.rng.choice(INVOICE_TERMS_DAYS)
        paid = later(batch, made, terms * 0.9, INVOICES_NEVER_PAID)
        row["customer_id"] = customer
        row["sub_total"] = round(batch.rng.lognormvariate(math.log(INVOICE_MEDIAN), 0.9), 2)
        row["invoice_date"] = format_timestamp(day_of(made))
        row["due_date"] = format_timestamp(day_of(made) + terms * DAY)
        row["paid_date"] = when(paid)
        updated_at_least(batch, row, paid)


def settle_tasks(batch: Batch) -> None:
    projects = of_their_time(batch, "model_id", 0.04, 0.03, uneven=True)
    customers = favourites(batch, "crm_account_id", 0.85, 2.2)  # most tasks reach theirs through the project
    for row, made, project, customer in zip(batch.rows, batch.created, projects, customers):
        closed = later(batch, made, TASK_DAYS_TO_CLOSE, TASKS_NEVER_CLOSED)
        row["model_id"], row["crm_account_id"] = project, customer
        row["closed_date"] = row["first_closed_date"] = when(closed)
        updated_at_least(batch, row, closed)


def settle_timesheets(batch: Batch) -> None:
    tasks = of_their_time(batch, "model_id", 0.03, 0.01)
    for row, task in zip(batch.rows, tasks):
        row["model_id"] = task
        quarters = min(32, max(1, round(batch.rng.lognormvariate(math.log(6), 0.7))))  # 15 min to 8 h
        row["time_spent"] = 900 * quarters


def settle_agile_issues(batch: Batch) -> None:
    sprints = of_their_time(batch, "sprint_id", 0.15, 0.01)
    for row, made, sprint in zip(batch.rows, batch.created, sprints):
        done = later(batch, made, ISSUE_DAYS_TO_DONE, ISSUES_NEVER_DONE)
        row["sprint_id"], row["completed_date"] = sprint, when(done)
        updated_at_least(batch, row, done)


def settle_sprints(batch: Batch) -> None:
    for row, made, project in zip(batch.rows, batch.created, favourites(batch, "project_id", 0.0, 1.5)):
        start = day_of(made) + DAY
        row["project_id"] = project
        row["start_date"], row["deadline"] = format_timestamp(start), format_timestamp(start + SPRINT_DAYS * DAY)


def settle_projects(batch: Batch) -> None:
    for row, customer in zip(batch.rows, favourites(batch, "customer_id", 0.06, 2.0)):
        row["customer_id"] = customer


SETTLERS: Mapping[str, Callable[[Batch], None]] = {
    "lead": settle_leads,
    "invoice": settle_invoices,
    "tasks": settle_tasks,
    "timesheet": settle_timesheets,
    "agile_issues": settle_agile_issues,
    "agile_sprints": settle_sprints,
    "projects": settle_projects,
}


def settle_currencies(batch: Batch) -> None:
    """One main currency and a few others; a row's currency id and code agree."""
    codes = batch.rng.choices([code for code, _ in CURRENCY_MIX], [share for _, share in CURRENCY_MIX],
                              k=len(batch.rows))
    for row, code in zip(batch.rows, codes):
        if "currency_code" in row:
            row["currency_code"] = code
        if "currency_id" in row:
            row["currency_id"] = CURRENCY_CODES.index(code) + 1


def settle_names(batch: Batch, names: tuple[str, ...]) -> None:
    """The set-up's names in order, distinct (a second round is numbered)."""
    for i, row in enumerate(batch.rows):
        round_, name = divmod(i, len(names))
        row["name"] = names[name] if round_ == 0 else f"{names[name]} {round_ + 1}"


def settle(theme: str, batch: Batch) -> None:
    """Rewrite a batch of one resource's rows so that they relate as in a real account."""
    if not batch.rows:
        return
    if "currency_id" in batch.rows[0] or "currency_code" in batch.rows[0]:
        settle_currencies(batch)
    if batch.generated and theme in SETUP_NAMES:
        settle_names(batch, SETUP_NAMES[theme])
    if theme in SETTLERS:
        SETTLERS[theme](batch)
