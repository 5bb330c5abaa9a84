"""Where the base URL and the API key come from, in order of precedence.

1. the command line (`--base-url`, `--api-key`);
2. `PMCRM_BASE_URL` / `PMCRM_API_KEY`;
3. dlt's config and secrets: `[sources.pmcrm] base_url` in `.dlt/config.toml`,
   `api_key` in `.dlt/secrets.toml`, or `SOURCES__PMCRM__BASE_URL` / `SOURCES__PMCRM__API_KEY`.
"""

from __future__ import annotations

import os

import dlt

from pmcrm.errors import PmcrmError
from pmcrm.redact import register_secret


class MissingSettingError(PmcrmError):
    exit_code = 2


def _from_dlt(key: str, secret: bool) -> str | None:
    provider = dlt.secrets if secret else dlt.config
    try:
        value = provider.get(f"sources.pmcrm.{key}")
    except Exception:  # a malformed toml must not hide the clearer error below
        value = None
    return str(value) if value else None


def resolve_base_url(cli_value: str | None) -> str:
    value = cli_value or os.environ.get("PMCRM_BASE_URL") or _from_dlt("base_url", secret=False)
    if not value:
        raise MissingSettingError(
            "no base URL: pass --base-url, set PMCRM_BASE_URL, or set base_url under "
            "[sources.pmcrm] in .dlt/config.toml"
        )
    return value


def resolve_api_key(cli_value: str | None) -> str:
    value = cli_value or os.environ.get("PMCRM_API_KEY") or _from_dlt("api_key", secret=True)
    if not value:
        raise MissingSettingError(
            "no API key: pass --api-key, set PMCRM_API_KEY, or set api_key under "
            "[sources.pmcrm] in .dlt/secrets.toml"
        )
    register_secret(value)
    return value
