"""The benchmark tools' own parsing (the benchmarks themselves never run in CI)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from ab_first_sync import parse_variant


def test_a_variants_upper_case_settings_are_environment_variables_and_lower_case_ones_sync_settings():
    label, env, flags = parse_variant("mixed EXTRACT__WORKERS=1 PYTHONPATH=/tmp/before/src concurrency=4 "
                                      "timezone=Europe/Berlin incremental=false")
    assert label == "mixed"
    assert env == {"EXTRACT__WORKERS": "1", "PYTHONPATH": "/tmp/before/src"}
    assert flags == {"concurrency": 4, "timezone": "Europe/Berlin", "incremental": False}


def test_a_variant_without_settings_is_the_defaults():
    assert parse_variant("default") == ("default", {}, {})


def test_a_setting_without_a_value_is_refused_with_how_to_write_it():
    with pytest.raises(click.BadParameter, match="KEY=VALUE"):
        parse_variant("broken EXTRACT__WORKERS")
