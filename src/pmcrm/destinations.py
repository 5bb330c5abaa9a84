"""Where the data goes (`Target`), and what that destination can do (`DestinationTraits`),
worked out once per run and asked everywhere else.

DuckDB by default, in a file in the current folder; the filesystem destination as plain
parquet files (each sync a full snapshot) or Delta tables (merges); any other dlt
destination by name, with its credentials from dlt's config
(`DESTINATION__POSTGRES__CREDENTIALS`, ...).
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field
from typing import Any

import dlt
from dlt.common.destination import Destination
from dlt.common.configuration.exceptions import ConfigFieldMissingException
from dlt.common.destination.exceptions import UnknownDestinationModule

from pmcrm.errors import SettingsError
from pmcrm.load_settings import duckdb_credentials

DEFAULT_DATASET = "pmcrm_data"  # not "pmcrm": DuckDB names the catalog after the file
DEFAULT_DUCKDB_FILE = "pmcrm.duckdb"
DEFAULT_BUCKET_URL = "pmcrm_files"  # filesystem destination: a folder in the current one
TABLE_FORMATS = ("parquet", "delta")  # filesystem: plain parquet files, or Delta tables
# The names `--destination` takes, as dlt 1.31 names its destinations.
DESTINATION_NAMES = ("duckdb", "postgres", "filesystem", "bigquery", "snowflake", "redshift", "databricks",
                     "mssql", "synapse", "fabric", "athena", "clickhouse", "motherduck", "ducklake", "dremio",
                     "sqlalchemy", "lancedb", "qdrant", "weaviate")
# What a credentials value looks like, for the message when it is missing.
EXAMPLE_CREDENTIALS = {"postgres": "postgresql://user:password@host:5432/database",
                       "mssql": "mssql://user:password@host:1433/database",
                       "snowflake": "snowflake://user:password@account/database"}
# Snapshot (replace) tables go to the staging dataset first and are swapped in by one
# transaction. dlt's default, truncate-and-insert, empties them when the load starts, so a
# load that failed later left `pipeline` and `st_projects_users` empty.
ATOMIC_REPLACE = "insert-from-staging"
# Formats that keep '' distinct from NULL and load fast, best first. Postgres takes
# parquet only through the optional ADBC driver, and its CSV path turns '' into NULL.
_PREFERRED_FORMATS = ("parquet", "insert_values")


@dataclass(frozen=True)
class Target:
    """Where a sync writes: each field is the `pmcrm sync` flag of the same name."""

    destination: str = "duckdb"
    duckdb_file: str = DEFAULT_DUCKDB_FILE
    bucket_url: str | None = None  # filesystem only; else dlt config, else ./pmcrm_files
    table_format: str = "parquet"  # filesystem only: "parquet" (snapshots) or "delta" (merges)
    dataset: str = DEFAULT_DATASET

    def check(self) -> None:
        """Reject file options on a database, and Delta without its package, before any work."""
        if self.table_format not in TABLE_FORMATS:
            raise SettingsError(f"unknown table format '{self.table_format}'; choose from {', '.join(TABLE_FORMATS)}")
        if self.destination != "filesystem" and (self.bucket_url or self.table_format != "parquet"):
            raise SettingsError("--bucket-url and --table-format apply to --destination filesystem only")
        if self.table_format == "delta" and importlib.util.find_spec("deltalake") is None:
            raise SettingsError("Delta tables need the deltalake package: pip install 'pmcrm[delta]'")

    def make(self) -> Any:
        """The dlt destination object."""
        if self.destination == "duckdb":
            return dlt.destinations.duckdb(duckdb_credentials(self.duckdb_file), replace_strategy=ATOMIC_REPLACE)
        if self.destination == "filesystem":
            url = self.bucket_url or dlt.config.get("destination.filesystem.bucket_url") or DEFAULT_BUCKET_URL
            return dlt.destinations.filesystem(bucket_url=url if "://" in url else os.path.abspath(url))
        try:
            destination = Destination.from_reference(self.destination)
        except UnknownDestinationModule:
            raise SettingsError(
                f"unknown destination '{self.destination}': use one of {', '.join(DESTINATION_NAMES)} "
                "(or a dlt destination reference)"
            ) from None
        if ATOMIC_REPLACE in destination.capabilities().supported_replace_strategies:
            destination = Destination.from_reference(self.destination, replace_strategy=ATOMIC_REPLACE)
        return destination

    def describe(self) -> str:
        """Where the data goes, in words, for the summary."""
        if self.destination == "duckdb":
            return f"DuckDB file {os.path.abspath(self.duckdb_file)}, dataset {self.dataset}"
        if self.destination == "filesystem":
            url = self.bucket_url or DEFAULT_BUCKET_URL
            return f"{self.table_format} files under {url if '://' in url else os.path.abspath(url)}/{self.dataset}"
        return f"{self.destination}, dataset {self.dataset}"

    def traits(self, destination: Any | None = None) -> "DestinationTraits":
        destination = destination if destination is not None else self.make()
        plain_files = self.destination == "filesystem" and self.table_format == "parquet"
        run_options: dict[str, Any] = {}
        if self.destination == "filesystem":
            run_options = {"write_disposition": "replace"} if plain_files else {"table_format": self.table_format}
        return DestinationTraits(
            sql=not destination.destination_type.endswith("filesystem"),
            plain_files=plain_files,
            duckdb=destination.destination_type.endswith("duckdb"),
            file_format=_file_format(destination),
            run_options=run_options,
        )


@dataclass(frozen=True)
class DestinationTraits:
    """What a destination can do, asked once: `sql` (deletions, views, first-load checks,
    the runs table's queries), `plain_files` (parquet files cannot merge or update rows, so
    every sync writes each table as a full snapshot: replace, no cursor, deleted rows
    simply gone), `file_format` for `pipeline.run`, and `run_options` that depend on it."""

    sql: bool
    plain_files: bool
    duckdb: bool
    file_format: str | None
    run_options: dict[str, Any] = field(default_factory=dict)

    @property
    def incremental(self) -> bool:
        """A cursor is kept only where rows can be merged."""
        return not self.plain_files

    @property
    def marks_deletions(self) -> bool:
        return self.sql

    def run_kwargs(self) -> dict[str, Any]:
        return {"loader_file_format": self.file_format, **self.run_options}


def _file_format(destination: Any) -> str | None:
    """Parquet where the destination loads it natively: far faster than SQL inserts."""
    if destination.destination_type.endswith("postgres"):
        return "insert_values"
    formats = destination.capabilities().supported_loader_file_formats
    return next((f for f in _PREFERRED_FORMATS if f in formats), None)


def require_credentials(pipeline: Any, target: Target) -> None:
    """Resolve the destination's configuration now, before any request: missing
    credentials are a settings error (exit 2) that says where they go, not a failure after
    the whole read. Builds the client without connecting."""
    if target.destination == "duckdb":
        return
    try:
        pipeline.destination_client()
    except ConfigFieldMissingException as exc:
        name = target.destination
        example = EXAMPLE_CREDENTIALS.get(name, "...")
        raise SettingsError(
            f"--destination {name} has no credentials ({', '.join(exc.fields)} missing): set "
            f"DESTINATION__{name.upper()}__CREDENTIALS={example} or [destination.{name}.credentials] "
            "in .dlt/secrets.toml"
        ) from None
