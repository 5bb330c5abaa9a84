"""A page of API items becomes a typed arrow table; no value is silently lost."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings, strategies as st

from pmcrm.convert import MissingIdError, PageConverter
from pmcrm.declarations import RESOURCES_BY_NAME

INVOICE_ITEMS = RESOURCES_BY_NAME["invoice_items"]


def convert(items, resource="invoice_items", **options):
    return PageConverter(RESOURCES_BY_NAME[resource], **options)(items, page=3)


def test_declared_kinds_become_typed_columns():
    page = convert([{"id": 1, "invoice_id": 7, "quantity": 2.5, "paid_date": "2024-03-01 14:05:00", "name": "Desk"}])
    row = page.table.to_pylist()[0]
    assert row["id"] == 1 and row["invoice_id"] == 7
    assert row["quantity"] == Decimal("2.5")
    assert row["paid_date"] == datetime(2024, 3, 1, 14, 5, tzinfo=UTC)
    assert row["name"] == "Desk"
    assert page.bad_values == []


@pytest.mark.parametrize("no_date", ["", "0000-00-00 00:00:00", "0000-00-00", None])
def test_php_empty_dates_become_null_without_a_variant(no_date):
    page = convert([{"id": 1, "paid_date": no_date}])
    assert page.table.column("paid_date").to_pylist() == [None]
    assert "paid_date__v_text" not in page.table.column_names


def test_naive_timestamps_are_read_in_the_account_time_zone():
    page = convert([{"id": 1, "paid_date": "2024-07-01 12:00:00"}], timezone="Europe/Berlin")
    assert page.table.column("paid_date").to_pylist() == [datetime(2024, 7, 1, 10, 0, tzinfo=UTC)]


def test_a_date_only_value_is_midnight():
    page = convert([{"id": 1, "paid_date": "2024-07-01"}])
    assert page.table.column("paid_date").to_pylist() == [datetime(2024, 7, 1, tzinfo=UTC)]


@pytest.mark.parametrize(
    "field, value",
    [
        ("paid_date", "01/07/2024"),  # unexpected date format
        ("invoice_id", "seven"),  # text where a number belongs
        ("invoice_id", 2**70),  # too large for bigint
        ("invoice_id", 1.5),  # fractional id
        ("quantity", "lots"),
        ("quantity", 10**30),  # beyond the decimal's precision
    ],
)
def test_a_value_that_does_not_fit_is_kept_in_a_variant_column_and_reported(field, value):
    page = convert([{"id": 1, field: value}, {"id": 2}])
    assert page.table.column(field).to_pylist() == [None, None]
    assert page.table.column(f"{field}__v_text").to_pylist() == [str(value), None]
    assert [(b.row_id, b.column, b.value) for b in page.bad_values] == [(1, field, str(value))]


def test_numeric_strings_are_numbers_not_bad_values():
    page = convert([{"id": "4", "invoice_id": "12", "quantity": "3.25"}])
    row = page.table.to_pylist()[0]
    assert (row["id"], row["invoice_id"], row["quantity"]) == (4, 12, Decimal("3.25"))
    assert page.bad_values == []


def test_fields_outside_the_catalog_are_kept_as_text_columns():
    page = convert([{"id": 1, "cf_7": 42}, {"id": 2, "cf_7": "x", "cf_8_value": {"a": [1, 2]}}])
    assert page.table.column("cf_7").to_pylist() == ["42", "x"]
    assert page.table.column("cf_8_value").to_pylist() == [None, '{"a":[1,2]}']


def test_long_strings_nul_and_emoji_survive():
    text = "é\x00😀" * 50_000
    assert convert([{"id": 1, "name": text}]).table.column("name").to_pylist() == [text]


def test_vendor_names_are_renamed_unless_asked_to_keep_them():
    tasks_row = {"id": 1, "crm_account_id": 9}
    assert convert([tasks_row], "tasks").table.column("customer_id").to_pylist() == [9]
    kept = convert([tasks_row], "tasks", neutral_names=False).table
    assert kept.column("crm_account_id").to_pylist() == [9] and "customer_id" not in kept.column_names


def test_a_row_without_id_in_a_merge_resource_fails_naming_resource_and_page():
    with pytest.raises(MissingIdError, match=r"resource 'invoice_items', page 3: row 1 has no 'id'"):
        convert([{"id": 1}, {"name": "orphan"}])


def test_a_row_without_id_in_a_snapshot_resource_is_loaded():
    page = convert([{"id": None, "name": "Sales"}], "pipeline")
    assert page.table.column("name").to_pylist() == ["Sales"]


def test_an_empty_page_has_the_full_declared_schema():
    table = PageConverter(INVOICE_ITEMS).empty_table()
    assert table.num_rows == 0
    assert set(table.column_names) == set(INVOICE_ITEMS.columns())


json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
    st.text(), st.sampled_from(["", "0000-00-00 00:00:00", "2024-02-30 10:00:00", "2024-03-01 14:05:00"]),
)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6)
field_names = st.sampled_from(sorted(INVOICE_ITEMS.columns()) + ["cf_1", "cf_2_value"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.dictionaries(field_names, json_values, max_size=8), max_size=12))
def test_every_input_value_is_either_typed_or_kept_as_text(rows):
    """Property: any page of JSON objects converts, and every non-empty value survives
    either in its typed column or in that column's variant."""
    for i, row in enumerate(rows):
        row["id"] = i + 1
    page = convert(rows)
    table = page.table.to_pylist()
    assert len(table) == len(rows)
    bad = {(b.row_id, b.column) for b in page.bad_values}
    for source, loaded in zip(rows, table):
        for field, value in source.items():
            if value is None or value == "":
                continue
            typed = loaded.get(field)
            variant = loaded.get(f"{field}__v_text")
            is_no_date = field == "paid_date" and value in ("0000-00-00 00:00:00",)
            assert typed is not None or variant is not None or is_no_date, (field, value)
            assert (variant is not None) == ((source["id"], field) in bad)
