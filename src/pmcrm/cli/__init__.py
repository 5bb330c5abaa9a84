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
from pmcrm.cli.state import state_command
from pmcrm.cli.sync import sync_command
from pmcrm.redact import install_log_redaction
from pmcrm.sandbox.command import sandbox_command


def set_log_level(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    """The group sets the level (default WARNING); a command's own --log-level wins."""
    if value is None and ctx.parent is not None:
        return
    level = (value or "WARNING").upper()
    if level not in logging.getLevelNamesMapping():
        raise click.BadParameter(f"{value!r}: use DEBUG, INFO, WARNING or ERROR")
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", force=True)
    install_log_redaction()


LOG_LEVEL_HELP = "Python log level (secrets are masked at every level); before or after the command."


@click.group()
@click.version_option(version("pmcrm"), prog_name="pmcrm")
@click.option("--log-level", default=None, expose_value=False, callback=set_log_level, help=LOG_LEVEL_HELP)
def main() -> None:
    """Sync a project-management + CRM platform's API into a database (via dlt).

    \b
    Example:
      pmcrm demo                               # sandbox API -> pmcrm_demo.duckdb
      pmcrm check --base-url https://acme.example.com/api/v1/module --api-key $KEY
      pmcrm sync --base-url https://acme.example.com/api/v1/module --api-key $KEY
    """


for command in (sync_command, check_command, state_command, resources_command, demo_command, sandbox_command,
                views_command, report_command):
    # `pmcrm sync --log-level DEBUG` as well as `pmcrm --log-level DEBUG sync`.
    command.params.append(click.Option(["--log-level"], default=None, expose_value=False,
                                       callback=set_log_level, help=LOG_LEVEL_HELP))
    main.add_command(command)
