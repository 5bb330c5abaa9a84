"""dlt settings that cannot change during a sync, worked out once per sync instead of
every time dlt asks. Changes only how fast, never what, is loaded.

Why by hand: dlt resolves a file writer's settings (`data_writer`, the parquet or csv
format) from every config provider for every file it opens, and builds a new JSONPath
parser (ply's LR tables) for every cursor path it compiles, with no cache of its own. On a
36 x 2,000-row sync that was 0.6 s of GIL-holding time in the extract threads the page
reads need, and 0.2 s for the parsers (py-spy; benchmarks/README.md, "Fixed costs dlt
paid on every sync").

Likewise a destination's capabilities: with no settings given, dlt works them out from a
partial resolution of the destination's settings in every config provider, each time it
asks - about 25 times a sync, ~0.25 s of GIL time on a small sync (py-spy).

Each cache lives only while its context is entered (`resolved_once()`: one sync's steps;
`capabilities_once()`: the whole sync): a setting changed between two syncs of one
process (a notebook, an Airflow worker) is seen by the next one.
"""

from __future__ import annotations

import copy
import functools
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import dlt.common.configuration.inject as dlt_inject
import dlt.common.jsonpath as dlt_jsonpath
from dlt.common.configuration.container import Container
from dlt.common.configuration.resolve import resolve_configuration as dlt_resolve_configuration
from dlt.common.configuration.specs.base_configuration import ContainerInjectableContext, extract_inner_hint
from dlt.common.configuration.specs.config_section_context import ConfigSectionContext
from dlt.common.data_writers.buffered import BufferedDataWriter
from dlt.common.destination.configuration import CsvFormatConfiguration, ParquetFormatConfiguration
from dlt.common.destination.reference import Destination
from dlt.common.typing import is_subclass

# The specs dlt resolves per load file. Their values come from config providers and the
# injected destination capabilities, which stay put while a sync runs.
PER_FILE_SPECS = (BufferedDataWriter.BufferedDataWriterConfiguration, ParquetFormatConfiguration,
                  CsvFormatConfiguration)
# Explicit values of these types are part of the cache key; any other kind is not cached.
_PLAIN = (str, int, float, bool, type(None))

class _PerSync:
    """Values kept while a sync runs: its context may be entered again within (nested runs
    share the values), and leaving the last entry forgets them all."""

    def __init__(self) -> None:
        self.values: dict[tuple, Any] = {}
        self._entered = 0
        self._lock = threading.Lock()

    @property
    def active(self) -> bool:
        return self._entered > 0

    @contextmanager
    def entered(self) -> Iterator[None]:
        with self._lock:
            self._entered += 1
        try:
            yield
        finally:
            with self._lock:
                self._entered -= 1
                if not self._entered:
                    self.values.clear()


_WRITER_SETTINGS = _PerSync()  # key (_key) -> the resolved per-file spec
_CAPABILITIES = _PerSync()  # key -> (the destination, kept alive for its id; its capabilities)


def resolved_once() -> AbstractContextManager[None]:
    """Within: each per-file spec is resolved once per section, context and explicit
    values; on leaving the last one, everything resolved is forgotten."""
    return _WRITER_SETTINGS.entered()


def capabilities_once() -> AbstractContextManager[None]:
    """Within: each destination's capabilities asked without settings are worked out once
    per naming convention; every caller gets a copy of its own. Entered for a whole sync:
    they depend on the destination's own section only, which pmcrm's run settings
    (load_settings.dlt_settings) do not touch."""
    return _CAPABILITIES.entered()


def _destination_capabilities(destination: Any, config: Any = None, naming: Any = None) -> Any:
    """dlt's `Destination.capabilities`, answered from the cache when no settings are given."""
    if config is not None or not _CAPABILITIES.active:
        return dlt_capabilities(destination, config, naming)
    key = (id(destination), None if naming is None else
           (type(naming), naming.is_case_sensitive, getattr(naming, "max_length", None)))
    cached = _CAPABILITIES.values.get(key)
    if cached is None:
        cached = _CAPABILITIES.values[key] = (destination, dlt_capabilities(destination, None, naming))
    return copy.copy(cached[1])


def _resolve_configuration(config: Any, *, sections: tuple[str, ...] = (), explicit_value: Any = None,
                           accept_partial: bool = False) -> Any:
    """dlt's `resolve_configuration`, answered from the cache for a per-file spec."""
    key = _key(config, sections, explicit_value, accept_partial) if _WRITER_SETTINGS.active else None
    resolved = _WRITER_SETTINGS.values.get(key) if key is not None else None
    if resolved is None:
        resolved = dlt_resolve_configuration(config, sections=sections, explicit_value=explicit_value,
                                             accept_partial=accept_partial)
        if key is not None:
            _WRITER_SETTINGS.values[key] = resolved
    return resolved


def _key(config: Any, sections: tuple[str, ...], explicit_value: Any, accept_partial: bool) -> tuple | None:
    """What the resolved value depends on, or None when it is not a per-file spec with
    plain explicit values. Context ids are safe keys: a cached value holds its context."""
    spec = type(config)
    if spec not in PER_FILE_SPECS or config.is_resolved():
        return None
    fields = spec.get_resolvable_fields()
    explicit = {name: value for name, value in (explicit_value or {}).items() if name in fields}
    if not all(isinstance(value, _PLAIN) for value in explicit.values()):
        return None
    container = Container()
    section = container[ConfigSectionContext]
    contexts = tuple(id(container[hint]) if hint in container else None for hint in _context_hints(spec))
    return (spec, sections, section.sections, section.pipeline_name, accept_partial,
            tuple(sorted(explicit.items())), contexts)


@functools.cache
def _context_hints(spec: type) -> tuple[type, ...]:
    """The fields of `spec` that dlt fills from injected contexts (destination capabilities)."""
    hints = (extract_inner_hint(hint) for hint in spec.get_resolvable_fields().values())
    return tuple(hint for hint in hints if is_subclass(hint, ContainerInjectableContext))


# A JSONPath depends on its text alone, and jsonpath_ng's nodes are never changed after
# parsing: one parse per distinct cursor path for the life of the process.
dlt_jsonpath._parse = functools.lru_cache(maxsize=256)(dlt_jsonpath._parse)
dlt_inject.resolve_configuration = _resolve_configuration
dlt_capabilities = Destination.capabilities
Destination.capabilities = _destination_capabilities  # type: ignore[method-assign]
