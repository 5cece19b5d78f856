"""Outside trajectories in the ReAct format (the reference
``react_trajectory_sample.jsonl``) brought in and put through the same
termination rules, judge and filters as ours. The judge is the rules by
default; a ``Judge`` with a gateway adds the LLM judge (the rows carry no
entity mapping, so there is no decoy to probe it with)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kisa_tasks.agent.loop import Rollout, turn_ending
from kisa_tasks.agent.post import Filters, reject_reason
from kisa_tasks.agent.react import asked, parse_turn
from kisa_tasks.judge import Judge


@dataclass(frozen=True)
class Verdict:
    line: int
    rollout: Rollout
    accepted: tuple[str, ...]
    correct: bool
    reason: str | None  # None: it would be kept


def replay(messages: list[dict[str, str]]) -> Rollout:
    """The rollout the messages record, ended as our loop would have ended it."""
    rollout = Rollout([dict(m) for m in messages])
    for message in messages:
        if message["role"] != "assistant":
            continue
        turn = parse_turn(message["content"])
        rollout.tool_calls += len(turn.calls)
        ending = turn_ending(turn)
        if ending is not None:
            rollout.termination, rollout.detail = ending
            rollout.answer = turn.answers[0] if ending[0] == "answered" else None
            return rollout
    rollout.termination, rollout.detail = "no_action", "the conversation ends without an answer"
    return rollout


def accepted_answers(row: dict[str, Any]) -> tuple[str, ...]:
    answer = row.get("answer")
    flat: list[str] = []
    stack = [answer]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            flat.append(value)
        elif isinstance(value, list):
            stack.extend(reversed(value))
    return tuple(flat)


def judge_external(
    path: Path, filters: Filters | None = None, judge: Judge | None = None
) -> list[Verdict]:
    """Each line replayed, judged (``judge``; default the rules) and filtered.
    A judge failure is the line's reason, like a rollout's."""
    filters = filters or Filters()
    judge = judge or Judge()
    verdicts = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            row = json.loads(line)
            rollout = replay(row["messages"])
            accepted = accepted_answers(row)
            structural = reject_reason(rollout, True, filters)
            correct, failure = False, None
            if rollout.answer is not None:
                # The LLM judge is asked only about what the filters let through.
                judged = (Judge() if structural else judge).verdict(
                    asked(row["messages"]), accepted, rollout.answer
                )
                correct, failure = judged.correct, judged.failure
            reason = structural or failure or reject_reason(rollout, correct, filters)
            verdicts.append(Verdict(number, rollout, accepted, correct, reason))
    return verdicts
