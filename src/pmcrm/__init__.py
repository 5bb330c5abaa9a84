"""pmcrm: sync a project-management + CRM platform's 36 resources into any dlt destination.

    from pmcrm import SyncRequest, ReadOptions, run_sync

    result = run_sync(SyncRequest(base_url="https://acme.example.com/api/v1/module", api_key=key,
                                  read=ReadOptions(timezone="Europe/Berlin")))
    result.raise_for_failure()  # or read result.ok / result.exit_code

`run_sync` keeps every guarantee of `pmcrm sync`; `pmcrm_source` is the bare dlt source
for people who compose their own pipeline (README: "As a library").
"""

from typing import Any

from pmcrm.declarations import RESOURCES, ResourceSpec

# name -> the module that defines it. Lazy: importing dlt takes ~1 s, which
# `pmcrm.sandbox` (a separate process in tests and benchmarks) does not need.
_EXPORTS = {
    "run_sync": "pmcrm.pipeline",
    "SyncRequest": "pmcrm.pipeline",
    "SyncResult": "pmcrm.runs",
    "ReadOptions": "pmcrm.source",
    "RunRecord": "pmcrm.source",
    "pmcrm_source": "pmcrm.source",
    "HttpSettings": "pmcrm.transport",
    "Target": "pmcrm.destinations",
    "diagnose": "pmcrm.diagnose",
}

__all__ = ["RESOURCES", "ResourceSpec", *_EXPORTS]  # noqa: PLE0604 - the names _EXPORTS loads lazily


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'pmcrm' has no attribute {name!r}")
