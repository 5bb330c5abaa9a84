"""DuckDB's own share of a load: the parquet files of a loaded package inserted into a fresh
DuckDB file (and into memory) the way dlt's DuckDB load job does it, without dlt or pmcrm.
Why: scenario 1's load takes 2.2 s of a 13.8 s sync; this tells how much of it any loader
into a DuckDB file would pay (benchmarks/README.md, "After run M").

    PMCRM_API_KEY=... DLT_DATA_DIR=/tmp/big .venv/bin/pmcrm sync --pipeline-name big ...   # 36 x 20,000
    .venv/bin/python benchmarks/duckdb_insert.py /tmp/big/pipelines/big/load/loaded/*/completed_jobs

Each table is created empty with the schema of its first file, then every file is inserted
with `INSERT INTO t BY NAME SELECT * FROM read_parquet(...)`, one after another (pmcrm
loads DuckDB with one thread and two jobs at a time: `load_settings.py`).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import click
import duckdb
import pyarrow.parquet as pq


def insert_all(connection: duckdb.DuckDBPyConnection, files: list[Path]) -> float:
    created: set[str] = set()
    started = time.perf_counter()
    for file in files:
        table = file.name.split(".")[0]
        if table not in created:
            connection.execute(f"CREATE TABLE {table} AS SELECT * FROM read_parquet('{file}') LIMIT 0")
            created.add(table)
        connection.execute(f"INSERT INTO {table} BY NAME SELECT * FROM read_parquet('{file}', union_by_name=true)")
    return time.perf_counter() - started


@click.command()
@click.argument("folders", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--threads", default=1, show_default=True, help="DuckDB threads (pmcrm's load uses 1).")
def main(folders: tuple[Path, ...], threads: int) -> None:
    files = sorted(f for folder in folders for f in folder.glob("*.parquet") if not f.name.startswith("_dlt"))
    rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    click.echo(f"{len(files)} files, {rows:,} rows, {threads} DuckDB thread(s)")
    with tempfile.TemporaryDirectory() as folder:
        for where in (str(Path(folder) / "insert.duckdb"), ":memory:"):
            connection = duckdb.connect(where, config={"threads": threads})
            seconds = insert_all(connection, files)
            started = time.perf_counter()
            connection.close()  # closing a file checkpoints it: part of a load's cost
            closed = time.perf_counter() - started
            click.echo(f"{'a DuckDB file' if where != ':memory:' else 'memory'}: inserts {seconds:.2f} s, "
                       f"close {closed:.2f} s ({rows / (seconds + closed):,.0f} rows/s)")


if __name__ == "__main__":
    main()
