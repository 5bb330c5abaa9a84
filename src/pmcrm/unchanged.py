"""A resource read in full whose rows are exactly the rows it loaded last time is not
loaded again. Why: the 10 resources without an update timestamp are read in full every
night, and dlt merged all of their rows every time, changed or not: on a quiet night that
was most of the load (benchmarks/README.md, "Fixed costs dlt paid on every sync").

The read cannot know before its end whether anything changed, so its typed tables are
held back until then, up to HOLD_BYTES per resource; past that, they go to dlt as they
come (as before) and only the fingerprint is kept for the next night.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import orjson
import pyarrow as pa

# Typed tables held back per resource while its read may still match the last load.
# 16 MB is ~30,000 rows of a wide resource; 10 such resources read at once hold 160 MB.
HOLD_BYTES = 16 * 2**20
_MASK = 2**64 - 1


class RowsFingerprint:
    """An order-free fingerprint of a read's raw rows: their count and the sum of each
    row's 64-bit hash (blake2b of its sorted JSON, salted with how rows are converted).
    The same rows give the same value whatever their order or pages; any row changed,
    added or gone gives another one (up to a 1 in 2^64 chance). None when a row cannot be
    hashed (an integer beyond 64 bits): such a read is always loaded."""

    def __init__(self, salt: str):
        self._salt = salt.encode()
        self._rows, self._sum, self._hashable = 0, 0, True

    def add(self, items: list) -> list:
        """Counts `items` in (a page-rows hook: the rows pass through unchanged)."""
        for item in items:
            try:
                content = orjson.dumps(item, option=orjson.OPT_SORT_KEYS)
            except (orjson.JSONEncodeError, TypeError):
                self._hashable = False
                continue
            digest = hashlib.blake2b(self._salt + content, digest_size=8).digest()
            self._sum = (self._sum + int.from_bytes(digest, "big")) & _MASK
        self._rows += len(items)
        return items

    def value(self) -> str | None:
        return f"{self._rows}:{self._sum:016x}" if self._hashable else None


class HeldTables:
    """Typed tables held back until the read ends (`release`), or handed on at once
    (`put` gives them back) when not holding or once HOLD_BYTES are held. What comes back
    is `handed_over`: each table leaves the list before the caller yields it on."""

    def __init__(self, holding: bool):
        self._tables: list[pa.Table] | None = [] if holding else None
        self._bytes = 0

    @property
    def holding(self) -> bool:
        return self._tables is not None

    def put(self, table: pa.Table) -> Iterator[pa.Table]:
        if self._tables is None:
            return handed_over([table])
        self._tables.append(table)
        self._bytes += table.nbytes
        return self.release() if self._bytes > HOLD_BYTES else handed_over([])

    def release(self) -> Iterator[pa.Table]:
        """Everything held, and no more holding."""
        tables, self._tables = self._tables or [], None
        return handed_over(tables)


STREAMED = HeldTables(holding=False)  # holds nothing, so one instance serves every read


def handed_over(tables: list[pa.Table]) -> Iterator[pa.Table]:
    """Each table yielded out of `tables`, taken out of the list first. Why: a resource's
    generator waits suspended at its yield until dlt asks for more, and a list or name
    still holding the table kept it alive all that while, after dlt had written it: at
    36 x 20,000 rows that was about 40 MB more at the peak (benchmarks/README.md)."""
    while tables:
        yield tables.pop(0)
