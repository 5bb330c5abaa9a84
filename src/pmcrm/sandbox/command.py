"""``pmcrm sandbox``: serve the fake platform API in the foreground.

The first line of stdout is the base URL (flushed at once, so a parent process
can read it); the second says which API key to use. The key itself is printed
only when it is the documented default: a key given with ``--api-key`` is never
echoed.
"""

from __future__ import annotations

import re
import sys
from dataclasses import fields

import click

from .catalog import load_catalog
from .error_answers import ERRORS, UNAVAILABLE_CODES
from .faults import FAULT_KINDS
from .options import CHOICES, DEFAULT_API_KEY, SandboxOptions, flag_for

DEFAULTS = {spec.name: spec.default for spec in fields(SandboxOptions)}


# SandboxOptions' field names, longest first (rate_limit_shared before rate_limit); not
# api_key, which the messages also use for the query parameter of that name.
_FIELD_NAMES = re.compile(r"\b(" + "|".join(sorted(set(DEFAULTS) - {"api_key"}, key=len, reverse=True)) + r")\b")


def as_flags(message: str) -> str:
    """SandboxOptions' message, which names its fields (the library's words), in the
    command line's words: `rate_limit` -> `--rate-limit`, `rows_per_resource` -> `--rows-for`."""
    return _FIELD_NAMES.sub(lambda found: flag_for(found.group(1)), message)


def parse_pairs(ctx, param, values: tuple[str, ...]) -> dict[str, int]:
    """Repeated ``NAME=N`` flags as a dict (SandboxOptions checks the names and numbers)."""
    numbers: dict[str, int] = {}
    for item in values:
        name, _, number = item.partition("=")
        if not name or not number.isdigit():
            raise click.BadParameter(f"expected {param.metavar}, got {item!r}")
        numbers[name] = int(number)
    return numbers


def choice(name: str, description: str):
    """A flag whose values are the option's CHOICES, with the option's default."""
    return click.option(flag_for(name), default=DEFAULTS[name], show_default=True,
                        type=click.Choice(CHOICES[name]), help=description)


def parse_fault_kinds(ctx, param, value: str) -> tuple[str, ...]:
    kinds = tuple(k.strip() for k in value.split(",") if k.strip())
    unknown = set(kinds) - set(FAULT_KINDS)
    if unknown:
        raise click.BadParameter(f"unknown {sorted(unknown)}; choose from {', '.join(FAULT_KINDS)}")
    return kinds


@click.command("sandbox")
@click.option("--host", default=DEFAULTS["host"], show_default=True, help="Address to bind (keep it on loopback: over plain http, a sync from another machine needs --allow-http).")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="0 picks a free port.")
@click.option("--seed", default=DEFAULTS["seed"], show_default=True, type=int, help="Same seed, same data.")
@click.option("--rows", default=DEFAULTS["rows"], show_default=True, type=click.IntRange(0),
              help="Rows per path (--shape account: rows of the largest resources).")
@click.option("--rows-for", "rows_per_resource", multiple=True, metavar="RESOURCE=N", callback=parse_pairs,
              help="Rows for one resource (name or path); repeatable.")
@choice("shape", "uniform: every path --rows rows, values drawn independently; account: sized and related "
                 "like a real account (a few pipelines, hundreds of customers, leads in a funnel, one main "
                 "currency, three years of history up to the data's end).")
@click.option("--api-key", default=None, help="The key clients must send [default: the documented demo key].")
@click.option("--max-page-size", default=DEFAULTS["max_page_size"], show_default=True, type=click.IntRange(1),
              help="Larger page sizes are clamped to this.")
@click.option("--page-size-param", default=DEFAULTS["page_size_param"], show_default=True,
              help="The query parameter read as page size; any other is ignored (one client sends 'count').")
@click.option("--default-page-size", default=DEFAULTS["default_page_size"], show_default=True,
              type=click.IntRange(1), help="Page size when the request has no page-size parameter.")
@choice("total_field", "The envelope's row count key: total, total_result, or both.")
@choice("url_form", "spec: /v1/<module>/<entity>/list; platform: only /api/v1/module/<module>/<entity>/list, "
                    "anything else an HTML 404.")
@click.option("--latency", default=DEFAULTS["latency"], show_default=True, type=click.FloatRange(0),
              help="Seconds added to each request.")
@click.option("--rate-limit", default=DEFAULTS["rate_limit"], show_default=True, type=click.FloatRange(0),
              help="Requests per second per key before a refusal, HTTP 429 by default (0: unlimited).")
