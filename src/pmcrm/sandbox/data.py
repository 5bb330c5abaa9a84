"""The sandbox's dataset: deterministic rows per path, and the ways they change.

A path's rows are generated on first use from ``(seed, path, field)`` alone, so
they never depend on which path was asked for first. Foreign keys (see
``relations.FOREIGN_KEYS``) pick ids of rows that exist: generation picks from
the target's generated ids, inserts from its live ids; a delete first
generates every path that can point at the deleted rows, then cascades along
owning keys and sets other references to null, bumping those rows' update
time. Mutations stamp rows with a clock that starts after every generated
timestamp and moves one second per mutation, so a changed row is always
newer than any row before it. How many rows a path has, when they were made
and how they relate is the dataset's shape (``shapes``: "uniform" or "account").

Generation cost on this machine: ~0.15 s per path of 20,000 rows, ~5 s for all
35 paths (36 resources) at that size, spread over the first request of each path.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from random import Random
from types import MappingProxyType

from .account_relations import Batch
from .catalog import Catalog, load_catalog
from .relations import FOREIGN_KEYS, MODEL_OF_TARGET, OWNING_KEYS, split_key
from .shapes import UniformShape, make_shape
from .values import (
    DATA_END,
    DERIVED_FIELDS,
    WORDS,
    ZERO_DATE,
    ColumnContext,
    as_json_type,
    choose,
    format_timestamp,
    format_timestamps,
    fractions,
    generate_column,
    money,
    rule_for,
)

__all__ = ["DEFAULT_ROWS", "FOREIGN_KEYS", "Dataset", "ForeignKey", "Table", "foreign_keys_by_path"]

DEFAULT_ROWS = 1000
CUSTOM_FIELD_SHARE = 0.10
EMPTY_DATE_SHARE = 0.02  # of a date column's cells: '' and, as often, '0000-00-00 00:00:00'
FK_NULL_RATE = 0.15
SELF_REFERENCE_NULL_RATE = 0.6
UNCHANGING_FIELDS = re.compile(r"id|.*uuid|guid_1c|.*number.*|ref|ref_id|code.*|article|model|module")


def seed_of(*parts: object) -> int:
    """A stable 64-bit seed from any parts (Python's own hash is salted per process)."""
    text = "\x1f".join(map(str, parts)).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


@dataclass(frozen=True)
class ForeignKey:
    field: str
    target: str  # the target's path
    owning: bool  # the child is deleted with its parent


def foreign_keys_by_path(catalog: Catalog) -> dict[str, dict[str, ForeignKey]]:
    """``FOREIGN_KEYS`` (by resource) turned into the foreign keys of each served path."""
    by_path: dict[str, dict[str, ForeignKey]] = {path: {} for path in catalog.paths}
    for key, target in FOREIGN_KEYS.items():
        resource, field = split_key(key)
        path = catalog.resources[resource].path
        fk = ForeignKey(field, catalog.resources[target].path, key in OWNING_KEYS)
        if by_path[path].setdefault(field, fk) != fk:
            raise ValueError(f"resources on {path} disagree about {field}")
    return by_path


def as_int(value: object) -> int | None:
    """A foreign-key value as an integer id (string-typed keys travel as text)."""
    return None if value in (None, "") else int(value)  # type: ignore[arg-type]


class Table:
    """The rows of one path in API order (null ids first, then by id) and their version."""

    def __init__(self, path: str, rows: list[dict], update_field: str | None, create_field: str | None):
        self.path = path
        self.rows = rows
        self.update_field = update_field
        self.create_field = create_field
        self.generated_ids = tuple(r["id"] for r in rows if r["id"] is not None)
        self.version = 0

    def live_ids(self) -> list[int]:
        return [r["id"] for r in self.rows if r["id"] is not None]

    def next_id(self) -> int:
        return max(self.live_ids(), default=0) + 1

    def changed(self) -> None:
        self.version += 1


class RowFactory:
    """Makes rows of one path: the catalog fields in order, plus a few custom fields."""

    def __init__(self, catalog: Catalog, path: str, foreign_keys: Mapping[str, ForeignKey], seed: int,
                 shape: UniformShape):
        self.path = path
        self.seed = seed
        self.shape = shape
        self.fields = catalog.fields_of(path)
        self.theme = catalog.theme_of(path)
        self.update_field = catalog.update_field_of(path)
        self.create_field = catalog.create_field_of(path)
        self.foreign_keys = foreign_keys
        self.fixed_models = {
            name: value
            for fk in foreign_keys.values() if fk.field == "model_id"
            for name, value in zip(("module", "model"), MODEL_OF_TARGET[catalog.theme_of(fk.target)])
        }
        self.custom_fields = self._pick_custom_field_names()
        text, number = self.custom_fields
        self.field_types = MappingProxyType({**self.fields, text: "string", f"{text}_value": "number",
                                             number: "number"})
        self.derived = DERIVED_FIELDS.get(self.theme)

    def _pick_custom_field_names(self) -> tuple[str, str]:
        free = [n for n in range(1, 40) if f"cf_{n}" not in self.fields and f"cf_{n}_value" not in self.fields]
        first, second = Random(seed_of(self.seed, self.path, "cf")).sample(free, 2)
        return f"cf_{first}", f"cf_{second}"

    def make(self, ids: list, created: list[int], updated: list[int], pools: Mapping[str, list[int]],
             salt: object) -> list[dict]:
        """Rows for these ids and times; ``pools`` gives each foreign key's candidate ids."""
        n = len(ids)
        columns: dict[str, list] = {}
        shared_rng = lambda group: Random(seed_of(self.seed, self.path, group, salt))
        for field, json_type in self.fields.items():
            rng = Random(seed_of(self.seed, self.path, field, salt))
            if field == "id":
                columns[field] = ids
            elif field == self.create_field:
                columns[field] = format_timestamps(created)
            elif field == self.update_field:
                columns[field] = format_timestamps(updated)
            elif field in self.foreign_keys:
                column = self._foreign_key_column(rng, self.foreign_keys[field], ids, pools[field])
                columns[field] = as_json_type(column, json_type)
            elif field in self.fixed_models:
                columns[field] = [self.fixed_models[field]] * n
            else:
                columns[field] = self._value_column(rng, field, json_type, ids, created, shared_rng)
        names = list(columns)
        rows = list(map(dict, map(zip, itertools.repeat(names), zip(*columns.values()))))
        settle_rng = Random(seed_of(self.seed, self.path, "settle", salt))
        self.shape.settle(self.theme, Batch(rows, created, pools, settle_rng, self.shape.position,
                                            generated=salt == "generated", update_field=self.update_field))
        self.derive(rows)
        self._add_custom_fields(rows, Random(seed_of(self.seed, self.path, "custom", salt)))
        return rows

    def derive(self, rows: Iterable[dict]) -> None:
        """Recompute the fields that other fields decide (totals from amounts)."""
        if self.derived is not None:
            for row in rows:
                self.derived(row)

    def _value_column(self, rng: Random, field: str, json_type: str, ids: list, created: list[int],
                      shared_rng: Callable[[str], Random]) -> list:
        rule = rule_for(field, json_type)
        context = ColumnContext(rng, ids, created, self.theme, field, shared_rng, self.shape.pending_is_null)
        column = as_json_type(generate_column(rule, context), json_type)
        blank(rng, column, rule.null_rate, None)
        if rule.is_date:
            blank(rng, column, EMPTY_DATE_SHARE, "")
            blank(rng, column, EMPTY_DATE_SHARE, ZERO_DATE)
        return column

    def _foreign_key_column(self, rng: Random, fk: ForeignKey, ids: list, pool: list[int]) -> list:
        """Existing target ids; a reference to its own path points at an earlier row."""
        if fk.target == self.path:
            return self._earlier_rows(rng, ids, sorted(pool))
        if not pool:
            return [None] * len(ids)
        return blank(rng, choose(rng, pool, len(ids)), 0.0 if fk.owning else FK_NULL_RATE, None)

    @staticmethod
    def _earlier_rows(rng: Random, ids: list, pool: list[int]) -> list:
        out = []
        for own in ids:
            earlier = bisect.bisect_left(pool, own) if own is not None else 0
            if earlier == 0 or rng.random() < SELF_REFERENCE_NULL_RATE:
                out.append(None)
            else:
                out.append(pool[rng.randrange(earlier)])
        return out

    def _add_custom_fields(self, rows: list[dict], rng: Random) -> None:
        """About one row in ten carries custom fields that the catalog does not list."""
        text_field, number_field = self.custom_fields
        chosen = [row for row, f in zip(rows, fractions(rng, len(rows))) if f < CUSTOM_FIELD_SHARE]
        amounts = money(1, 10000)(ColumnContext(rng, [None] * len(chosen), [], "", ""))
        for row, word, amount, score in zip(chosen, choose(rng, WORDS, len(chosen)), amounts,
                                            choose(rng, range(-20, 101), len(chosen))):
            row[text_field] = word
            row[f"{text_field}_value"] = amount
            if score > 0:
                row[number_field] = score


def blank(rng: Random, column: list, share: float, value: object) -> list:
    """Overwrite about ``share`` of the column's cells with ``value`` (a null, an empty date)."""
    n = len(column)
    count = int(share * n + rng.random())
    if count:
        for position in choose(rng, range(n), count):
            column[position] = value
    return column


def ascending_ids(rng: Random, n: int) -> list[int]:
    """Auto-increment ids with the gaps that deleted rows leave (one step in seven skips a few)."""
    return list(itertools.accumulate(choose(rng, (1, 1, 1, 1, 1, 1, 2, 1, 1, 1, 1, 1, 1, 4), n)))


def update_times(rng: Random, created: list[int]) -> list[int]:
    """Each row's last update: after its creation, mostly soon after, before the data period ends."""
    return [c + int((DATA_END - 1 - c) * f * f * f) for c, f in zip(created, fractions(rng, len(created)))]


class Dataset:
    """Rows of every path, generated lazily and deterministically from a seed."""

    def __init__(self, seed: int = 0, rows: int = DEFAULT_ROWS, rows_per_resource: Mapping[str, int] | None = None,
                 catalog: Catalog | None = None, shape: str = "uniform"):
        self.seed = seed
        self.catalog = catalog or load_catalog()
        self.shape = make_shape(shape)
        self.row_counts = resolve_row_counts(self.catalog, self.shape.row_counts(self.catalog, rows),
                                             rows_per_resource or {})
        self.foreign_keys = foreign_keys_by_path(self.catalog)
        self.children = children_by_target(self.foreign_keys)
        self.lock = threading.RLock()
        self.clock = DATA_END
        self._tables: dict[str, Table] = {}
        self._factories: dict[str, RowFactory] = {}
        self._mutations = 0
        self._generating: set[str] = set()

    # ------------------------------------------------------------- reading
    def table(self, resource_or_path: str) -> Table:
        """The live table of a path (generated on first use, with what it points at)."""
        path = self.catalog.path_of(resource_or_path)
        with self.lock:
            table = self._tables.get(path)
            if table is None:
                if path in self._generating:
                    raise RuntimeError(f"foreign keys form a cycle through {path}")
                self._generating.add(path)
                try:
                    table = self._tables[path] = self._generate(path)
                finally:
                    self._generating.discard(path)
            return table

    def rows(self, resource_or_path: str) -> list[dict]:
        """Copies of the exact rows the API serves for a resource or path, in API order."""
        with self.lock:
            return [dict(row) for row in self.table(resource_or_path).rows]

    def field_types(self, resource_or_path: str) -> Mapping[str, str]:
        """The JSON type ('number' or 'string') of every field a path's rows may carry:
        the catalog's, plus the path's custom fields."""
        path = self.catalog.path_of(resource_or_path)
        with self.lock:
            return self._factory(path).field_types

    def version(self, resource_or_path: str) -> int:
        return self.table(resource_or_path).version

    def materialize(self, paths: Iterable[str] | None = None) -> None:
        for path in self.catalog.paths if paths is None else paths:
            self.table(path)

    def _factory(self, path: str) -> RowFactory:
        if path not in self._factories:
            self._factories[path] = RowFactory(self.catalog, path, self.foreign_keys[path], self.seed, self.shape)
        return self._factories[path]

    def _generate(self, path: str) -> Table:
        factory = self._factory(path)
        rng = Random(seed_of(self.seed, path, "rows"))
        n = self.row_counts[path]
        shape = self.shape
        nulls = shape.null_id_count(n) if self.catalog.allows_null_id(path) else 0
        ids = [None] * nulls + ascending_ids(rng, n - nulls)
        created = sorted(rng.randint(shape.start, DATA_END - 1) for _ in range(nulls))
        created += shape.creation_times(rng, n - nulls)
        pools = {f: list(self.table(fk.target).generated_ids) if fk.target != path else [i for i in ids if i is not None]
                 for f, fk in factory.foreign_keys.items()}
        rows = factory.make(ids, created, update_times(rng, created), pools, salt="generated")
        return Table(path, rows, factory.update_field, factory.create_field)

    # ------------------------------------------------------------ changing
    def touch(self, fraction: float, resources: Iterable[str] | None = None) -> dict[str, list]:
        """Move the update time of ``fraction`` of the rows past every existing one."""
        return self._each_path(resources, lambda path, rng: self._touch(path, rng, fraction), "touch",
                               only_with_update_time=True)

    def update(self, fraction: float, resources: Iterable[str] | None = None) -> dict[str, list]:
        """Change one or two field values (and the update time) of ``fraction`` of the rows."""
        return self._each_path(resources, lambda path, rng: self._update(path, rng, fraction), "update")

    def insert(self, n: int, resources: Iterable[str] | None = None) -> dict[str, list]:
        """Append ``n`` new rows (new ids, created and updated now) to each path."""
        return self._each_path(resources, lambda path, rng: self._insert(path, n), "insert")

    def delete(self, n_or_fraction: float, resources: Iterable[str] | None = None) -> dict[str, list]:
        """Delete ``n`` rows (an int) or a fraction of them (a float below 1) of each path.

        Children whose key owns them are deleted too; other references become null.
        The result lists the deleted ids per path, cascades included.
        """
        deleted: dict[str, list] = {}

        def delete_from(path: str, rng: Random) -> list:
            table = self.table(path)
            count = _how_many(n_or_fraction, len(table.rows))
            positions = rng.sample(range(len(table.rows)), count)
            for victim_path, ids in self._delete(path, positions).items():
                deleted.setdefault(victim_path, []).extend(ids)
            return deleted.get(path, [])

        self._each_path(resources, delete_from, "delete")
        return deleted

    def churn(self, resource_or_path: str, rate: float) -> None:
        """Insert, update and delete about ``rate`` of a path's rows: the moving dataset
        that ``mutate_while_paging`` serves between two page requests."""
        path = self.catalog.path_of(resource_or_path)
        with self.lock:
            table = self.table(path)
            rng = self._mutation_rng(path, "churn")
            changes = max(1, round(rate * len(table.rows)))
            kinds = rng.choices(("insert", "update", "delete"), k=changes)
            if kinds.count("insert"):
                self._insert(path, kinds.count("insert"))
            if kinds.count("update"):
                self._update(path, rng, kinds.count("update"))
            if kinds.count("delete") and table.rows:
                count = min(kinds.count("delete"), len(table.rows))
                self._delete(path, rng.sample(range(len(table.rows)), count))

    def _each_path(self, resources: Iterable[str] | None, change, kind: str,
                   only_with_update_time: bool = False) -> dict[str, list]:
        with self.lock:
            paths = self._paths(resources)
            if only_with_update_time:
                paths = [p for p in paths if self.catalog.update_field_of(p)]
            return {path: change(path, self._mutation_rng(path, kind)) for path in paths}

    def _paths(self, resources: Iterable[str] | None) -> list[str]:
        if resources is None:
            return list(self.catalog.paths)
        if isinstance(resources, str):
            resources = [resources]
        return list(dict.fromkeys(self.catalog.path_of(r) for r in resources))

    def _mutation_rng(self, path: str, kind: str) -> Random:
        self._mutations += 1
        return Random(seed_of(self.seed, "mutation", path, kind, self._mutations))

    def _stamp(self) -> int:
        """A time after every timestamp in the dataset; each call moves the clock on."""
        stamp, self.clock = self.clock, self.clock + 1
        return stamp

    def _touch(self, path: str, rng: Random, fraction: float) -> list:
        table = self.table(path)
        chosen = rng.sample(table.rows, _how_many(fraction, len(table.rows)))
        stamp = format_timestamp(self._stamp())
        for row in chosen:
            row[table.update_field] = stamp
        table.changed()
        return [row["id"] for row in chosen]

    def _update(self, path: str, rng: Random, n_or_fraction: float) -> list:
        table, factory = self.table(path), self._factory(path)
        chosen = rng.sample(table.rows, _how_many(n_or_fraction, len(table.rows)))
        editable = [f for f in factory.fields
                    if f not in factory.foreign_keys and f not in factory.fixed_models
                    and f not in (table.update_field, table.create_field) and not UNCHANGING_FIELDS.fullmatch(f)]
        stamp = self._stamp()
        fresh = factory.make([row["id"] for row in chosen], [stamp] * len(chosen), [stamp] * len(chosen),
                             self._live_pools(path), salt=("update", self._mutations))
        for field in rng.sample(editable, min(2, len(editable))):
            for row, new in zip(chosen, fresh):
                row[field] = new[field]
        factory.derive(chosen)
        if table.update_field:
            for row in chosen:
                row[table.update_field] = format_timestamp(stamp)
        table.changed()
        return [row["id"] for row in chosen]

    def _insert(self, path: str, n: int) -> list:
        table, factory = self.table(path), self._factory(path)
        first = table.next_id()
        ids = list(range(first, first + n))
        stamp = self._stamp()
        rows = factory.make(ids, [stamp] * n, [stamp] * n, self._live_pools(path), salt=("insert", self._mutations))
        table.rows.extend(rows)
        table.changed()
        return ids

    def _live_pools(self, path: str) -> dict[str, list[int]]:
        return {f: self.table(fk.target).live_ids() for f, fk in self.foreign_keys[path].items()}

    def _delete(self, path: str, positions: list[int]) -> dict[str, list]:
        """Remove rows by position; cascade or null out whatever pointed at them."""
        self.materialize(self._referrers(path))
        table = self.table(path)
        doomed = set(positions)
        gone = [row for i, row in enumerate(table.rows) if i in doomed]
        table.rows[:] = [row for i, row in enumerate(table.rows) if i not in doomed]
        table.changed()
        deleted = {path: [row["id"] for row in gone]}
        gone_ids = {row["id"] for row in gone if row["id"] is not None}
        if not gone_ids:
            return deleted
        stamp = None
        for child_path, fk in self.children.get(path, ()):
            child = self._tables[child_path]
            hits = [i for i, row in enumerate(child.rows) if as_int(row.get(fk.field)) in gone_ids]
            if not hits:
                continue
            if fk.owning:
                for victim_path, ids in self._delete(child_path, hits).items():
                    deleted.setdefault(victim_path, []).extend(ids)
                continue
            stamp = stamp or format_timestamp(self._stamp())
            for i in hits:
                child.rows[i][fk.field] = None
                if child.update_field:
                    child.rows[i][child.update_field] = stamp
            child.changed()
        return deleted

    def _referrers(self, path: str) -> list[str]:
        """Every path that can point at ``path``, directly or through an owning cascade."""
        seen: list[str] = []
        todo = [path]
        while todo:
            for child_path, _ in self.children.get(todo.pop(), ()):
                if child_path not in seen:
                    seen.append(child_path)
                    todo.append(child_path)
        return seen


def children_by_target(foreign_keys: Mapping[str, Mapping[str, ForeignKey]]) -> dict[str, list[tuple[str, ForeignKey]]]:
    children: dict[str, list[tuple[str, ForeignKey]]] = {}
    for path, keys in foreign_keys.items():
        for fk in keys.values():
            children.setdefault(fk.target, []).append((path, fk))
    return children


def resolve_row_counts(catalog: Catalog, shaped: Mapping[str, int],
                       rows_per_resource: Mapping[str, int]) -> dict[str, int]:
    """Rows per path: the shape's, overridden by resource name or path."""
    counts = dict(shaped)
    overridden: dict[str, int] = {}
    for name, count in rows_per_resource.items():
        path = catalog.path_of(name)
        if overridden.setdefault(path, count) != count:
            raise ValueError(f"conflicting row counts for {path}: {overridden[path]} and {count}")
        if count < 0:
            raise ValueError(f"row count of {name} must be >= 0")
        counts[path] = count
    return counts


def _how_many(n_or_fraction: float, available: int) -> int:
    """An int is a count of rows; a float is a share of them (at least one row if above 0)."""
    if isinstance(n_or_fraction, float):
        if not 0 <= n_or_fraction <= 1:
            raise ValueError(f"a fraction must be between 0 and 1, not {n_or_fraction}")
        return min(available, max(1, round(n_or_fraction * available))) if n_or_fraction > 0 else 0
    if n_or_fraction < 0:
        raise ValueError(f"a row count must be >= 0, not {n_or_fraction}")
    return min(available, int(n_or_fraction))
