"""Where the API lives: at the spec's paths, or under the platform's ``/api/v1/module``.

The spec writes ``/v1/task/tasks/list`` under a bare host; the platform's docs and
every other client write the base URL ``https://<company>.<host>/api/v1/module`` and
the path ``/task/tasks/list``. With ``url_form="platform"`` only the second works and
anything else gets the web server's HTML 404, as a wrong URL does on the platform.
Inside the sandbox, paths are always the spec's (``/v1/...``): stats key on them.
"""

from __future__ import annotations

URL_FORMS = ("spec", "platform")
SPEC_PREFIX = "/v1"
PLATFORM_PREFIX = "/api/v1/module"
NOT_FOUND_HTML = ("<html><head><title>404 Not Found</title></head>"
                  "<body><center><h1>404 Not Found</h1></center><hr><center>nginx</center></body></html>")


def spec_path(request_path: str, url_form: str) -> str | None:
    """The spec path a request path stands for, or None when the URL is not the API's."""
    if url_form == "spec":
        return request_path
    if request_path.startswith(PLATFORM_PREFIX + "/"):
        return SPEC_PREFIX + request_path[len(PLATFORM_PREFIX):]
    return None


def api_url(base_url: str, url_form: str) -> str:
    """The base URL a user would paste: paths like ``/v1/task/tasks/list`` (spec) or
    ``/task/tasks/list`` (platform) are appended to it."""
    return base_url + (PLATFORM_PREFIX if url_form == "platform" else "")
