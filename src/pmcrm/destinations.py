"""Where the data goes (`Target`), and what that destination can do (`DestinationTraits`),
worked out once per run and asked everywhere else.

DuckDB by default, in a file in the current folder; the filesystem destination as plain
parquet files (each sync a full snapshot) or Delta tables (merges); any other dlt
destination by name, with its credentials from dlt's config
(`DESTINATION__POSTGRES__CREDENTIALS`, ...). PostgreSQL gets parquet files, copied in by
the ADBC driver, text without U+0000 (`NulRemover`) and an index on the key it merges by
(`BulkPostgres`).
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import dlt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from dlt.common.configuration.exceptions import ConfigFieldMissingException
from dlt.common.destination import Destination
from dlt.common.destination.exceptions import UnknownDestinationModule
from dlt.common.schema.utils import get_columns_names_with_prop
from dlt.destinations.impl.postgres.postgres import PostgresClient, PostgresParquetCopyJob
from dlt.destinations.sql_jobs import SqlMergeFollowupJob

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
# Formats that keep '' distinct from NULL and load fast, best first.
_PREFERRED_FORMATS = ("parquet", "insert_values")
# PostgreSQL: parquet, which dlt copies in through the ADBC driver (adbc-driver-postgresql,
# a dependency): one binary COPY per load file. Chosen by measurement, side by side in one
# run (`benchmarks/postgres.py --formats`, tasks x 100,000 rows, first sync, 2 load jobs at
# a time; benchmarks/README.md "PostgreSQL"): parquet 6.8 s and 229 MB peak RSS, csv 14.2 s
# and 196 MB, insert_values 28.4 s and 295 MB. csv is also wrong: dlt 1.31's COPY says
# `NULL ''` plus FORCE_NULL on every nullable column, so '' arrives as NULL, and no
# csv_format setting changes that statement. insert_values turns every arrow table into
# SQL text (dlt's ArrowToInsertValuesWriter, a warning per table): slowest and largest.
POSTGRES_FILE_FORMAT = "parquet"
POSTGRES_DRIVER = "adbc_driver_postgresql"


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
        if self.destination == "postgres" and importlib.util.find_spec(POSTGRES_DRIVER) is None:
            # Without it dlt would fall back to SQL INSERT statements: slow, and memory grows.
            raise SettingsError("PostgreSQL is loaded through the ADBC driver: pip install adbc-driver-postgresql")

    def make(self, load_tuning: bool = True) -> Any:
        """The dlt destination object; `load_tuning=False` for one that only reads (see
        duckdb_credentials)."""
        if self.destination == "duckdb":
            return dlt.destinations.duckdb(duckdb_credentials(self.duckdb_file, load_tuning),
                                           replace_strategy=ATOMIC_REPLACE)
        if self.destination == "postgres":
            return BulkPostgres(replace_strategy=ATOMIC_REPLACE)
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

    def traits(self, destination: Any | None = None) -> DestinationTraits:
        destination = destination if destination is not None else self.make()
        plain_files = self.destination == "filesystem" and self.table_format == "parquet"
        run_options: dict[str, Any] = {}
        if self.destination == "filesystem":
            run_options = {"write_disposition": "replace"} if plain_files else {"table_format": self.table_format}
        return DestinationTraits(
            sql=not destination.destination_type.endswith("filesystem"),
            plain_files=plain_files,
            duckdb=destination.destination_type.endswith("duckdb"),
            postgres=destination.destination_type.endswith("postgres"),
            file_format=_file_format(destination),
            run_options=run_options,
        )


@dataclass(frozen=True)
class DestinationTraits:
    """What a destination can do, asked once: `sql` (deletions, views, first-load checks,
    the runs table's queries), `plain_files` (parquet files cannot merge or update rows, so
    every sync writes each table as a full snapshot: replace, no cursor, deleted rows
    simply gone), `file_format` for `pipeline.run`, and `run_options` that depend on it.
    `duckdb` and `postgres` load in pmcrm's process (see load_settings); PostgreSQL text
    cannot hold U+0000 (`text_filter`)."""

    sql: bool
    plain_files: bool
    duckdb: bool
    file_format: str | None
    run_options: dict[str, Any] = field(default_factory=dict)
    postgres: bool = False

    @property
    def incremental(self) -> bool:
        """A cursor is kept only where rows can be merged."""
        return not self.plain_files

    @property
    def marks_deletions(self) -> bool:
        return self.sql

    def run_kwargs(self) -> dict[str, Any]:
        return {"loader_file_format": self.file_format, **self.run_options}

    def text_filter(self, source: Any) -> NulRemover:
        """What the destination needs done to the source's text before it is written:
        on PostgreSQL, U+0000 removed (counted for the summary); elsewhere nothing."""
        remover = NulRemover()
        if self.postgres:
            remover.attach(source)
        return remover


class NulRemover:
    """PostgreSQL text cannot hold U+0000, and COPY refuses a whole file for one. This map
    step removes that character from every text value of the arrow tables the resources
    yield - the row and the rest of the value are kept - and counts the values it changed
    per column, for a note in the summary. Looking costs little: one byte search in each
    text column's data buffer; only a column that holds a NUL is rewritten."""

    def __init__(self) -> None:
        self.changed: Counter[str] = Counter()  # "table.column" -> values changed
        self._lock = threading.Lock()

    def attach(self, source: Any) -> None:
        for name, resource in source.resources.items():
            resource.add_map(self._cleaner(name))

    def _cleaner(self, table: str) -> Any:
        def clean(item: Any, meta: Any = None) -> Any:  # dlt passes `meta` to a map of two arguments
            return self.clean(item, table)

        return clean

    def clean(self, item: Any, table: str) -> Any:
        if not isinstance(item, pa.Table):
            return item
        for index, column in enumerate(item.schema):
            if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
                continue
            values = item.column(index)
            if not any(_data_has_nul(chunk) for chunk in values.chunks):
                continue
            cleaned = pc.replace_substring(values, "\x00", "")
            changed = pc.sum(pc.not_equal(values, cleaned).cast(pa.int64())).as_py() or 0
            if changed:
                item = item.set_column(index, column, cleaned)
                with self._lock:
                    self.changed[f"{table}.{column.name}"] += changed
        return item

    def notes(self) -> list[str]:
        if not self.changed:
            return []
        where = ", ".join(f"{name} ({n})" for name, n in sorted(self.changed.items()))
        return [f"U+0000 (NUL) removed from {sum(self.changed.values())} text value(s), the rest of each "
                f"value and its row kept: PostgreSQL text cannot hold it. Columns: {where}"]


