"""The agent as a calibration solver: explore-mode rollouts of the offline
researcher (the question alone, real tool calls, tool failures as in the
trajectories stage) answer each candidate question ``attempts`` times.

Offline, the retrieval solver answers almost nothing, so calibration would
pass every item; an item the agent solves in more than half of its explore
rollouts is too easy for the method, and is regenerated like any other.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from kisa_tasks.agent.loop import Limits, run_agent
from kisa_tasks.agent.mtg import SYSTEM_PROMPT
from kisa_tasks.agent.scripted import Researcher, ScriptPolicy
from kisa_tasks.agent.tools import FlakyToolbox, Toolbox
from kisa_tasks.qa.records import QAItem

log = logging.getLogger(__name__)


@dataclass
class ExploreSolver:
    """``attempts`` explore rollouts per question; each attempt's tool
    failures are drawn under its own key, so attempts can differ."""

    researcher: Researcher
    toolbox: Toolbox
    attempts: int = 3
    failure_rate: float = 0.05
    seed: int = 0
    limits: Limits = field(default_factory=lambda: Limits(max_turns=12, max_tool_calls=30))
    name: str = "agent-explore"

    def answer_all(
        self, items: Sequence[QAItem], answer_types: Mapping[str, str]
    ) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for item in items:
            answers = []
            for attempt in range(self.attempts):
                tools = FlakyToolbox.over(self.toolbox, self.failure_rate,
                                          f"solve|{item.qa_id}|{attempt}", self.seed)  # fmt: skip
                policy = ScriptPolicy(self.researcher.explore(item.question))
                rollout = run_agent(policy, tools, SYSTEM_PROMPT, item.question, self.limits)
                # A rollout that gave no answer answered wrongly: the agent tried.
                answers.append(rollout.answer or "")
            out[item.qa_id] = answers
        log.info("qa: %d questions explored %d times each", len(items), self.attempts)
        return out

    def close(self) -> None:
        self.toolbox.close()
