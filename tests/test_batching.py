"""Pages are typed in batches and handed to dlt as few large tables: every row arrives
once, in order, and variant and extra columns that appear in some batches only survive."""

from __future__ import annotations

import pyarrow as pa
import pytest

from pmcrm.convert import MissingIdError, PageConverter, TableBatcher
from pmcrm.declarations import RESOURCES_BY_NAME

SPEC = RESOURCES_BY_NAME["invoice_items"]


def pages(count: int, rows: int = 100):
    return [[{"id": page * rows + i + 1, "quantity": 1.5, "name": f"item {i}"} for i in range(rows)]
            for page in range(count)]


def run(batcher: TableBatcher, all_pages) -> list[pa.Table]:
    out = []
    for number, items in enumerate(all_pages, start=1):
        batcher.add(items, number)
        if batcher.ready:
            out.append(batcher.take())
    batcher.flush()
    if batcher.ready:
        out.append(batcher.take())
    return out


def test_many_pages_become_few_tables_with_every_row_once_in_order():
    batcher = TableBatcher(PageConverter(SPEC), convert_values=len(SPEC.columns()) * 250, yield_bytes=1)
    tables = run(batcher, pages(10))
    assert len(tables) == 4, "100-row pages typed 250+ rows at a time"
    ids = [i for table in tables for i in table.column("id").to_pylist()]
    assert ids == list(range(1, 1001))


def test_tables_are_held_until_the_size_budget_then_handed_over_whole():
    batcher = TableBatcher(PageConverter(SPEC), convert_values=1, yield_bytes=10**9)
    tables = run(batcher, pages(5))
    assert len(tables) == 1 and tables[0].num_rows == 500


def test_a_variant_or_extra_column_of_one_batch_is_null_in_the_others():
    all_pages = pages(3, rows=10)
    all_pages[1][0]["quantity"] = "lots"  # a bad value: a variant column in this batch only
    all_pages[2][0]["cf_9"] = "custom"  # a field outside the catalog, in this batch only
    batcher = TableBatcher(PageConverter(SPEC), convert_values=1, yield_bytes=10**9)
    (table,) = run(batcher, all_pages)
    assert table.column("quantity__v_text").to_pylist() == [None] * 10 + ["lots"] + [None] * 19
    assert table.column("cf_9").to_pylist() == [None] * 20 + ["custom"] + [None] * 9


def test_an_error_names_the_page_the_row_came_from():
    all_pages = pages(3, rows=10)
    del all_pages[2][4]["id"]
    batcher = TableBatcher(PageConverter(SPEC), convert_values=10**9)
    for number, items in enumerate(all_pages, start=1):
        batcher.add(items, number)
    with pytest.raises(MissingIdError, match=r"page 3: row 4 has no 'id'"):
        batcher.flush()
