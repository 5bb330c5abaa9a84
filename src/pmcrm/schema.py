"""Column types: how each declared column kind becomes a dlt column and an arrow type.

Decisions, in one place:
- integer: ids, counts, flags, enums -> bigint (int64).
- decimal: money and quantities -> decimal(DECIMAL_PRECISION, DECIMAL_SCALE). Exact sums
  matter in finance reports; the API sends at most 4 decimals (exchange rates).
- timestamp: the API sends 'YYYY-MM-DD HH:MM:SS' with no zone. We read it in the
  account's time zone (option `timezone`, default UTC) and store UTC-aware timestamps.
  '' and '0000-00-00 00:00:00' (PHP's "no date") become NULL.
- text: everything else, and every field the declarations do not know (custom fields).
A value that does not fit its column keeps NULL there and is preserved as text in a
variant column `<column>__v_text` (dlt's own naming), so no value is silently lost.
"""

from __future__ import annotations

import pyarrow as pa

from pmcrm.declarations import ColumnKind

DECIMAL_PRECISION = 24
DECIMAL_SCALE = 6
VARIANT_SUFFIX = "__v_text"

# The catalog's vendor-neutral names (kept as the API's with `--keep-api-names`).
NEUTRAL_NAMES: dict[str, str] = {
    "crm_account_id": "customer_id",
    "crm_company_id": "customer_id",
}

def arrow_type(kind: ColumnKind) -> pa.DataType:
    return {
        "integer": pa.int64(),
        "decimal": pa.decimal128(DECIMAL_PRECISION, DECIMAL_SCALE),
        "timestamp": pa.timestamp("us", tz="UTC"),
        "text": pa.string(),
    }[kind]


def column_name(field: str, neutral_names: bool) -> str:
    """The destination column for an API field."""
    return NEUTRAL_NAMES.get(field, field) if neutral_names else field
