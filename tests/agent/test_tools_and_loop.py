"""Tools and the agent loop: every way a rollout ends has its label, and a
failing tool never stops the rollout or the batch."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from kisa_tasks.agent.loop import Limits, Message, run_agent
from kisa_tasks.agent.react import RESPONSE_BLOCK, ToolCall, parse_turn, render_turn
from kisa_tasks.agent.tools import Tool, Toolbox

PARAMS = {"type": "object", "properties": {"x": {"type": "string"}}}


def _tool(name: str, fn: Any) -> Tool:
    return Tool(name, f"{name} tool", PARAMS, fn)


def _toolbox() -> Toolbox:
    def hang(arguments: Mapping[str, Any]) -> str:
        time.sleep(2)
        return "late"

    def boom(arguments: Mapping[str, Any]) -> str:
        raise RuntimeError("index unavailable")

    return Toolbox(
        {
            "echo": _tool("echo", lambda a: f"echo {a.get('x')}"),
            "big": _tool("big", lambda a: "x" * 10_000),
            "hang": _tool("hang", hang),
            "boom": _tool("boom", boom),
        },
        timeout_s=0.3,
        max_chars=100,
    )


def _script(*turns: str) -> Any:
    queue = list(turns)

    def policy(messages: Sequence[Message]) -> str:
        return queue.pop(0)

    return policy


def _call(name: str, x: str = "1") -> ToolCall:
    return ToolCall(name, {"x": x})


@pytest.fixture()
def toolbox() -> Any:
    box = _toolbox()
    yield box
    box.close()


def test_tool_failures_are_structured_errors_and_the_rollout_goes_on(toolbox: Toolbox) -> None:
    policy = _script(
        render_turn("try them all", [_call("echo"), _call("hang"), _call("boom"), _call("nope"),
                                     _call("big")]),
        render_turn("done", answer="42"),
    )  # fmt: skip
    rollout = run_agent(policy, toolbox, "sys", "question?")
    assert rollout.termination == "answered" and rollout.answer == "42"
    assert [e.split(":")[0] for e in rollout.tool_errors] == [
        "timeout",
        "tool_error",
        "unknown_tool",
    ]
    observation = rollout.messages[3]["content"]
    # One response per call, in call order; the big output capped.
    assert observation.count("<tool_response>") == 5
    assert observation.index("echo 1") < observation.index("timeout") < observation.index("index")
    assert "[truncated at 100 characters]" in observation


@pytest.mark.parametrize(
    ("turns", "label"),
    [
        ([render_turn("a", answer="x") + "<answer>y</answer>"], "answered_twice"),
        ([render_turn("a", [_call("echo")], answer="x")], "answered_twice"),
        (["<think>t</think><tool_call>{not json}</tool_call>"], "malformed_tool_call"),
        (['<tool_call>{"arguments": {}}</tool_call>'], "malformed_tool_call"),
        (["<think>just thinking</think>"], "no_action"),
        ([render_turn("a", [_call("echo")]), render_turn("b", [_call("echo")])], "loop_detected"),
        ([render_turn(str(i), [_call("echo", str(i))]) for i in range(3)], "max_turns"),
    ],
)
def test_every_ending_has_its_label(toolbox: Toolbox, turns: list[str], label: str) -> None:
    rollout = run_agent(_script(*turns), toolbox, "sys", "q?", Limits(max_turns=3))
    assert rollout.termination == label and rollout.detail


def test_tool_call_and_time_limits(toolbox: Toolbox) -> None:
    many = render_turn("all", [_call("echo", str(i)) for i in range(5)])
    rollout = run_agent(_script(many), toolbox, "sys", "q?", Limits(max_tool_calls=4))
    assert rollout.termination == "max_tool_calls"
    ticks = iter(range(0, 1000, 100))
    rollout = run_agent(
        _script(render_turn("a", [_call("echo")]), render_turn("b", [_call("echo", "2")])),
        toolbox, "sys", "q?", Limits(max_seconds=150), clock=lambda: next(ticks),
    )  # fmt: skip
    assert rollout.termination == "timeout"


def test_a_policy_that_fails_ends_only_its_rollout(toolbox: Toolbox) -> None:
    def broken(messages: Sequence[Message]) -> str:
        raise ConnectionError("model endpoint down")

    rollout = run_agent(broken, toolbox, "sys", "q?")
    assert rollout.termination == "policy_error" and "endpoint down" in rollout.detail


def test_arguments_sent_as_a_json_string_are_read() -> None:
    turn = parse_turn('<tool_call>{"name": "echo", "arguments": "{\\"x\\": \\"1\\"}"}</tool_call>')
    assert turn.calls == (ToolCall("echo", {"x": "1"}),) and not turn.errors
    assert json.loads(json.dumps(dict(turn.calls[0].arguments))) == {"x": "1"}


def test_a_conversation_over_the_token_budget_ends(toolbox: Toolbox) -> None:
    words = lambda text: len(text.split())  # noqa: E731 - the stage passes the training tokenizer's
    long_turn = render_turn("word " * 50, [_call("echo")])
    rollout = run_agent(_script(long_turn), toolbox, "sys", "q?", Limits(max_tokens=40),
                        count_tokens=words)  # fmt: skip
    assert rollout.termination == "max_tokens" and "> 40" in rollout.detail


def test_simulated_tool_failures_are_seeded_and_never_run_the_tool() -> None:
    from kisa_tasks.agent.tools import FAILURE_OUTPUTS, FlakyToolbox

    ran: list[str] = []
    box = Toolbox({"echo": _tool("echo", lambda a: ran.append(a["x"]) or f"echo {a['x']}")})
    try:
        calls = [("echo", {"x": str(i)}) for i in range(400)]
        flaky = FlakyToolbox.over(box, 0.05, "rollout-1", seed=3)
        results = [r for b in range(0, 400, 8) for r in flaky.call_all(calls[b : b + 8])]
        failed = [i for i, r in enumerate(results) if r.failed]
        assert 8 <= len(failed) <= 35  # about 5 % of 400
        assert {results[i].output for i in failed} == set(FAILURE_OUTPUTS)  # blank or refused
        assert not any(results[i].error for i in failed)  # a service failure, not a tool error
        assert sorted(set(map(str, range(400))) - set(ran), key=int) == [str(i) for i in failed]
        again = FlakyToolbox.over(box, 0.05, "rollout-1", seed=3).call_all(calls)
        assert [i for i, r in enumerate(again) if r.failed] == failed  # a rerun fails the same
        other = FlakyToolbox.over(box, 0.05, "rollout-2", seed=3).call_all(calls)
        assert [i for i, r in enumerate(other) if r.failed] != failed
    finally:
        box.close()


def test_the_researcher_searches_again_after_a_failed_call_and_it_is_no_loop() -> None:
    from kisa_tasks.agent.scripted import ScriptPolicy
    from kisa_tasks.agent.tools import FlakyToolbox, failure_draw

    def script() -> Any:
        observation = yield render_turn("I look it up.", [_call("echo", "fabry")])
        # Quoting the output, not its tags: a turn holding a tool response is forged.
        said = RESPONSE_BLOCK.sub(lambda m: m.group(2), observation).strip()
        yield render_turn(f"It said: {said}", answer="GLA")

    # A rollout key whose first call fails and whose second does not.
    key = next(
        f"k{i}" for i in range(10_000)
        if failure_draw(0, f"k{i}", 0) < 0.5 <= failure_draw(0, f"k{i}", 1)
    )  # fmt: skip
    box = _toolbox()
    try:
        flaky = FlakyToolbox.over(box, 0.5, key)
        rollout = run_agent(ScriptPolicy(script()), flaky, "system", "Which gene?")
    finally:
        box.close()
    assert rollout.termination == "answered" and rollout.answer == "GLA"
    assert rollout.failed_calls == [0] and rollout.recovered == 1 and rollout.tool_calls == 2
    turns = [m["content"] for m in rollout.messages if m["role"] == "assistant"]
    assert "the same call again" in turns[1]
    assert list(parse_turn(turns[1]).calls) == [_call("echo", "fabry")]
    # The script reasons from the retried, real output, never from the blank.
    assert "echo fabry" in turns[2]
