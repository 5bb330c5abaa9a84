"""The sandbox's data looks real: catalog types, plausible values, and foreign keys that resolve."""

from __future__ import annotations

import re

import pytest

from pmcrm.sandbox import FOREIGN_KEYS, Sandbox, SandboxOptions
from pmcrm.sandbox.catalog import load_catalog
from pmcrm.sandbox.data import Dataset, as_int
from pmcrm.sandbox.raw_client import SandboxClient
from pmcrm.sandbox.relations import (
    NON_RESOURCE_IDS,
    OWNING_KEYS,
    names_non_resource,
    split_key,
)

CATALOG = load_catalog()
ROWS = 150
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
MONEY = re.compile(r"(.*total|.*price|cost|tax\d?_amount|.*balance|.*charge|income|outcome|budget|amount.*|discount_amount)")
FLAG = re.compile(r"(is_.*|active|.*_included|all_day|taxable|required|started)")
ALL_FIELDS = [(name, field, json_type) for name, r in CATALOG.resources.items() for field, json_type in r.fields.items()]


@pytest.fixture(scope="module")
def served():
    """Every path's rows, fetched page by page over HTTP."""
    with Sandbox(SandboxOptions(seed=5, rows=ROWS)) as sandbox:
        client = SandboxClient(sandbox.base_url, sandbox.api_key)
        yield {path: client.all_rows(path) for path in CATALOG.paths}
        client.close()


def rows_of(served, resource: str) -> list[dict]:
    return served[CATALOG.path_of(resource)]


def test_every_star_id_field_is_a_foreign_key_or_a_declared_non_resource_id():
    undecided = [f"{name}.{field}" for name, field, _ in ALL_FIELDS
                 if field.endswith("_id") and f"{name}.{field}" not in FOREIGN_KEYS
                 and not names_non_resource(name, field)]
    assert undecided == []


def test_foreign_keys_name_real_fields_and_real_resources():
    for key, target in FOREIGN_KEYS.items():
        resource, field = split_key(key)
        assert field in CATALOG.resources[resource].fields, key
        assert target in CATALOG.resources, key
        assert not names_non_resource(resource, field) or f"{resource}.{field}" in FOREIGN_KEYS
    assert OWNING_KEYS <= set(FOREIGN_KEYS)
    assert not any(key in NON_RESOURCE_IDS for key in FOREIGN_KEYS)


@pytest.mark.parametrize("key", sorted(FOREIGN_KEYS))
def test_every_foreign_key_points_at_an_existing_row(served, key):
    resource, field = split_key(key)
    target_ids = {row["id"] for row in rows_of(served, FOREIGN_KEYS[key])}
    values = [as_int(row[field]) for row in rows_of(served, resource)]
    assert [v for v in values if v is not None and v not in target_ids] == []
    assert any(v is not None for v in values), f"{key} is never set"
    if key in OWNING_KEYS:
        assert None not in values, f"{key} owns its rows: never null"


def test_a_row_pointing_at_its_own_resource_points_at_an_earlier_row(served):
    for key, target in FOREIGN_KEYS.items():
        resource, field = split_key(key)
        if resource == target:
            for row in rows_of(served, resource):
                assert row[field] is None or row[field] < row["id"], key


@pytest.mark.parametrize("resource", sorted(CATALOG.resources))
def test_every_value_has_the_catalog_json_type(served, resource):
    fields = CATALOG.resources[resource].fields
    python_types = {"string": (str,), "number": (int, float)}
    for row in rows_of(served, resource):
        for field, json_type in fields.items():
            value = row[field]
            assert value is None or (isinstance(value, python_types[json_type]) and not isinstance(value, bool)), \
                (field, value)


def test_every_catalog_field_is_present_and_some_rows_carry_custom_fields_beyond_it(served):
    for name, resource in CATALOG.resources.items():
        rows = rows_of(served, name)
        assert all(set(resource.fields) <= set(row) for row in rows)
        extras = [set(row) - set(resource.fields) for row in rows]
        assert all(re.fullmatch(r"cf_\d+(_value)?", key) for keys in extras for key in keys)
        share = sum(1 for keys in extras if keys) / len(rows)
        assert 0.02 < share < 0.25, f"{name}: about one row in ten has custom fields, got {share:.0%}"


def test_optional_fields_are_sometimes_null_and_dates_sometimes_empty_as_php_sends_them(served):
    values = [v for rows in served.values() for row in rows for v in row.values()]
    assert values.count(None) > 0.05 * len(values)
    assert "" in values and "0000-00-00 00:00:00" in values


def test_dates_have_one_format(served):
    for name, field, json_type in ALL_FIELDS:
        if json_type == "string" and re.search(r"date|^created$|^updated$|_at$|deadline|_time$", field):
            for row in rows_of(served, name):
                value = row[field]
                assert value in (None, "", "0000-00-00 00:00:00") or TIMESTAMP.fullmatch(value), (name, field, value)


def test_every_update_time_is_set_and_not_before_the_creation_time(served):
    for name, resource in CATALOG.resources.items():
        if resource.update_field:
            for row in rows_of(served, name):
                assert TIMESTAMP.fullmatch(row[resource.update_field])
                if resource.create_field:
                    assert row[resource.update_field] >= row[resource.create_field], (name, row["id"])


def test_ids_are_positive_integers_and_money_has_at_most_two_decimals(served):
    for name, field, json_type in ALL_FIELDS:
        for row in rows_of(served, name):
            value = row[field]
            if value is None or json_type != "number":
                continue
            if field == "id" or field.endswith("_id"):
                assert isinstance(value, int) and value > 0, (name, field, value)
            elif MONEY.fullmatch(field):
                assert round(value, 2) == value, (name, field, value)
            elif "exchange_rate" in field:
                assert round(value, 4) == value and value > 0
            elif FLAG.fullmatch(field):
                assert value in (0, 1), (name, field, value)


def test_strings_read_like_names_emails_and_phones(served):
    account = rows_of(served, "account")
    assert all("@" in row["email"] for row in account if row["email"])
    assert all(re.fullmatch(r"\+[\d ()-]+", row["phone"]) for row in account if row["phone"])
    assert len({row["name"] for row in account}) > 20
    assert all(re.fullmatch(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", row["uuid"])
               for row in rows_of(served, "tasks") if row["uuid"])


def test_document_amounts_add_up(served):
    for line in rows_of(served, "invoice_items"):
        if line["quantity"] is not None and line["unit_price"] is not None:
            assert line["sub_total"] == round(line["quantity"] * line["unit_price"], 2)
            assert line["total"] == round(line["sub_total"] + line["tax_total"], 2)


def test_the_same_seed_gives_the_same_data_and_another_seed_other_data():
    first, again, other = Dataset(seed=3, rows=40), Dataset(seed=3, rows=40), Dataset(seed=4, rows=40)
    for path in ("/v1/task/tasks/list", "/v1/fin/invoice/list", "/v1/crm/pipeline/list"):
        assert first.rows(path) == again.rows(path)
        assert first.rows(path) != other.rows(path)


def test_a_path_is_the_same_whichever_path_was_generated_first():
    children_first, parents_first = Dataset(seed=9, rows=30), Dataset(seed=9, rows=30)
    tasks_then_account = (children_first.rows("tasks"), children_first.rows("account"))
    account_then_tasks = (parents_first.rows("account"), parents_first.rows("tasks"))
    assert tasks_then_account == account_then_tasks[::-1]
