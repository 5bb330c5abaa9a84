"""The `pmcrm` command: a thin layer of commands over the library. Each command module
calls into `pmcrm` and prints through `pmcrm.cli.output`; nothing outside this package
imports it."""

from __future__ import annotations

import logging
from importlib.metadata import version

import click

from pmcrm.cli.check import check_command
from pmcrm.cli.dataset import report_command, views_command
from pmcrm.cli.demo import demo_command
from pmcrm.cli.resources import resources_command
from pmcrm.cli.sync import sync_command
from pmcrm.redact import install_log_redaction
from pmcrm.sandbox.command import sandbox_command


@click.group()
@click.version_option(version("pmcrm"), prog_name="pmcrm")
@click.option("--log-level", default="WARNING", show_default=True, help="Python log level (secrets are masked at every level).")
def main(log_level: str) -> None:
    """Sync a project-management + CRM platform's API into a database (via dlt).

    \b
    Example:
      pmcrm demo                               # sandbox API -> pmcrm_demo.duckdb
      pmcrm check --base-url https://acme.example.com/api/v1/module --api-key $KEY
      pmcrm sync --base-url https://acme.example.com/api/v1/module --api-key $KEY
    """
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    install_log_redaction()


for command in (sync_command, check_command, resources_command, demo_command, sandbox_command,
                views_command, report_command):
    main.add_command(command)
