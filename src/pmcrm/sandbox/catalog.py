"""The platform's field catalog, read from ``catalog.json``.

The sandbox is written from this file alone - never from the connector's own
declarations - so that a mistake in the connector fails a test instead of
being mirrored by the fake server.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources as package_files

API_PREFIX = "/v1/"
UPDATE_FIELDS = ("updated_date", "updated")
CREATE_FIELDS = ("created_date", "created")


@dataclass(frozen=True)
class Resource:
    """One resource of the catalog: its list path and its JSON field types."""

    name: str
    path: str
    fields: Mapping[str, str]
    required_id: bool
    page_size: int

    @property
    def update_field(self) -> str | None:
        return next((f for f in UPDATE_FIELDS if f in self.fields), None)

    @property
    def create_field(self) -> str | None:
        return next((f for f in CREATE_FIELDS if f in self.fields), None)


def module_of(path: str) -> str | None:
    """The module of an API path: the first segment after ``/v1/``."""
    if not path.startswith(API_PREFIX):
        return None
    return path[len(API_PREFIX):].split("/", 1)[0] or None


class Catalog:
    """Resources by name, distinct paths in catalog order, and the maps between them."""

    def __init__(self, resources: Mapping[str, Resource]):
        self.resources = dict(resources)
        self.paths = tuple(dict.fromkeys(r.path for r in self.resources.values()))
        self._by_path = {p: tuple(r for r in self.resources.values() if r.path == p) for p in self.paths}
        self.modules = frozenset(module_of(p) for p in self.paths)

    def resources_on(self, path: str) -> tuple[Resource, ...]:
        return self._by_path[path]

    def path_of(self, resource_or_path: str) -> str:
        """Accept a resource name or a path; return the path (KeyError if neither)."""
        if resource_or_path in self._by_path:
            return resource_or_path
        if resource_or_path in self.resources:
            return self.resources[resource_or_path].path
        raise KeyError(f"unknown resource or path: {resource_or_path!r}")

    def fields_of(self, path: str) -> dict[str, str]:
        """Union of the fields of every resource served by ``path`` (first type wins)."""
        merged: dict[str, str] = {}
        for resource in self._by_path[path]:
            for name, json_type in resource.fields.items():
                merged.setdefault(name, json_type)
        return merged

    def allows_null_id(self, path: str) -> bool:
        """Null ids are served on a path only if no resource on it requires an id."""
        return not any(r.required_id for r in self._by_path[path])

    def update_field_of(self, path: str) -> str | None:
        return self._by_path[path][0].update_field

    def create_field_of(self, path: str) -> str | None:
        return self._by_path[path][0].create_field

    def theme_of(self, path: str) -> str:
        """The resource name that decides the look of generated names on a path."""
        return self._by_path[path][-1].name


def parse_catalog(document: Mapping) -> Catalog:
    return Catalog({
        name: Resource(
            name=name,
            path=spec["path"],
            fields=dict(spec["fields"]),
            required_id=bool(spec.get("required_id", True)),
            page_size=int(spec.get("page_size", 100)),
        )
        for name, spec in document["resources"].items()
    })


@functools.cache
def load_catalog() -> Catalog:
    """The catalog shipped next to this module (read once, on first use)."""
    text = package_files.files(__package__).joinpath("catalog.json").read_text(encoding="utf-8")
    return parse_catalog(json.loads(text))
