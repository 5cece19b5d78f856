"""Serve a trained model (a transformers directory) over the OpenAI chat API
on loopback, for evaluation where no vLLM runs (CPU, the embedded default):

    python -m kisa_tasks.evaluation.serve --model DIR --port 8011 --alias kisa-grpo

``POST /v1/chat/completions`` (messages, max_tokens, temperature, top_p,
seed, stop), ``GET /v1/models``, ``GET /health``. One generation at a time:
a CPU gains nothing from running two. In production, vLLM serves the same
directory with the same API (docker-compose's ``vllm`` service).

``served_model`` starts it as a child process group and stops exactly that.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

MAX_BODY = 4 * 1024 * 1024


@dataclass(frozen=True)
class Served:
    base_url: str
    model: str


class ChatModel:
    def __init__(self, model_dir: Path) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
        device = "cuda" if torch.cuda.is_available() else "cpu"
        model: Any = AutoModelForCausalLM.from_pretrained(str(model_dir), local_files_only=True)
        self.model: Any = model.to(device).eval()
        self.lock = threading.Lock()

    def complete(self, body: Mapping[str, Any]) -> dict[str, Any]:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise ValueError("'messages' must be a non-empty list")
        ids = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=True, return_dict=False
        )
        context = self.torch.tensor([list(ids)], device=self.model.device)
        temperature = float(body.get("temperature", 1.0))
        if body.get("seed") is not None:
            self.torch.manual_seed(int(body["seed"]))
        with self.lock, self.torch.no_grad():
            out = self.model.generate(
                input_ids=context,
                attention_mask=self.torch.ones_like(context),
                do_sample=temperature > 0,
                temperature=temperature if temperature > 0 else None,
                top_p=float(body.get("top_p", 1.0)),
                max_new_tokens=int(body.get("max_tokens") or 256),
                eos_token_id=self.tokenizer.eos_token_id,
                pad_token_id=self.tokenizer.pad_token_id,
            )
        new = out[0, context.shape[1] :].tolist()
        text = str(self.tokenizer.decode(new, skip_special_tokens=True))
        finish = "stop" if new and new[-1] == self.tokenizer.eos_token_id else "length"
        for stop in body.get("stop") or []:
            if stop in text:
                text, finish = text.split(stop, 1)[0], "stop"
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", ""),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": finish,
                }
            ],
            "usage": {
                "prompt_tokens": int(context.shape[1]),
                "completion_tokens": len(new),
                "total_tokens": int(context.shape[1]) + len(new),
            },
        }


def handler(chat: ChatModel, alias: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            sys.stderr.write(f"{self.address_string()} {format % args}\n")

        def _send(self, status: int, payload: Mapping[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/health":
                self._send(200, {"status": "ok"})
            elif self.path == "/v1/models":
                self._send(200, {"object": "list", "data": [{"id": alias, "object": "model"}]})
            else:
                self._send(404, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self) -> None:
            if self.path != "/v1/chat/completions":
                self._send(404, {"error": {"message": f"no route {self.path}"}})
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._send(413, {"error": {"message": "request too large"}})
                return
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
                self._send(200, chat.complete(body))
            except (ValueError, TypeError) as exc:
                self._send(400, {"error": {"message": str(exc), "type": "invalid_request_error"}})

    return Handler


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--alias", default="kisa-model")
    args = parser.parse_args()
    chat = ChatModel(args.model)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler(chat, args.alias))
    print(f"serving {args.alias} from {args.model} at http://127.0.0.1:{args.port}/v1", flush=True)
    server.serve_forever()


@contextmanager
def served_model(
    model_dir: Path, alias: str, log_dir: Path, timeout_s: float = 120.0
) -> Iterator[Served]:
    """The model behind a local OpenAI-compatible server for the ``with``
    block; the server's process group is stopped on exit."""
    from kisa_tasks.services.embedded import http_ok
    from kisa_tasks.services.process import free_port, spawn, stop_group, wait_until

    port = free_port()
    record = spawn(
        f"serve-{alias}",
        [
            sys.executable,
            "-m",
            "kisa_tasks.evaluation.serve",
            "--model",
            str(model_dir),
            "--port",
            str(port),
            "--alias",
            alias,
        ],
        log_path=log_dir / f"serve-{alias}-{port}.log",
        cwd=Path.cwd(),
        env=dict(os.environ),
        ports={"http": port},
    )
    try:
        wait_until(
            lambda: http_ok(f"http://127.0.0.1:{port}/health"), timeout_s=timeout_s, record=record
        )
        yield Served(f"http://127.0.0.1:{port}/v1", alias)
    finally:
        stop_group(record)


if __name__ == "__main__":
    main()
