"""The baseline: the platform's published dlt configuration, run with dlt's generic
`rest_api_source` and dlt's defaults.

The spec's config (one `page_number` paginator per resource, `response.items`, merge on
`id`, the key in the query) does not run on dlt 1.31 as written; the smallest changes
that make it run, and nothing more:
- `limit` / `limit_param` move into the endpoint's `params` (the page-number paginator
  has no limit); `base_page: 1` (its default is 0); `total_path: response.total`
  (its default is a top-level `total`). dlt reads that total as a number of pages, so
  it stops after the first empty page, one request late per resource.
- `st_projects_users` and `pipeline` are loaded with `replace` and no key: their `id`
  may be null, and merging on it fails the load (NOT NULL constraint).
The 36 names, paths and page sizes are the spec's (pmcrm's declarations carry the same
table; `benchmarks/README.md` says how that was checked).
"""

from __future__ import annotations

from typing import Any

from dlt.sources.rest_api import rest_api_source

from pmcrm.declarations import RESOURCES


def spec_config(base_url: str, api_key: str) -> dict[str, Any]:
    return {
        "client": {
            "base_url": base_url,
            "auth": {"type": "api_key", "name": "api_key", "api_key": api_key, "location": "query"},
        },
        "resource_defaults": {"primary_key": "id", "write_disposition": "merge"},
        "resources": [
            {
                "name": spec.name,
                "endpoint": {
                    "path": spec.path,
                    "data_selector": "response.items",
                    "params": {"limit": spec.page_size},
                    "paginator": {
                        "type": "page_number",
                        "page_param": "page",
                        "base_page": 1,
                        "total_path": "response.total",
                    },
                },
                **({} if spec.id_required else {"primary_key": [], "write_disposition": "replace"}),
            }
            for spec in RESOURCES
        ],
    }


def baseline_source(base_url: str, api_key: str):
    return rest_api_source(spec_config(base_url, api_key))
