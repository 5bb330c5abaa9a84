"""One sync per pipeline at a time: a lock file keyed by pipeline name.

Two overlapping runs of the same pipeline (a slow cron run and the next one) would share
dlt's local state and load packages and could move a cursor past data the other has not
loaded. The lock is an OS file lock (`filelock`, i.e. flock on Unix): the kernel releases
it when the holder exits, even on kill -9, so a crash never leaves a stale lock behind.
The file sits beside the pipeline's folder, not in it: a failed run drops that folder.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dlt.common.pipeline import get_dlt_pipelines_dir
from filelock import FileLock, Timeout

from pmcrm.errors import LockHeldError


def lock_path(pipeline_name: str, pipelines_dir: str | None = None) -> Path:
    return Path(pipelines_dir or get_dlt_pipelines_dir()) / f".{pipeline_name}.pmcrm.lock"


@contextmanager
def pipeline_lock(pipeline_name: str, pipelines_dir: str | None = None) -> Iterator[Path]:
    """Hold the pipeline's lock for the block, or raise LockHeldError at once (no waiting)."""
    path = lock_path(pipeline_name, pipelines_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(path, timeout=0, preserve_lock_file=True)  # unlinking races a late opener
    try:
        lock.acquire()
    except Timeout:
        raise LockHeldError(
            f"another pmcrm sync of pipeline '{pipeline_name}' is running (lock {path}); "
            "this run did nothing. Runs of one pipeline must not overlap: space the "
            "schedule out, or give a second schedule its own --pipeline-name."
        ) from None
    try:
        yield path
    finally:
        lock.release()
