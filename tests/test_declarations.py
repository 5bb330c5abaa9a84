"""The declarations cover the platform's catalog exactly, and type every field sensibly."""

import json
import re
from pathlib import Path

import pyarrow as pa
import pytest

from pmcrm.convert import PageConverter
from pmcrm.declarations import RESOURCES, RESOURCES_BY_NAME
from pmcrm.schema import NEUTRAL_NAMES, column_name

CATALOG_COPY = Path(__file__).parents[1] / "src/pmcrm/sandbox/catalog.json"
REFERENCE = Path(__file__).parents[2] / "shared/reference/fields.json"
CATALOG = json.loads(CATALOG_COPY.read_text())


def test_the_shipped_catalog_is_the_reference_catalog():
    if not REFERENCE.exists():
        pytest.skip("shared/reference not beside this checkout")
    assert json.loads(REFERENCE.read_text()) == CATALOG


def test_the_36_resources_have_the_catalog_names_in_order():
    assert len(RESOURCES) == 36
    assert [spec.name for spec in RESOURCES] == list(CATALOG["resources"])


@pytest.mark.parametrize("spec", RESOURCES, ids=lambda spec: spec.name)
def test_path_page_size_and_fields_match_the_catalog(spec):
    entry = CATALOG["resources"][spec.name]
    assert spec.path == entry["path"]
    assert spec.page_size == entry["page_size"]
    assert spec.id_required == entry["required_id"]
    declared = spec.columns()
    assert sorted(declared) == sorted(entry["fields"]), "every catalog field declared once"
    for field, kind in declared.items():
        json_type = entry["fields"][field]
        allowed = {"number": {"integer", "decimal"}, "string": {"text", "timestamp"}}[json_type]
        assert kind in allowed, f"{spec.name}.{field}: {kind} for a JSON {json_type}"


def test_every_declared_name_appears_in_exactly_one_kind():
    for spec in RESOURCES:
        names = [f for kind in ("integer", "decimal", "timestamp", "text") for f in getattr(spec, kind).split()]
        assert len(names) == len(set(names)), spec.name


def test_page_sizes_are_50_for_the_two_small_endpoints_and_100_elsewhere():
    small = {spec.name for spec in RESOURCES if spec.page_size == 50}
    assert small == {"st_projects_users", "emails"}
    assert all(spec.page_size == 100 for spec in RESOURCES if spec.name not in small)


def test_nullable_id_resources_are_snapshots_and_the_rest_merge_on_id():
    for spec in RESOURCES:
        if spec.name in {"st_projects_users", "pipeline"}:
            assert (spec.write_disposition, spec.primary_key) == ("replace", None)
        else:
            assert (spec.write_disposition, spec.primary_key) == ("merge", "id")


def test_two_tables_read_the_shared_observers_path():
    shared = [s for s in RESOURCES if s.path == "/v1/st/project_observers/list"]
    assert {s.name for s in shared} == {"st_projects_users", "project_observers"}
    assert len({s.path for s in RESOURCES}) == 35


def test_cursor_is_the_update_timestamp_where_the_catalog_has_one():
    for spec in RESOURCES:
        fields = CATALOG["resources"][spec.name]["fields"]
        expected = "updated_date" if "updated_date" in fields else ("updated" if "updated" in fields else None)
        assert spec.cursor == expected, spec.name
        if spec.cursor:
            assert spec.columns()[spec.cursor] == "timestamp"


def loaded_schema(spec, keep_api_names=False):
    """The arrow schema a resource's rows are loaded with (what reaches the destination)."""
    return PageConverter(spec, not keep_api_names, "UTC").empty_table().schema


def test_ids_are_integers_and_merge_resources_are_keyed_on_id():
    for spec in RESOURCES:
        schema = loaded_schema(spec, keep_api_names=True)
        assert schema.field("id").type == pa.int64(), spec.name
        assert spec.primary_key == ("id" if spec.id_required else None)
        numeric_ids = [f for f, t in CATALOG["resources"][spec.name]["fields"].items() if f.endswith("_id") and t == "number"]
        assert all(schema.field(f).type == pa.int64() for f in numeric_ids), spec.name


def test_money_is_decimal_and_dates_are_timestamps():
    invoice = loaded_schema(RESOURCES_BY_NAME["invoice"])
    assert invoice.field("total").type == pa.decimal128(24, 6)
    assert invoice.field("due_date").type == pa.timestamp("us", tz="UTC")
    assert invoice.field("customer_name").type == pa.string()


def test_neutral_names_rename_vendor_columns_without_collisions():
    tasks = loaded_schema(RESOURCES_BY_NAME["tasks"]).names
    assert "customer_id" in tasks and "crm_account_id" not in tasks
    kept = loaded_schema(RESOURCES_BY_NAME["tasks"], keep_api_names=True).names
    assert "crm_account_id" in kept and "customer_id" not in kept
    for spec in RESOURCES:
        renamed = [column_name(f, True) for f in spec.columns()]
        assert len(renamed) == len(set(renamed)), f"{spec.name}: two fields map to one column"
    assert NEUTRAL_NAMES == CATALOG["neutral_names"]


SPEC = Path(__file__).parents[2] / "shared/reference/000_7527472a4afc4b53.txt"


def test_the_original_spec_names_the_same_resources_paths_and_page_sizes():
    """The benchmark's baseline (benchmarks/baseline.py) is built from these declarations,
    so they must be the spec's own: its 36 names, paths and limits, in its order."""
    if not SPEC.exists():
        pytest.skip("shared/reference not beside this checkout")
    spec_resources = re.findall(
        r'"name":\s*"(\w+)",\s*"endpoint":\s*\{\s*"path":\s*"([^"]+)".*?"limit":\s*(\d+)', SPEC.read_text(), re.DOTALL
    )
    assert spec_resources == [(s.name, s.path, str(s.page_size)) for s in RESOURCES]
