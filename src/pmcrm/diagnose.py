"""`pmcrm check`: what an account's API answers, resource by resource, before a first sync.

One request for `tasks` first (the module every account has, whichever apps it enabled):
it settles the URL form (pmcrm.urls) and proves the key. Then page 1 of every other
resource, a few at a time. Each resource is available, unavailable (and why), or failing;
its announced rows and the page size the server actually serves are shown, with the
flags worth setting.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from pmcrm.client import ApiClient
from pmcrm.declarations import RESOURCES_BY_NAME, ResourceSpec
from pmcrm.errors import AuthError, PmcrmError, UnavailableError
from pmcrm.pages import served_page_size
from pmcrm.redact import MASK, redact
from pmcrm.source import endpoint_tails, select_resources
from pmcrm.transport import HttpSettings
from pmcrm.urls import crosses_network_unencrypted

PROBE_RESOURCE = "tasks"
CHECK_CONCURRENCY = 6
# What `status` says for each way a resource can be unavailable.
UNAVAILABLE_STATUS = {22: "no access", 30: "no access or module off", 31: "module not enabled", 404: "not found"}


@dataclass
class ResourceCheck:
    resource: str
    status: str  # available | no access | ... (UNAVAILABLE_STATUS) | error | not checked
    rows: int | None = None  # rows the API announced
    page_size: int | None = None  # rows per page the server serves, when page 1 shows it
    detail: str = ""


@dataclass
class Diagnosis:
    url_called: str  # the first request, key masked
    base_url: str  # where the API answered, in the platform docs' form
    key_accepted: bool | None  # None: nothing answered far enough to tell
    resources: list[ResourceCheck] = field(default_factory=list)
    recommendations: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def readable(self) -> list[str]:
        return [check.resource for check in self.resources if check.status == "available"]

    @property
    def exit_code(self) -> int:
        """0: the key works and something is readable; 2: the key was refused; 1: else."""
        if self.key_accepted is False:
            return 2
        return 0 if self.readable else 1

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "exit_code": self.exit_code}


def diagnose(base_url: str, api_key: str, path_prefix: str = "", resources: Sequence[str] | None = None,
             timeout: float = 15.0, allow_http: bool = False) -> Diagnosis:
    """Ask every selected resource (default all) for its first page; never raises for
    what the API answers, only for bad settings (a malformed base URL)."""
    client = ApiClient(base_url, api_key, HttpSettings(timeout=timeout, max_attempts=2, jitter=0.2,
                                                       concurrency=CHECK_CONCURRENCY, allow_http=allow_http),
                       path_prefix=path_prefix, endpoint_tails=endpoint_tails())
    probe = RESOURCES_BY_NAME[PROBE_RESOURCE]
    first = _check(client, probe)
    location = client.location
    diagnosis = Diagnosis(
        url_called=f"{location.url(probe.path)}?api_key={MASK}&page=1&limit={probe.page_size}",
        base_url=location.base_url,
        key_accepted=_key_accepted(first, client),
    )
    if diagnosis.key_accepted is False or (first.status == "error" and client.locations.settled is None):
        # A refused key, or nothing answering at all: asking 35 more resources tells nothing new.
        diagnosis.resources = [first]
        diagnosis.error = first.detail if diagnosis.key_accepted is False else f"no resource answered: {first.detail}"
        return diagnosis
    others = [spec for spec in select_resources(resources) if spec.name != PROBE_RESOURCE]
    with ThreadPoolExecutor(CHECK_CONCURRENCY, thread_name_prefix="pmcrm-check") as pool:
        checks = list(pool.map(lambda spec: _check(client, spec), others))
    wanted = set(resources or RESOURCES_BY_NAME)
    diagnosis.resources = [check for check in [first, *checks] if check.resource in wanted]
    if diagnosis.key_accepted is None and any(c.status == "available" for c in checks):
        diagnosis.key_accepted = True
    diagnosis.recommendations = _recommendations(diagnosis, client, base_url)
    if not diagnosis.readable:
        diagnosis.error = _nothing_readable(diagnosis, client)
    return diagnosis


def _check(client: ApiClient, spec: ResourceSpec) -> ResourceCheck:
    try:
        page = client.fetch_page(spec.name, spec.path, 1, spec.page_size)
    except UnavailableError as exc:
        return ResourceCheck(spec.name, UNAVAILABLE_STATUS.get(exc.code, "unavailable"), detail=exc.reason)
    except AuthError as exc:
        return ResourceCheck(spec.name, "key refused", detail=str(exc))
    except PmcrmError as exc:
        return ResourceCheck(spec.name, "error", detail=str(exc))
    return ResourceCheck(spec.name, "available", page.total, served_page_size(page, spec.page_size))


def _key_accepted(first: ResourceCheck, client: ApiClient) -> bool | None:
    if first.status == "key refused":
        return False
    if first.status == "available" or client.locations.settled is not None:
        return True
    return None


def _recommendations(diagnosis: Diagnosis, client: ApiClient, given_url: str) -> list[str]:
    advice = []
    settled = client.locations.settled
    if settled is not None and len(client.locations.candidates) > 1 and settled.base_url != given_url.rstrip("/"):
        advice.append(f"--base-url {settled.base_url}   (the API answered there; no need to try other forms)")
    if crosses_network_unencrypted(given_url):
        advice.append("--allow-http   (`pmcrm sync` needs it too for plain http to another machine; "
                      "https keeps the key off the wire)")
    sizes = sorted({(c.page_size, RESOURCES_BY_NAME[c.resource].page_size) for c in diagnosis.resources
                    if c.page_size is not None and c.page_size != RESOURCES_BY_NAME[c.resource].page_size})
    for served, asked in sizes:
        advice.append(f"page size: the API serves {served} rows per page where {asked} were asked; "
                      "pmcrm plans its pages with the server's size (nothing to set)")
    limited = {reason: n for reason, n in client.stats.retries.items() if "429" in reason or "rate" in reason}
    if limited:
        rate = client.limiter.suggested_rate or 1
        advice.append(f"--rate-limit {rate}   (the API limited the check's requests: {sum(limited.values())} answers)")
    unavailable = [c.resource for c in diagnosis.resources if c.status in UNAVAILABLE_STATUS.values()]
    if unavailable and diagnosis.readable:
        advice.append(f"{len(unavailable)} resource(s) unavailable to this key will be skipped by `pmcrm sync` "
                      "(named in its summary); --strict makes them fail the run")
    return advice


def _nothing_readable(diagnosis: Diagnosis, client: ApiClient) -> str:
    statuses = {c.status for c in diagnosis.resources}
    if statuses <= {"not found", "module not enabled", "no access or module off"}:
        tried = ", ".join(location.base_url for location in client.locations.candidates)
        return redact(f"every resource answered 'not found' or 'unknown module': the base URL is probably not "
                      f"the API's. Use the one from the platform's API docs, like "
                      f"https://<company>.<platform host>/api/v1/module (tried: {tried})")
    failing = next((c.detail for c in diagnosis.resources if c.status == "error"), "")
    if statuses == {"error"}:
        return redact(f"no resource answered: {failing}")
    return redact(f"no resource is readable with this key{': ' + failing if failing else ''}")
