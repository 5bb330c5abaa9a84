"""The fingerprint that tells a full read found exactly the rows it loaded last time, and
the tables held back until it can tell (end to end: tests/test_incremental.py)."""

from __future__ import annotations

import pyarrow as pa
from hypothesis import given, strategies as st

from pmcrm import unchanged
from pmcrm.unchanged import HeldTables, RowsFingerprint

ROWS = [{"id": i, "name": f"row {i}", "amount": i * 1.5, "tags": [i, None]} for i in range(40)]


def fingerprint(pages: list[list[dict]], salt: str = "custom_fields|UTC|False") -> str | None:
    rows = RowsFingerprint(salt)
    for page in pages:
        assert rows.add(page) is page, "rows pass through unchanged"
    return rows.value()


@given(st.permutations(ROWS), st.integers(1, 40))
def test_the_same_rows_in_any_order_over_any_pages_give_the_same_fingerprint(rows, page_size):
    pages = [rows[i:i + page_size] for i in range(0, len(rows), page_size)]
    assert fingerprint(pages) == fingerprint([ROWS])


def test_a_changed_added_or_missing_row_gives_another_fingerprint():
    changed = [dict(ROWS[0], name="renamed"), *ROWS[1:]]
    reordered_keys = [dict(reversed(list(ROWS[0].items()))), *ROWS[1:]]
    assert fingerprint([changed]) != fingerprint([ROWS])
    assert fingerprint([ROWS + [{"id": 99}]]) != fingerprint([ROWS])
    assert fingerprint([ROWS[1:]]) != fingerprint([ROWS])
    assert fingerprint([ROWS + ROWS[:1]]) != fingerprint([ROWS]), "a row twice is not the same table"
    assert fingerprint([reordered_keys]) == fingerprint([ROWS]), "a row is its fields, whatever their order"


def test_another_conversion_gives_another_fingerprint():
    assert fingerprint([ROWS], "custom_fields|Europe/Berlin|False") != fingerprint([ROWS])


def test_a_row_that_cannot_be_hashed_means_no_fingerprint():
    assert fingerprint([ROWS + [{"id": 2**70}]]) is None


def table(rows: int) -> pa.Table:
    return pa.table({"id": list(range(rows)), "name": ["x" * 50] * rows})


def test_held_tables_come_out_only_when_released():
    held = HeldTables(holding=True)
    assert list(held.put(table(3))) == [] and list(held.put(table(4))) == []
    assert [t.num_rows for t in held.release()] == [3, 4]
    assert not held.holding and [t.num_rows for t in held.put(table(5))] == [5], "after the release, tables go straight on"


def test_past_the_budget_everything_held_goes_on_at_once(monkeypatch):
    monkeypatch.setattr(unchanged, "HOLD_BYTES", table(10).nbytes * 2)
    held = HeldTables(holding=True)
    assert list(held.put(table(10))) == [] and list(held.put(table(10))) == []
    assert [t.num_rows for t in held.put(table(10))] == [10, 10, 10]
    assert not held.holding


def test_tables_not_held_go_straight_on():
    assert [t.num_rows for t in HeldTables(holding=False).put(table(2))] == [2]
