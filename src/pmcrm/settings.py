"""Where the base URL and the API key come from, in order of precedence.

1. the command line (`--base-url`, `--api-key`);
2. `PMCRM_BASE_URL` / `PMCRM_API_KEY`;
3. dlt's config and secrets: `[sources.pmcrm] base_url` in `.dlt/config.toml`,
   `api_key` in `.dlt/secrets.toml`, or `SOURCES__PMCRM__BASE_URL` / `SOURCES__PMCRM__API_KEY`.
"""

from __future__ import annotations

import os

import dlt

from pmcrm.errors import MissingSettingError
from pmcrm.redact import register_secret


def _from_dlt(key: str, secret: bool) -> str | None:
    provider = dlt.secrets if secret else dlt.config
    try:
        value = provider.get(f"sources.pmcrm.{key}")
    except Exception:  # noqa: BLE001 - a malformed toml must not hide the clearer error below
        value = None
    return str(value) if value else None


def _resolve(cli_value: str | None, env_var: str, key: str, secret: bool) -> str:
    value = cli_value or os.environ.get(env_var) or _from_dlt(key, secret)
    if not value:
        where = ".dlt/secrets.toml" if secret else ".dlt/config.toml"
        raise MissingSettingError(
            f"no {key.replace('_', ' ')}: pass --{key.replace('_', '-')}, set {env_var}, "
            f"or set {key} under [sources.pmcrm] in {where}"
        )
    return value


def resolve_base_url(cli_value: str | None) -> str:
    return _resolve(cli_value, "PMCRM_BASE_URL", "base_url", secret=False)


def resolve_api_key(cli_value: str | None) -> str:
    value = _resolve(cli_value, "PMCRM_API_KEY", "api_key", secret=True)
    register_secret(value)
    return value
