"""The sandbox tests' two fixtures, made by one call each in the test module:

    api = sandbox_api(seed=4, rows=120, server_filter=True)  # a Sandbox with these knobs, per module
    client = sandbox_client()                                 # a keep-alive client of ``api``, per test

Factories rather than fixtures to import: a fixture imported by name and then taken as a
test's argument reads to linters as an unused import, redefined (F401, F811).
"""

from __future__ import annotations

import pytest

from pmcrm.sandbox import Sandbox, SandboxOptions
from pmcrm.sandbox.raw_client import SandboxClient


def sandbox_api(scope: str = "module", **knobs):
    """The fixture ``api``, shared by a module's tests (``scope="function"`` for tests that change the data)."""

    @pytest.fixture(scope=scope)
    def api():
        """A sandbox serving with the test module's knobs, in a background thread."""
        with Sandbox(SandboxOptions(**knobs)) as sandbox:
            yield sandbox

    return api


def sandbox_client():
    """The fixture ``client``, for a module that has ``api``."""

    @pytest.fixture()
    def client(api):
        """A fresh keep-alive ``SandboxClient`` of ``api``, with its key; closed after the test."""
        client = SandboxClient(api.base_url, api.api_key)
        yield client
        client.close()

    return client
