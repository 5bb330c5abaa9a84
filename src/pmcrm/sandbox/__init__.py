"""A fast, faithful fake of the platform's REST API, for the demo, the tests and the benchmarks.

    from pmcrm.sandbox import Sandbox, SandboxOptions

    with Sandbox(SandboxOptions(rows=200, fault_rate=0.1)) as sandbox:
        ...  # point the connector at sandbox.api_url with sandbox.api_key
        assert rows_loaded == sandbox.truth("tasks")

Written from ``catalog.json`` alone, never from the connector's declarations.
"""

from .data import FOREIGN_KEYS, Dataset
from .faults import FAULT_KINDS
from .options import DEFAULT_API_KEY, SandboxOptions
from .server import Sandbox, SandboxProcess

__all__ = ["DEFAULT_API_KEY", "FAULT_KINDS", "FOREIGN_KEYS", "Dataset", "Sandbox", "SandboxOptions",
           "SandboxProcess"]
