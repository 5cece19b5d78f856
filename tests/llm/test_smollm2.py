"""The real LLM path: the shared client against the embedded SmolLM2 server."""

from __future__ import annotations

import asyncio
from pathlib import Path

from kisa_tasks.llm.client import Sampling, client_from_settings
from kisa_tasks.services import ServiceManager
from kisa_tasks.services.llm_server import SmolLM2Server
from kisa_tasks.services.process import ProcessRecord, is_loopback, listening, port_is_free
from kisa_tasks.settings import load_settings

SCHEMA = {
    "type": "object",
    "properties": {"entities": {"type": "array", "items": {"type": "string"}, "maxItems": 5}},
    "required": ["entities"],
}


def test_client_gets_schema_valid_json_from_the_embedded_model(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path)
    manager = ServiceManager(settings, [SmolLM2Server(settings)])
    try:
        manager.up(["llm"])
        settings = load_settings(home=tmp_path)
        assert settings.llm.model == "smollm2"
        client = client_from_settings(settings)
        messages = [
            {"role": "system", "content": "Extract drug names. Answer in JSON."},
            {"role": "user", "content": "Aspirin and warfarin were compared in stroke."},
        ]
        sampling = Sampling(max_tokens=64)
        result = asyncio.run(client.complete(messages, schema=SCHEMA, sampling=sampling))
        assert isinstance(result.data["entities"], list)  # validated against SCHEMA
        assert client.usage.prompt_tokens > 0 and client.usage.completion_tokens > 0
        again = asyncio.run(
            client_from_settings(settings).complete(messages, schema=SCHEMA, sampling=sampling)
        )
        assert again.cached and again.data == result.data
        running = ProcessRecord.load(tmp_path / "run" / "llm.json")
        assert running is not None
        sockets = listening(running.group_members())
        assert sockets and [s for s in sockets if not is_loopback(s[1])] == []
    finally:
        record = ProcessRecord.load(tmp_path / "run" / "llm.json")
        manager.down()
    assert record is not None and record.group_members() == []
    assert port_is_free(record.ports["http"])
