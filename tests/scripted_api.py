"""A tiny scripted HTTP API for client tests: each request pops the next scripted answer.

The sandbox covers realistic traffic; this covers exact sequences (this error, then that).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


def envelope(items, total=None, page=1):
    total = len(items) if total is None else total
    return {"response": {"total": total, "page": page, "count": len(items), "items": items}}


def error(code, message="boom"):
    return {"error": {"error_code": code, "error_msg": message}}


class Answer:
    """One scripted answer: a JSON body or raw bytes, a status, headers, and misbehaviour."""

    def __init__(self, body=None, status=200, headers=None, raw=None, cut=False, stall=0.0):
        self.body, self.status, self.headers = body, status, headers or {}
        self.raw, self.cut, self.stall = raw, cut, stall


class ScriptedApi:
    def __init__(self):
        self.script: list[Answer] = []
        self.fallback: Answer | None = None
        self.requests: list[dict] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                url = urlparse(self.path)
                api.requests.append({"path": url.path, **{k: v[0] for k, v in parse_qs(url.query).items()}})
                answer = api.script.pop(0) if api.script else api.fallback
                if answer.stall:
                    time.sleep(answer.stall)
                payload = answer.raw if answer.raw is not None else json.dumps(answer.body).encode()
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if answer.cut:
                    self.wfile.write(payload[: len(payload) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def then(self, *answers: Answer) -> ScriptedApi:
        self.script.extend(answers)
        return self

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