def _data_has_nul(chunk: pa.Array) -> bool:
    """Whether the text bytes behind `chunk` hold a NUL (for a slice: maybe outside it)."""
    data = chunk.buffers()[2] if len(chunk) else None
    return data is not None and data.to_pybytes().find(b"\0") >= 0


class _EmptyFileSkippingCopyJob(PostgresParquetCopyJob):
    """dlt's ADBC copy of one parquet file - except a file without rows, which it cannot
    copy (`adbc_ingest` gets no record batch: "Must pass schema, or at least one
    RecordBatch"). pmcrm writes such files on purpose: the declared schema with no rows
    creates the table of an empty resource, and is all an incremental run writes when
    its filter dropped every row. The table exists by then (dlt creates it before the
    jobs run), so there is nothing to copy."""

    def run(self) -> None:
        if pq.read_metadata(self._file_path).num_rows:
            super().run()


def _key_index_sql(table: Any, sql_client: Any, unique: bool) -> list[str]:
    """An index on the table's primary key (`id`: the merge tables have one, the snapshot
    tables none), unless it has one. dlt's merge on PostgreSQL runs `DELETE FROM <table> d
    WHERE EXISTS (SELECT 1 FROM <staging> s WHERE d.id = s.id)`, and dlt indexes no primary
    key: that delete read the whole table on every merge (1,000,000 rows read to replace
    10,000: EXPLAIN ANALYZE in benchmarks/README.md). A UNIQUE index also tells the planner,
    before any ANALYZE has run, that each staged id matches one row, so it looks them up."""
    keys = get_columns_names_with_prop(table, "primary_key")
    if not keys:
        return []
    name = sql_client.escape_column_name(f"{table['name']}__pmcrm_key"[:63], quote=True)
    columns = ", ".join(sql_client.escape_column_name(key) for key in keys)
    kind = "UNIQUE INDEX" if unique else "INDEX"
    return [f"CREATE {kind} IF NOT EXISTS {name} ON {sql_client.make_qualified_table_name(table['name'])} ({columns})"]


