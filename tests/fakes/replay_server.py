"""A small real HTTP server that answers with recorded response bodies, in
order per path, and can be told to fail first (429, 500, an error body)."""

from __future__ import annotations

import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


class ReplayServer:
    def __init__(self) -> None:
        self.answers: dict[str, deque[tuple[int, str, bytes]]] = {}
        self.requests: list[tuple[str, dict[str, list[str]]]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                server.requests.append((url.path, parse_qs(url.query)))
                queue = server.answers.get(url.path)
                status, ctype, body = queue.popleft() if queue else (404, "text/plain", b"no")
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def answer(
        self, path: str, body: bytes, status: int = 200, ctype: str = "application/json"
    ) -> None:
        self.answers.setdefault(path, deque()).append((status, ctype, body))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> ReplayServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
