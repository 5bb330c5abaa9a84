"""pmcrm: sync a project-management + CRM platform's 36 resources into any dlt destination."""

from typing import Any

from pmcrm.declarations import RESOURCES, ResourceSpec

__all__ = ["RESOURCES", "ResourceSpec", "pmcrm_source"]


def __getattr__(name: str) -> Any:
    # Lazy: importing dlt takes ~1 s, which `pmcrm.sandbox` (a separate process in
    # tests and benchmarks) does not need.
    if name == "pmcrm_source":
        from pmcrm.source import pmcrm_source

        return pmcrm_source
    raise AttributeError(f"module 'pmcrm' has no attribute {name!r}")
