"""dlt's per-file writer settings and a destination's capabilities are worked out once per
sync, and stay exactly what dlt would have resolved: per section, per explicit value, per
naming convention, and anew for the next sync."""

from __future__ import annotations

import dlt
import pytest
from dlt.common.configuration import configspec, with_config
from dlt.common.configuration.container import Container
from dlt.common.configuration.specs import BaseConfiguration, RuntimeConfiguration
from dlt.common.configuration.specs.config_section_context import ConfigSectionContext
from dlt.common.destination.configuration import ParquetFormatConfiguration
from dlt.common.destination.reference import Destination
from dlt.common.jsonpath import compile_path, extract_simple_field_name
from dlt.common.schema import Schema

from pmcrm import resolve_once
from pmcrm.resolve_once import capabilities_once, resolved_once


@with_config(spec=ParquetFormatConfiguration)
def parquet_settings(*, compression: str | None = None, _format: ParquetFormatConfiguration = None):
    """What dlt's parquet writer receives when it opens a file."""
    return _format


@pytest.fixture
def resolutions(monkeypatch) -> list[str]:
    """The specs dlt's own resolver was asked for, except its runtime settings (resolved on
    first use, whenever that is)."""
    asked: list[str] = []
    resolve = resolve_once.dlt_resolve_configuration

    def counting(config, **kwargs):
        if not isinstance(config, RuntimeConfiguration):
            asked.append(type(config).__name__)
        return resolve(config, **kwargs)

    monkeypatch.setattr(resolve_once, "dlt_resolve_configuration", counting)
    return asked


def in_section(*sections: str):
    return Container().injectable_context(ConfigSectionContext(sections=sections))


def test_within_a_sync_a_writer_spec_is_resolved_once_and_holds_the_configured_value(resolutions, monkeypatch):
    monkeypatch.setenv("DATA_WRITER__COMPRESSION", "zstd")
    with resolved_once():
        first, second = parquet_settings(), parquet_settings()
    assert first.compression == second.compression == "zstd"
    assert resolutions == ["ParquetFormatConfiguration"]


def test_outside_a_sync_dlt_resolves_every_time(resolutions):
    parquet_settings()
    parquet_settings()
    assert resolutions == ["ParquetFormatConfiguration"] * 2


def test_the_next_sync_sees_a_setting_changed_between_syncs(monkeypatch):
    monkeypatch.setenv("DATA_WRITER__COMPRESSION", "zstd")
    with resolved_once():
        assert parquet_settings().compression == "zstd"
    monkeypatch.setenv("DATA_WRITER__COMPRESSION", "gzip")
    with resolved_once():
        assert parquet_settings().compression == "gzip"


def test_each_section_keeps_its_own_settings(monkeypatch):
    monkeypatch.setenv("NORMALIZE__DATA_WRITER__COMPRESSION", "gzip")
    monkeypatch.setenv("EXTRACT__DATA_WRITER__COMPRESSION", "lz4")
    with resolved_once():
        for _ in range(2):
            with in_section("normalize"):
                assert parquet_settings().compression == "gzip"
            with in_section("extract"):
                assert parquet_settings().compression == "lz4"


def test_an_explicit_value_is_part_of_what_is_cached(monkeypatch):
    monkeypatch.setenv("DATA_WRITER__COMPRESSION", "zstd")
    with resolved_once():
        assert parquet_settings(compression="brotli").compression == "brotli"
        assert parquet_settings().compression == "zstd"
        assert parquet_settings(compression="brotli").compression == "brotli"


def test_nested_syncs_keep_the_cache_until_the_last_one_ends(resolutions):
    with resolved_once():
        with resolved_once():
            parquet_settings()
        parquet_settings()
    assert resolutions == ["ParquetFormatConfiguration"]
    assert not resolve_once._WRITER_SETTINGS.values, "forgotten when the last sync ends"


@configspec
class NotPerFile(BaseConfiguration):
    compression: str | None = None


def test_other_specs_are_left_to_dlt(resolutions):
    with resolved_once():
        for _ in range(2):
            resolve_once._resolve_configuration(NotPerFile())
    assert resolutions == ["NotPerFile"] * 2


def test_a_cursor_path_is_parsed_once_and_still_names_its_column():
    assert compile_path("updated_at") is compile_path("updated_at")
    assert extract_simple_field_name("updated_at") == "updated_at"
    assert extract_simple_field_name("$.items[*].name") is None


@pytest.fixture
def capability_resolutions(monkeypatch) -> list[str]:
    """The destination settings dlt resolved to work out capabilities."""
    asked: list[str] = []
    configuration = Destination.configuration

    def counting(self, initial_config, accept_partial=False):
        asked.append(type(self).__name__)
        return configuration(self, initial_config, accept_partial)

    monkeypatch.setattr(Destination, "configuration", counting)
    return asked


def test_within_a_sync_a_destinations_capabilities_are_worked_out_once_and_each_caller_gets_its_own(
        capability_resolutions, tmp_path):
    destination = dlt.destinations.duckdb(str(tmp_path / "x.duckdb"))
    with capabilities_once():
        first, second = destination.capabilities(), destination.capabilities()
        first.max_identifier_length = 1  # a caller's change stays its own
        assert destination.capabilities().max_identifier_length == second.max_identifier_length != 1
    assert capability_resolutions == ["duckdb"]
    assert not resolve_once._CAPABILITIES.values, "forgotten when the sync ends"


def described(capabilities) -> dict[str, str]:
    """Every capability, by its repr (dlt builds a new file format selector each time)."""
    return {name: repr(value) for name, value in vars(capabilities).items()}


def test_capabilities_follow_the_naming_convention_asked_with(capability_resolutions):
    destination = dlt.destinations.postgres()  # case sensitive: a case-sensitive convention changes its folding
    case_sensitive = Schema("cs", normalizers={"names": "sql_cs_v1"}).naming
    what_dlt_says = {naming: described(destination.capabilities(naming=naming)) for naming in (None, case_sensitive)}
    capability_resolutions.clear()
    with capabilities_once():
        for _ in range(2):
            for naming in (None, case_sensitive):
                assert described(destination.capabilities(naming=naming)) == what_dlt_says[naming]
    assert what_dlt_says[None] != what_dlt_says[case_sensitive], "the convention changes them"
    assert capability_resolutions == ["postgres", "postgres"], "once per naming convention"


def test_outside_a_sync_and_with_settings_given_dlt_works_capabilities_out_every_time(
        capability_resolutions, tmp_path):
    destination = dlt.destinations.duckdb(str(tmp_path / "x.duckdb"))
    destination.capabilities()
    destination.capabilities()
    with capabilities_once():
        config = destination.configuration(destination.spec(credentials=str(tmp_path / "x.duckdb")),
                                           accept_partial=True)
        destination.capabilities(config)
        destination.capabilities(config)
    assert capability_resolutions == ["duckdb"] * 3
