"""Where the API lives: the base URL a user pastes, turned into the URLs pmcrm calls.

The declarations write paths as the spec did, `/v1/task/tasks/list`, under a bare host.
The platform's docs, and every other tool, write the base as
`https://<company>.<host>/api/v1/module` and the paths as `/task/tasks/list`: the same
endpoint with `/api` before the version and a `module` segment after it. A user pastes
whichever they saw, so any of these is accepted:

    https://acme.example.com                      -> forms tried in order (below)
    https://acme.example.com/api                  -> the same, under /api
    https://acme.example.com/api/v1               -> prefix '' or 'module'
    https://acme.example.com/api/v1/module        -> exactly that
    https://acme.example.com/api/v1/module/task/tasks/list   (a whole endpoint URL)

When the URL leaves the form open, `candidate_locations` lists the forms to try, the
spec's first; the client keeps the first one the API answers on (pmcrm.client). A
`--path-prefix` given by the user is never second-guessed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from pmcrm.errors import SettingsError

VERSION = "v1"
PLATFORM_PREFIX = "module"  # the segment the platform's docs put between version and module
API_SEGMENT = "api"


@dataclass(frozen=True)
class ApiLocation:
    """A root (everything before `/v1`) and the segment between `/v1` and the module."""

    root: str
    prefix: str = ""

    def path(self, spec_path: str) -> str:
        """'/v1/task/tasks/list' -> '/v1/<prefix>/task/tasks/list' (prefix may be '')."""
        version, rest = spec_path.lstrip("/").split("/", 1)
        middle = f"/{self.prefix}" if self.prefix else ""
        return f"/{version}{middle}/{rest}"

    def url(self, spec_path: str) -> str:
        return self.root + self.path(spec_path)

    @property
    def base_url(self) -> str:
        """The base URL in the platform docs' form: what to paste next time."""
        return self.url(f"/{VERSION}/x").rsplit("/x", 1)[0]


def split_base_url(base_url: str) -> tuple[str, list[str]]:
    """`scheme://host[:port]` and the path's segments; a settings error for a URL that
    is not http(s) (a missing scheme would fail later as 'No connection adapters')."""
    text = base_url.strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(
            f"base URL {text!r} is not an http(s) URL: add http:// or https://, "
            "e.g. https://acme.example.com/api/v1/module"
        )
    origin = urlunsplit((parts.scheme, parts.netloc, "", "", ""))
    return origin, [segment for segment in parts.path.split("/") if segment]


def require_encryption(base_url: str, allow_http: bool = False) -> None:
    """Refuse a plain http:// base URL to another machine, before any request. Why: the
    key travels in every request's query, so over plain http anyone on the network path
    reads it - and a redirect to https (refused anyway: pmcrm.transport) comes only after
    the first request has sent it. This machine (the sandbox, an SSH tunnel) is exempt;
    `allow_http` is the user saying the network is trusted."""
    if allow_http or not crosses_network_unencrypted(base_url):
        return
    parts = urlsplit(base_url.strip())
    secure = urlunsplit(("https", parts.netloc, parts.path, "", ""))
    raise SettingsError(
        f"base URL {base_url.strip()!r} is plain http: the API key travels in every request's query "
        f"and would cross the network unencrypted. Use {secure} (the platform serves https), "
        "or --allow-http for an API on a network you trust"
    )


def crosses_network_unencrypted(base_url: str) -> bool:
    """Plain http to a host other than this machine."""
    parts = urlsplit(base_url.strip())
    return parts.scheme == "http" and not _is_this_machine(parts.hostname or "")


def _is_this_machine(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def candidate_locations(base_url: str, path_prefix: str = "", endpoint_tails: Iterable[str] = ()) -> list[ApiLocation]:
    """Every form of `base_url` worth trying, most likely first (module docstring).
    `endpoint_tails` are the declared paths after `/v1/` ('task/tasks/list', ...): a
    pasted endpoint URL is cut back to its base."""
    origin, segments = split_base_url(base_url)
    segments = _without_endpoint(segments, endpoint_tails)
    explicit = path_prefix.strip("/")
    if VERSION in segments:
        at = segments.index(VERSION)
        root = _join(origin, segments[:at])
        after = "/".join(segments[at + 1:])
        prefixes = [explicit or after] if explicit or after else ["", PLATFORM_PREFIX]
        return [ApiLocation(root, prefix) for prefix in prefixes]
    roots = [_join(origin, segments)]
    if not segments or segments[-1] != API_SEGMENT:
        roots.append(_join(origin, [*segments, API_SEGMENT]))
    prefixes = [explicit] if explicit else ["", PLATFORM_PREFIX]
    return [ApiLocation(root, prefix) for root in roots for prefix in prefixes]


def _without_endpoint(segments: list[str], tails: Iterable[str]) -> list[str]:
    for tail in tails:
        tail_segments = tail.split("/")
        if len(segments) > len(tail_segments) and segments[-len(tail_segments):] == tail_segments:
            return segments[: -len(tail_segments)]
    return segments


def _join(origin: str, segments: list[str]) -> str:
    return origin + "".join(f"/{segment}" for segment in segments)
