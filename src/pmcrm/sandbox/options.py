"""The sandbox's knobs: one frozen ``SandboxOptions``, validated here, and its CLI flags.

Every knob is off by default: a plain ``SandboxOptions()`` serves a quiet,
well-behaved API shaped like the spec, ``rows`` rows on every path (``shape="account"``
sizes and relates them like a real account instead: see ``shapes``). Two kinds of
knob: trouble to survive (latency, rate limits, faults, data moving while paging) and
the ways the real platform may differ from the spec (where the API lives, the page-size parameter,
the envelope's row count, the error and rate-limit answers, which filters work,
modules the key cannot use). ``pmcrm sandbox --help`` documents each flag;
``to_cli_args()`` gives them back for a child process.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields

from .catalog import load_catalog
from .data import DEFAULT_ROWS, resolve_row_counts
from .error_answers import ERROR_SHAPES, ERRORS, UNAVAILABLE_CODES
from .faults import FAULT_KINDS
from .gateway_limits import RATE_LIMIT_BODIES, RATE_LIMIT_WINDOWS, parse_shared
from .page_cache import TOTAL_FIELDS
from .shapes import SHAPES
from .url_forms import URL_FORMS

DEFAULT_API_KEY = "sandbox-demo-key"
CHOICES = {  # option -> its allowed values (the CLI offers the same)
    "shape": SHAPES,
    "total_field": TOTAL_FIELDS,
    "url_form": URL_FORMS,
    "error_shape": ERROR_SHAPES,
    "rate_limit_body": RATE_LIMIT_BODIES,
    "rate_limit_window": RATE_LIMIT_WINDOWS,
}
MAPPING_FLAGS = {"rows_per_resource": "--rows-for", "unavailable": "--unavailable"}  # repeatable NAME=N
RESERVED_PARAMS = ("api_key", "page")


def flag_for(name: str) -> str:
    """The command-line flag that sets the SandboxOptions field `name`."""
    return MAPPING_FLAGS.get(name, "--" + name.replace("_", "-"))


@dataclass(frozen=True)
class SandboxOptions:
    """How the sandbox behaves. Every knob is settable here and from the CLI."""

    seed: int = 0
    rows: int = DEFAULT_ROWS  # rows per path; with shape="account", rows of its largest resources
    rows_per_resource: Mapping[str, int] = field(default_factory=dict)  # by resource name or path
    shape: str = "uniform"  # "uniform": every path alike; "account": sized and related like a real account
    api_key: str = DEFAULT_API_KEY
    max_page_size: int = 100  # larger page sizes are clamped to it
    page_size_param: str = "limit"  # the query parameter read as page size; others are ignored
    default_page_size: int = 50  # page size without that parameter (clamped to max_page_size)
    total_field: str = "total"  # the envelope's row count: "total", "total_result" or "both"
    url_form: str = "spec"  # "spec": /v1/<module>/...; "platform": only /api/v1/module/<module>/...
    latency: float = 0.0  # seconds added to every API request (never blocks other requests)
    rate_limit: float = 0.0  # requests per second per key; 0 = unlimited
    rate_limit_window: str = "sliding"  # "sliding": a strict one-second window, as real gateways; "bucket": bursts allowed; "fixed": per clock second; "steady": no burst
    rate_limit_status: int = 429  # the HTTP status of a refusal
    rate_limit_body: str = "json"  # "json" (message and retry_after) or "string" (the platform's words)
    rate_limit_shared: str = ""  # "FROM-TO": another client on the key takes half the limit then (seconds after the first request)
    retry_after: bool = True  # send Retry-After with a refusal
    error_shape: str = "envelope"  # "envelope" ({"error": {"error_code", "error_msg"}}) or "string"
    unavailable: Mapping[str, int] = field(default_factory=dict)  # resource or path -> error 22, 30 or 31
    fault_rate: float = 0.0  # share of list requests that fail, 0..1
    fault_kinds: tuple[str, ...] = FAULT_KINDS  # which failures to draw from
    stall_seconds: float = 30.0  # how long a 'stall' fault holds the connection before closing it
    mutate_while_paging: float = 0.0  # share of a path's rows changed after each page served
    server_filter: bool = False  # accept updated_since=, sort=, filter[...]= and order_by[...][]=
    server_filter_ignored: bool = False  # accept them all, apply none (wins over server_filter)
    moved_to: str = ""  # "https://new.example": every API request answered 301 there, path and query kept
    host: str = "127.0.0.1"
    port: int = 0  # 0 = any free port

    def __post_init__(self) -> None:
        kinds = (self.fault_kinds,) if isinstance(self.fault_kinds, str) else tuple(self.fault_kinds)
        object.__setattr__(self, "fault_kinds", kinds)
        object.__setattr__(self, "rows_per_resource", dict(self.rows_per_resource))
        object.__setattr__(self, "unavailable", dict(self.unavailable))
        unknown = set(kinds) - set(FAULT_KINDS)
        problems = [
            (bool(unknown), f"unknown fault kinds {sorted(unknown)}; choose from {FAULT_KINDS}"),
            (not kinds and self.fault_rate > 0, "fault_rate needs at least one fault kind"),
            (not 0 <= self.fault_rate <= 1, "fault_rate must be between 0 and 1"),
            (not 0 <= self.mutate_while_paging <= 1, "mutate_while_paging must be between 0 and 1"),
            (self.rows < 0, "rows must be >= 0"),
            (self.max_page_size < 1, "max_page_size must be >= 1"),
            (self.default_page_size < 1, "default_page_size must be >= 1"),
            (not self.page_size_param or self.page_size_param in RESERVED_PARAMS,
             f"page_size_param must be a parameter name other than {' and '.join(RESERVED_PARAMS)}"),
            (self.latency < 0 or self.rate_limit < 0 or self.stall_seconds < 0,
             "latency, rate_limit and stall_seconds must be >= 0"),
            (self.rate_limit_window == "sliding" and self.rate_limit != int(self.rate_limit),
             "a sliding window counts whole requests: rate_limit must be a whole number"),
            (not 400 <= self.rate_limit_status <= 599, "rate_limit_status must be an HTTP error status (400-599)"),
            (not self.api_key, "api_key must not be empty"),
            (bool(self.moved_to) and not self.moved_to.startswith(("http://", "https://")),
             f"moved_to must be an http(s) URL, got {self.moved_to!r}"),
            *_shared_problems(self.rate_limit_shared),
            (bool(self.rate_limit_shared) and not self.rate_limit,
             "rate_limit_shared takes half of a limit: give rate_limit too"),
            *((getattr(self, name) not in allowed, f"{name} must be one of {', '.join(allowed)}, "
               f"got {getattr(self, name)!r}") for name, allowed in CHOICES.items()),
            *unavailable_problems(self.unavailable),
            *_row_count_problems(self.rows_per_resource),
        ]
        for failed, message in problems:
            if failed:
                raise ValueError(message)

    def to_cli_args(self) -> list[str]:
        """The command-line flags that give these options (for running it as a subprocess)."""
        args: list[str] = []
        for spec in fields(self):
            value, default = getattr(self, spec.name), _default_of(spec)
            flag = flag_for(spec.name)
            if spec.name in MAPPING_FLAGS:
                for name, number in value.items():
                    args += [flag, f"{name}={number}"]
            elif spec.name in ("host", "port"):  # the CLI's own defaults differ
                args += [flag, str(value)]
            elif value == default:
                continue
            elif spec.name == "fault_kinds":
                args += [flag, ",".join(value)]
            elif isinstance(value, bool):
                args.append(flag if value else "--no-" + flag[2:])
            else:
                args += [flag, str(value)]
        return args


def _shared_problems(shared: str) -> list[tuple[bool, str]]:
    try:
        parse_shared(shared)
    except ValueError as exc:
        return [(True, str(exc))]
    return []


def _row_count_problems(rows_per_resource: Mapping[str, int]) -> list[tuple[bool, str]]:
    """Known resources or paths only, one count per path: checked here so that a mistake
    is told before the server starts, not as a traceback when it builds its data."""
    try:
        resolve_row_counts(load_catalog(), {}, rows_per_resource)
    except KeyError as exc:
        return [(True, f"rows_per_resource: {exc.args[0]}")]
    except ValueError as exc:
        return [(True, f"rows_per_resource: {exc}")]
    return []


def unavailable_problems(unavailable: Mapping[str, int]) -> list[tuple[bool, str]]:
    """Known resources or paths only, each path with one code of UNAVAILABLE_CODES."""
    catalog, codes, problems = load_catalog(), {}, []
    allowed = ", ".join(f"{code} ({ERRORS[code][0].lower()})" for code in UNAVAILABLE_CODES)
    for name, code in unavailable.items():
        try:
            path = catalog.path_of(name)
        except KeyError:
            problems.append((True, f"unavailable: unknown resource or path {name!r}"))
            continue
        problems.append((code not in UNAVAILABLE_CODES,
                         f"unavailable: {name}={code}; the code must be one of {allowed}"))
        problems.append((codes.setdefault(path, code) != code, f"unavailable: two codes for {path}"))
    return problems


def _default_of(spec):
    return spec.default_factory() if callable(spec.default_factory) else spec.default
