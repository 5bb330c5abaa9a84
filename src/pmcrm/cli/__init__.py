"""The `pmcrm` command: a thin layer of commands over the library. Each command module
calls into `pmcrm` and prints through `pmcrm.cli.output`; nothing outside this package
imports it."""

from __future__ import annotations

import importlib
import logging
from importlib.metadata import version

import click

from pmcrm.redact import install_log_redaction

# name -> (module, attribute): imported only when that command runs (LazyGroup).
COMMANDS = {
    "sync": ("pmcrm.cli.sync", "sync_command"),
    "check": ("pmcrm.cli.check", "check_command"),
    "state": ("pmcrm.cli.state", "state_command"),
    "resources": ("pmcrm.cli.resources", "resources_command"),
    "demo": ("pmcrm.cli.demo", "demo_command"),
    "sandbox": ("pmcrm.sandbox.command", "sandbox_command"),
    "views": ("pmcrm.cli.dataset", "views_command"),
    "report": ("pmcrm.cli.dataset", "report_command"),
}


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


class LazyGroup(click.Group):
    """A group that imports a command's module when the command is used (click's
    documented pattern). Why: `pmcrm sync` then skips the sandbox's web server (aiohttp)
    and the other commands' imports, about a quarter of its start-up."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands and name in COMMANDS:
            module, attribute = COMMANDS[name]
            command = getattr(importlib.import_module(module), attribute)
            # `pmcrm sync --log-level DEBUG` as well as `pmcrm --log-level DEBUG sync`.
            command.params.append(click.Option(["--log-level"], default=None, expose_value=False,
                                               callback=set_log_level, help=LOG_LEVEL_HELP))
            self.add_command(command, name)
        return self.commands.get(name)


@click.group(cls=LazyGroup)
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

