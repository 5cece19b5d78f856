"""GRPO on CPU with the tiny Qwen2: whole agent rollouts as completions
(sampled tokens trained, tool outputs masked), the paper's composite reward
term by term, curriculum by hop count."""

from __future__ import annotations

import doctest
import json
from pathlib import Path

import pytest
from agent.test_mtg_and_research import _toolbox

from kisa_tasks import ray_jobs
from kisa_tasks.agent import efficiency
from kisa_tasks.agent.react import ToolCall, render_responses, render_turn
from kisa_tasks.training import grpo as grpo_module
from kisa_tasks.training import launch, rewards
from kisa_tasks.training.grpo import GRPOJobConfig, TokenTrace, prompt_rows, train_grpo
from kisa_tasks.training.tiny import TinyShape, build_tiny_model

REFERENCE = Path(__file__).parents[1] / "fixtures" / "reference" / "react_trajectory_sample.jsonl"
CONFIGS = Path(__file__).parents[2] / "training_jobs" / "configs"
QA = [
    {"qa_id": "q3", "question": "Which drug treats the disease seedosis causes?",
     "answer": "betanib", "answer_aliases": [], "hops": 3},
    {"qa_id": "q1", "question": "What does betanib inhibit?", "answer": "gammatoxin",
     "answer_aliases": ["gamma toxin"], "hops": 2},
]  # fmt: skip


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rows = [json.loads(line) for line in REFERENCE.read_text().splitlines() if line.strip()]
    texts = [m["content"] for r in rows for m in r["messages"]]
    return build_tiny_model(texts, tmp_path_factory.mktemp("tiny"), TinyShape())


def test_reward_launch_and_grpo_doctests() -> None:
    for module in (rewards, efficiency, ray_jobs, launch, grpo_module):
        result = doctest.testmod(module)
        assert result.failed == 0
    assert doctest.testmod(rewards).attempted >= 8


def test_the_weighted_reward_terms_are_the_composite_reward() -> None:
    call = ToolCall("search", {"query": "betanib"})
    messages = [
        {"role": "assistant", "content": render_turn("look it up", [call])},
        {"role": "user", "content": render_responses(["Betanib inhibits gammatoxin."])},
        {"role": "assistant", "content": render_turn("found", answer="gammatoxin")},
    ]
    kwargs = {"trajectory": [json.dumps(messages)], "answer": ["gammatoxin"], "aliases": [[]],
              "question": ["What does betanib inhibit?"]}  # fmt: skip
    terms = [fn([None], [None], **kwargs)[0] for fn in rewards.REWARDS.values()]
    assert terms == [1.0, 1.0, 0.0]
    weighted = sum(w * t for w, t in zip(rewards.weights(1.0, 0.5, 1.0), terms, strict=True))
    assert weighted == rewards.composite_reward(*terms, a=1.0, b=0.5, g=1.0) == 1.5
    # Every adapter is a named function: TRL logs timings under the name, and
    # MLflow refuses the "<lambda>" a lambda would give (it crashed training).
    assert all(fn.__name__.isidentifier() for fn in rewards.REWARDS.values())


def test_curriculum_orders_prompts_by_hops() -> None:
    rows = prompt_rows(QA, _toolbox())
    assert [r["qa_id"] for r in rows] == ["q1", "q3"]
    assert rows[0]["prompt"][1]["content"].endswith("What does betanib inhibit?")
    assert rows[0]["aliases"] == ["gamma toxin"]


def test_token_trace_trains_sampled_tokens_and_masks_tool_outputs(tiny: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny))
    prompt = prompt_rows(QA, _toolbox())[0]["prompt"]
    trace = TokenTrace(tokenizer, prompt)
    first = render_turn("search first", [ToolCall("search", {"query": "betanib"})])
    trace.sampled(
        [*tokenizer(first, add_special_tokens=False)["input_ids"], tokenizer.eos_token_id]
    )
    tool = {"role": "user", "content": render_responses(["Betanib inhibits gammatoxin."])}
    second = render_turn("found it", answer="gammatoxin")
    messages = [*prompt, {"role": "assistant", "content": first}, tool]
    trace.environment(messages)
    trace.sampled(tokenizer(second, add_special_tokens=False)["input_ids"])  # cut off: no eos

    trained = [t for t, m in zip(trace.completion_ids, trace.mask, strict=True) if m]
    masked = [t for t, m in zip(trace.completion_ids, trace.mask, strict=True) if not m]
    assert tokenizer.decode(trained) == first + tokenizer.eos_token + second
    assert "<tool_response>" in tokenizer.decode(masked)
    assert "Betanib inhibits gammatoxin." in tokenizer.decode(masked)
    # The trace is exactly the template's rendering of the conversation.
    whole = tokenizer.apply_chat_template(
        [*messages, {"role": "assistant", "content": second}], tokenize=False
    )
    assert tokenizer.decode(trace.prompt_ids + trace.completion_ids) == whole.removesuffix(
        tokenizer.eos_token + "\n"
    )


def test_grpo_trains_on_agent_rollouts(tiny: Path, tmp_path: Path) -> None:
    config = GRPOJobConfig.from_yaml(CONFIGS / "grpo_tiny.yaml").model_copy(
        update={"max_steps": 2, "max_new_tokens": 16}
    )
    assert (config.group_size, config.temperature, config.clip, config.kl_beta) == (4, 0.7, 0.2, 0)
    toolbox = _toolbox()
    result = train_grpo(tiny, prompt_rows(QA, toolbox), toolbox, config, tmp_path / "grpo")
    assert result.steps == 2
    assert result.rollouts == 2 * config.group_size * config.prompts_per_step
    assert sum(result.terminations.values()) == result.rollouts
    assert set(result.rewards) == {"r_task", "r_expert", "r_efficiency"}
    assert result.completion_tokens > 0 and result.tokens_per_s > 0
    assert (tmp_path / "grpo" / "model.safetensors").is_file()


def test_the_paper_grpo_settings_load() -> None:
    paper = GRPOJobConfig.from_yaml(CONFIGS / "grpo_paper.yaml")
    assert (paper.group_size, paper.temperature, paper.clip, paper.kl_beta) == (4, 0.7, 0.2, 0.0)
    assert paper.expert == "llm"
    with pytest.raises(ValueError, match="group_size"):
        GRPOJobConfig(**{**paper.model_dump(), "group_size": 1})
