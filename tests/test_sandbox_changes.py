"""touch / insert / delete / update: changing the data between runs, consistently."""

from __future__ import annotations

from pmcrm.sandbox import FOREIGN_KEYS, Sandbox, SandboxOptions
from pmcrm.sandbox.catalog import load_catalog
from pmcrm.sandbox.data import as_int
from pmcrm.sandbox.raw_client import SandboxClient
from pmcrm.sandbox.relations import split_key
from tests.sandbox_fixtures import sandbox_api

CATALOG = load_catalog()


api = sandbox_api(scope="function", seed=8, rows=80)  # every test changes the data


def newest_update(api) -> str:
    return max(row[r.update_field] for r in CATALOG.resources.values() if r.update_field for row in api.truth(r.name))


def served(api, resource: str) -> list[dict]:
    return SandboxClient(api.base_url, api.api_key).all_rows(CATALOG.path_of(resource), limit=30)


def assert_no_dangling_foreign_keys(api) -> None:
    for key, target in FOREIGN_KEYS.items():
        resource, field = split_key(key)
        ids = {row["id"] for row in api.truth(target)}
        assert all(as_int(row[field]) in ids for row in api.truth(resource) if row[field] is not None), key


def test_touch_moves_that_share_of_rows_past_every_existing_update_time(api):
    before, newest = api.truth("tasks"), newest_update(api)
    touched = api.touch(0.25, ["tasks"])[CATALOG.path_of("tasks")]
    after = {row["id"]: row for row in served(api, "tasks")}
    assert len(touched) == 20
    assert all(after[i]["updated_date"] > newest for i in touched)
    untouched = [row for row in before if row["id"] not in touched]
    assert all(after[row["id"]] == row for row in untouched)


def test_touch_is_deterministic_per_seed():
    def touched(seed):
        with Sandbox(SandboxOptions(seed=seed, rows=50)) as sandbox:
            return sandbox.touch(0.2, ["lead", "product_list"])

    assert touched(1) == touched(1) != touched(2)


def test_touch_without_resources_touches_every_path_that_has_an_update_time(api):
    touched = api.touch(0.1)
    assert set(touched) == {r.path for r in CATALOG.resources.values() if r.update_field}


def test_update_changes_field_values_and_the_update_time(api):
    before = {row["id"]: row for row in api.truth("projects")}
    newest = newest_update(api)
    updated = api.update(0.5, ["projects"])[CATALOG.path_of("projects")]
    after = {row["id"]: row for row in served(api, "projects")}
    assert len(updated) == 40
    for i in updated:
        assert after[i]["updated_date"] > newest
        assert after[i]["created_date"] == before[i]["created_date"]
    changed = [i for i in updated if {k: v for k, v in after[i].items() if k != "updated_date"}
               != {k: v for k, v in before[i].items() if k != "updated_date"}]
    assert len(changed) > len(updated) / 2


def test_insert_adds_rows_with_new_ids_and_foreign_keys_to_existing_rows(api):
    before = api.truth("task_lists")
    inserted = api.insert(5, ["task_lists"])[CATALOG.path_of("task_lists")]
    after = served(api, "task_lists")
    assert len(after) == len(before) + 5
    assert min(inserted) > max(row["id"] for row in before)
    assert [row["id"] for row in after[-5:]] == inserted
    assert_no_dangling_foreign_keys(api)


def test_delete_removes_rows_cascades_to_owned_children_and_nulls_other_references(api):
    accounts_before = len(api.truth("account"))
    deleted = api.delete(10, ["account"])
    gone = set(deleted[CATALOG.path_of("account")])
    assert len(gone) == 10 and len(served(api, "account")) == accounts_before - 10
    assert all(row["account_id"] not in gone for row in api.truth("emails")), "emails belong to their account"
    assert CATALOG.path_of("emails") in deleted
    assert_no_dangling_foreign_keys(api)


def test_delete_takes_a_count_or_a_fraction(api):
    assert len(api.delete(3, ["lead"])[CATALOG.path_of("lead")]) == 3
    assert len(api.delete(0.5, ["loss_reason"])[CATALOG.path_of("loss_reason")]) == 40


def test_every_change_keeps_every_foreign_key_resolvable(api):
    api.insert(3)
    api.update(0.2)
    api.delete(0.1)
    api.touch(0.1)
    assert_no_dangling_foreign_keys(api)
