"""A small real OpenAI-compatible server that fails on demand (429, 500, slow,
broken JSON), for the fault tests a real model server cannot be made to do."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeOpenAI:
    def __init__(self) -> None:
        self.script: deque[tuple[str, Any]] = deque()
        # Answers chosen from the request (concurrent callers make a script's
        # order meaningless): body -> (kind, arg) as in ``script``.
        self.responder: Callable[[dict[str, Any]], tuple[str, Any]] | None = None
        self.default_answer = '{"entities": []}'
        # What GET /v1/models lists: cards as a server writes them.
        self.models: list[dict[str, Any]] = []
        self.latency_s = 0.0  # added to every answer (a model that takes its time)
        self.requests: list[dict[str, Any]] = []
        self.request_times: list[float] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models") and server.models:
                    self._send(200, {"object": "list", "data": server.models})
                else:
                    self._send(404, {"error": {"message": "not found", "type": "x"}})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server._lock:
                    server.requests.append(body)
                    server.request_times.append(time.monotonic())
                    if server.script:
                        kind, arg = server.script.popleft()
                    elif server.responder is not None:
                        kind, arg = server.responder(body)
                    else:
                        kind, arg = ("ok", None)
                if kind == "status":
                    self._send(arg, {"error": {"message": f"injected {arg}", "type": "x"}})
                    return
                if kind == "error":  # (status, the server's message)
                    status, text = arg
                    self._send(status, {"error": {"message": text, "type": "BadRequestError"}})
                    return
                if kind == "retry_after":  # (status, the Retry-After header's value)
                    status, wait = arg
                    error = {"error": {"message": f"injected {status}", "type": "x"}}
                    self._send(status, error, {"Retry-After": wait})
                    return
                if server.latency_s:
                    time.sleep(server.latency_s)
                if kind == "slow":
                    time.sleep(arg)
                answer = arg if kind == "answer" else server.default_answer
                # ("message", {"content": ..., "tool_calls": [...]}): a native tool-call reply
                message = (
                    {"role": "assistant", **arg}
                    if kind == "message"
                    else {"role": "assistant", "content": answer}
                )
                self._send(
                    200,
                    {
                        "id": "chatcmpl-1",
                        "object": "chat.completion",
                        "created": 0,
                        "model": body.get("model", "fake"),
                        "choices": [
                            {
                                "index": 0,
                                "message": message,
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {"prompt_tokens": 11, "completion_tokens": 5, "total_tokens": 16},
                    },
                )

            def _send(
                self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
            ) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except BrokenPipeError:
                    pass  # the client gave up (timeout test)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