@choice("rate_limit_window", "bucket: bursts of one second's worth; sliding: at most --rate-limit requests "
                             "in any one second; fixed: at most --rate-limit in each second of the clock; "
                             "steady: no burst, one request per 1/--rate-limit seconds.")
@click.option("--rate-limit-status", default=DEFAULTS["rate_limit_status"], show_default=True,
              type=click.IntRange(400, 599), help="HTTP status of a rate-limit refusal.")
@choice("rate_limit_body", 'json: {"message", "retry_after"}; string: {"error": "Request rate per second exceeded"}.')
@click.option("--rate-limit-shared", default=DEFAULTS["rate_limit_shared"], metavar="FROM-TO",
              help="Another client on the same key takes half of --rate-limit from FROM to TO seconds "
                   "after the first request (e.g. 10-40).")
@click.option("--retry-after/--no-retry-after", default=DEFAULTS["retry_after"], show_default=True,
              help="Send Retry-After (whole seconds) with a rate-limit refusal.")
@choice("error_shape", 'envelope: {"error": {"error_code", "error_msg"}}; '
                       'string: {"error": "<word>", "description", "details"}.')
@click.option("--unavailable", multiple=True, metavar="RESOURCE=CODE", callback=parse_pairs,
              help="Make a resource (name or path) answer error CODE to every list request: "
                   + ", ".join(f"{code} {ERRORS[code][0].lower()}" for code in UNAVAILABLE_CODES) + "; repeatable.")
@click.option("--fault-rate", default=DEFAULTS["fault_rate"], show_default=True, type=click.FloatRange(0, 1),
              help="Share of list requests that fail.")
@click.option("--fault-kinds", default=",".join(FAULT_KINDS), show_default=True, callback=parse_fault_kinds,
              help="Comma-separated failures to draw from.")
@click.option("--stall-seconds", default=DEFAULTS["stall_seconds"], show_default=True, type=click.FloatRange(0),
              help="How long a 'stall' fault holds the connection.")
@click.option("--mutate-while-paging", default=DEFAULTS["mutate_while_paging"], show_default=True,
              type=click.FloatRange(0, 1), help="Share of a path's rows changed after each page served.")
@click.option("--server-filter/--no-server-filter", default=DEFAULTS["server_filter"], show_default=True,
              help="Accept updated_since=, sort=, filter[<field>]= and order_by[asc|desc][]= on list requests.")
@click.option("--server-filter-ignored/--no-server-filter-ignored", default=DEFAULTS["server_filter_ignored"],
              show_default=True, help="Accept every filter and sort parameter without error, apply none.")
@click.option("--moved-to", default=DEFAULTS["moved_to"], metavar="URL",
              help="Answer every API request HTTP 301 to URL plus its path and query (the key too), as a "
                   "platform that moved to another address (http to https, a new domain) would.")
def sandbox_command(api_key: str | None, **knobs) -> None:
    """Serve a fast, faithful fake of the platform's REST API on loopback.

    Prints the base URL on the first line. Without --api-key it uses the demo key and
    prints it on the second line.

    \b
    Example:
      pmcrm sandbox --port 8080 --rows 1000 --api-key "$PMCRM_API_KEY"
      pmcrm sandbox --shape account --rows 3000
      pmcrm sandbox --port 0 --fault-rate 0.1 --fault-kinds http500,cut --server-filter
      pmcrm sandbox --url-form platform --page-size-param count --unavailable lead=22
    """
    from .server import serve_forever  # aiohttp loads only when serving

    try:
        options = SandboxOptions(api_key=api_key or DEFAULT_API_KEY, **knobs)
    except ValueError as problem:
        raise click.UsageError(as_flags(str(problem))) from problem

    def announce(base_url: str) -> None:
        click.echo(base_url)
        if api_key is None:
            click.echo(f"api key: {DEFAULT_API_KEY} (the default; choose your own with --api-key)")
        else:
            click.echo("api key: the one given with --api-key")
        sys.stdout.flush()
        catalog = load_catalog()
        size = f"{options.rows} rows per path" if options.shape == "uniform" else \
            f"shaped like an account, {options.rows} rows in its largest paths"
        click.echo(f"serving {len(catalog.resources)} resources on {len(catalog.paths)} paths, "
                   f"{size}, seed {options.seed}; Ctrl+C stops", err=True)

    serve_forever(options, announce)