class _KeyedMergeJob(SqlMergeFollowupJob):
    """dlt's merge, after making sure the key it deletes by is indexed. A table pmcrm
    created has its unique index; one created before gets a plain index here, once: a
    unique one would fail every merge of a table that already held a duplicate id."""

    @classmethod
    def generate_sql(cls, table_chain: Any, sql_client: Any) -> list[str]:
        index = _key_index_sql(table_chain[0], sql_client, unique=False)
        return [*index, *super().generate_sql(table_chain, sql_client)]


class _BulkPostgresClient(PostgresClient):
    def create_load_job(self, table: Any, file_path: str, load_id: str, restore: bool = False) -> Any:
        job = super().create_load_job(table, file_path, load_id, restore)
        return _EmptyFileSkippingCopyJob(file_path) if isinstance(job, PostgresParquetCopyJob) else job

    def _get_table_update_sql(self, table_name: str, new_columns: Any, generate_alter: bool) -> list[str]:
        """A new table's CREATE, and its key's unique index - not in the staging dataset,
        where dlt allows a key twice (the merge keeps one row per key)."""
        sql = super()._get_table_update_sql(table_name, new_columns, generate_alter)
        if generate_alter or self.sql_client.is_staging_dataset_active:
            return sql
        return [*sql, *_key_index_sql(self.prepare_load_table(table_name), self.sql_client, unique=True)]

    def _create_merge_followup_jobs(self, table_chain: Any) -> list[Any]:
        return [_KeyedMergeJob.from_table_chain(table_chain, self.sql_client)]


class BulkPostgres(dlt.destinations.postgres):
    """dlt's PostgreSQL destination with two changes: empty parquet files are skipped
    (`_EmptyFileSkippingCopyJob`), and a table's primary key is indexed when the table is
    created, or else before its next merge (`_key_index_sql`). To dlt it is the same
    destination (type, config section `destination.postgres`, pipeline state)."""

    @property
    def destination_type(self) -> str:
        return "dlt.destinations.postgres"

    @property
    def client_class(self) -> type[PostgresClient]:
        return _BulkPostgresClient


def _file_format(destination: Any) -> str | None:
    """Parquet where the destination loads it natively: far faster than SQL inserts.
    PostgreSQL lists parquet only with its ADBC driver (POSTGRES_FILE_FORMAT)."""
    if destination.destination_type.endswith("postgres"):
        return POSTGRES_FILE_FORMAT
    formats = destination.capabilities().supported_loader_file_formats
    return next((f for f in _PREFERRED_FORMATS if f in formats), None)


def require_credentials(make_pipeline: Callable[[], Any], target: Target) -> None:
    """Resolve the destination's configuration now, before any request: missing
    credentials are a settings error (exit 2) that says where they go, not a failure after
    the whole read. Builds the client without connecting; DuckDB needs no pipeline for it
    (making one costs 20-70 ms of every sync)."""
    if target.destination == "duckdb":
        return
    try:
        make_pipeline().destination_client()
    except ConfigFieldMissingException as exc:
        name = target.destination
        example = EXAMPLE_CREDENTIALS.get(name, "...")
        raise SettingsError(
            f"--destination {name} has no credentials ({', '.join(exc.fields)} missing): set "
            f"DESTINATION__{name.upper()}__CREDENTIALS={example} or [destination.{name}.credentials] "
            "in .dlt/secrets.toml"
        ) from None
