"""The agent's tools: an OpenAI function schema and an executor each, run
with a timeout and a cap on the result's size; a tool that raises, hangs or
is unknown gives a structured tool error, never an exception in the loop.

- ``search``: batched general search (the corpus index in embedded mode;
  another ``SearchSource`` in production).
- ``medical_search``: the medical retrieval engine, with year filters.
- ``visit``: read one document by PMID; with a ``goal``, only the sentences
  most relevant to it (extractive selection in ``rules`` mode).
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from kisa_tasks.extract.sentences import sentence_spans
from kisa_tasks.qa.text import normalise
from kisa_tasks.retrieval.index import STOPWORDS_EN, SearchFilters, SearchHit

MAX_RESULT_CHARS = 4000
TOOL_TIMEOUT_S = 20.0
HITS_PER_QUERY = 10
MAX_HITS = 25
# Room for MAX_HITS hits (about 400 characters each) of two queries: a cut
# result would hide the PMIDs the agent asked for.
SEARCH_MAX_CHARS = 24_000
MAX_VISITS = 10  # documents one visit call reads
SEPARATOR = "\n=======\n"  # between the parts of a batched result
EVIDENCE_SENTENCES = 3


class Searcher(Protocol):
    def search(
        self, query: str, k: int = 10, filters: SearchFilters | None = None
    ) -> list[SearchHit]: ...


@dataclass(frozen=True)
class ToolResult:
    name: str
    arguments: Mapping[str, Any]
    output: str
    error: str | None = None  # "timeout: ...", "unknown_tool: ...", "tool_error: ..."
    failed: bool = False  # a simulated service failure: the call was never made

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: Mapping[str, Any]
    run: Callable[[Mapping[str, Any]], str]
    max_chars: int | None = None  # this tool's result cap, over the toolbox's

    def schema(self) -> dict[str, Any]:
        """The OpenAI function-calling schema."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": dict(self.parameters),
            },
        }


def _hits_text(query: str, hits: Sequence[SearchHit], snippets: bool = True) -> str:
    if not hits:
        return f"A search for '{query}' found no results."
    lines = [f"A search for '{query}' found {len(hits)} results:"]
    for i, hit in enumerate(hits, start=1):
        year = f" ({hit.pub_year})" if hit.pub_year else ""
        line = f"{i}. [{hit.title}]{year} PMID {hit.doc_id}"
        lines.append(f"{line}\n{hit.snippet}" if snippets else line)
    return ("\n\n" if snippets else "\n").join(lines)


def _queries(arguments: Mapping[str, Any]) -> list[str]:
    query = arguments.get("query")
    queries = [query] if isinstance(query, str) else query
    if not isinstance(queries, list) or not queries or not all(isinstance(q, str) for q in queries):
        raise ValueError("'query' must be a string or a non-empty list of strings")
    return [q for q in queries if q.strip()][:5]


def search_tool(searcher: Searcher, name: str = "search", description: str = "") -> Tool:
    def run(arguments: Mapping[str, Any]) -> str:
        filters = None
        if "year_from" in arguments or "year_to" in arguments:
            filters = SearchFilters(arguments.get("year_from"), arguments.get("year_to"))
        k = arguments.get("k", HITS_PER_QUERY)
        if not isinstance(k, int) or not 1 <= k <= MAX_HITS:
            raise ValueError(f"'k' must be an integer from 1 to {MAX_HITS}")
        snippets = arguments.get("snippets", True)
        if not isinstance(snippets, bool):
            raise ValueError("'snippets' must be true or false")
        return SEPARATOR.join(
            _hits_text(q, searcher.search(q, k=k, filters=filters), snippets)
            for q in _queries(arguments)
        )

    properties: dict[str, Any] = {
        "query": {
            "type": "array",
            "items": {"type": "string"},
            "description": "One or more complementary queries, searched together.",
        },
        "k": {"type": "integer", "description": f"results per query, 1-{MAX_HITS} (default 10)"},
        "snippets": {
            "type": "boolean",
            "description": "false: titles and PMIDs only, to scan many hits (default true)",
        },
    }
    if name == "medical_search":
        properties["year_from"] = {"type": "integer", "description": "earliest publication year"}
        properties["year_to"] = {"type": "integer", "description": "latest publication year"}
    return Tool(
        name,
        description or "Search the literature; returns titles, PMIDs and snippets per query.",
        {"type": "object", "properties": properties, "required": ["query"]},
        run,
        max_chars=SEARCH_MAX_CHARS,
    )


def relevant_sentences(text: str, goal: str, n: int = EVIDENCE_SENTENCES) -> list[str]:
    """The ``n`` sentences sharing most words with ``goal``, in text order."""

    def words(t: str) -> set[str]:
        return set(normalise(t).split()) - set(STOPWORDS_EN)

    wanted = words(goal)
    sentences = [text[a:b] for a, b in sentence_spans(text)]
    overlap = [len(wanted & words(s)) for s in sentences]
    scored = sorted(range(len(sentences)), key=lambda i: (-overlap[i], i))
    return [sentences[i] for i in sorted(i for i in scored[:n] if overlap[i])]


def visit_tool(documents: Callable[[str], tuple[str, str] | None]) -> Tool:
    """``documents(pmid)`` gives (title, text) or None."""

    def read(pmid: str, goal: str, sentences: int) -> str:
        found = documents(pmid)
        if found is None:
            return f"PMID {pmid}: no such document in the collection."
        title, text = found
        if not goal:
            return f"PMID {pmid}: {title}\n{text}"
        evidence = relevant_sentences(f"{title}. {text}", goal, sentences)
        if not evidence:
            return f"PMID {pmid}: {title}\nNothing in this document about: {goal}"
        return f"PMID {pmid}: {title}\nEvidence for '{goal}':\n" + "\n".join(
            f"- {s}" for s in evidence
        )

    def run(arguments: Mapping[str, Any]) -> str:
        given = arguments.get("pmid", "")
        pmids = [str(p).strip() for p in (given if isinstance(given, list) else [given])]
        if (
            not pmids
            or len(pmids) > MAX_VISITS
            or not all(re.fullmatch(r"\d{1,9}", p) for p in pmids)
        ):
            raise ValueError(f"'pmid' must be a PubMed id or a list of 1-{MAX_VISITS} of them")
        goal = str(arguments.get("goal") or "").strip()
        # Fewer sentences each when many documents are read at once: a batch
        # is a skim for the one claim each document makes about the goal.
        sentences = EVIDENCE_SENTENCES if len(pmids) == 1 else 2 if len(pmids) <= 3 else 1
        return SEPARATOR.join(read(p, goal, sentences) for p in pmids)

    return Tool(
        "visit",
        "Read documents by PMID (one, or a list of up to 10); with a goal, only the "
        "evidence relevant to the goal.",
        {
            "type": "object",
            "properties": {
                "pmid": {
                    "type": ["string", "array"],
                    "items": {"type": "string"},
                    "description": "PubMed id, or a list of them",
                },
                "goal": {"type": "string", "description": "what to look for"},
            },
            "required": ["pmid"],
        },
        run,
        max_chars=12_000,
    )


@dataclass
class Toolbox:
    tools: Mapping[str, Tool]
    timeout_s: float = TOOL_TIMEOUT_S
    max_chars: int = MAX_RESULT_CHARS
    _pool: concurrent.futures.ThreadPoolExecutor = field(
        default_factory=lambda: concurrent.futures.ThreadPoolExecutor(max_workers=8)
    )

    def schemas(self) -> list[dict[str, Any]]:
        return [t.schema() for t in self.tools.values()]

    def call(self, name: str, arguments: Mapping[str, Any]) -> ToolResult:
        tool = self.tools.get(name)
        if tool is None:
            known = ", ".join(sorted(self.tools))
            return ToolResult(name, arguments, "", f"unknown_tool: {name!r}; known: {known}")
        future = self._pool.submit(tool.run, arguments)
        try:
            output = future.result(timeout=self.timeout_s)
        except concurrent.futures.TimeoutError:
            future.cancel()
            return ToolResult(name, arguments, "", f"timeout: no result in {self.timeout_s:g}s")
        except Exception as exc:  # noqa: BLE001 - any tool failure becomes a tool error
            return ToolResult(name, arguments, "", f"tool_error: {type(exc).__name__}: {exc}")
        cap = tool.max_chars or self.max_chars
        if len(output) > cap:
            output = output[:cap] + f"\n[truncated at {cap} characters]"
        return ToolResult(name, arguments, output)

    def call_all(self, calls: Sequence[tuple[str, Mapping[str, Any]]]) -> list[ToolResult]:
        """Parallel calls; results in call order. (Waiting happens on threads
        of their own, so a hung tool never holds a slot a later call needs.)"""
        if not calls:
            return []
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(calls)) as waiting:
            return list(waiting.map(lambda c: self.call(*c), calls))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


# What a failed call returns: nothing at all, or the service's refusal. The
# agent sees it and must search again (the paper's tool-failure simulation).
FAILURE_OUTPUTS = ("", json.dumps({"error": "the service did not answer; try again"}))


def failed_output(output: str) -> bool:
    """A blank output or a service's refusal: no tool of ours answers so."""
    return not output.strip() or output.strip() in FAILURE_OUTPUTS


def failure_draw(seed: int, key: str, call: int) -> float:
    """A uniform draw in [0, 1) per (run seed, rollout, call number)."""
    digest = hashlib.sha256(f"{seed}|{key}|{call}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass
class FlakyToolbox(Toolbox):
    """A rollout's view of a toolbox in which each call fails with probability
    ``rate`` (seeded by run seed, rollout key and call number, so a rerun
    fails the same calls). A failed call is never run: the agent gets a blank
    or a refusal (``FAILURE_OUTPUTS``) and goes on. One per rollout."""

    rate: float = 0.0
    key: str = ""
    seed: int = 0
    calls: int = 0

    @classmethod
    def over(cls, toolbox: Toolbox, rate: float, key: str, seed: int = 0) -> FlakyToolbox:
        return cls(toolbox.tools, toolbox.timeout_s, toolbox.max_chars, toolbox._pool,
                   rate=rate, key=key, seed=seed)  # fmt: skip

    def call_all(self, calls: Sequence[tuple[str, Mapping[str, Any]]]) -> list[ToolResult]:
        numbers = range(self.calls, self.calls + len(calls))
        self.calls += len(calls)
        draws = [failure_draw(self.seed, self.key, n) for n in numbers]
        real = [c for c, d in zip(calls, draws, strict=True) if d >= self.rate]
        results = iter(super().call_all(real))
        out = []
        for (name, arguments), draw in zip(calls, draws, strict=True):
            if draw >= self.rate:
                out.append(next(results))
            else:  # which of the two failures: the draw's place below the rate
                failure = FAILURE_OUTPUTS[int(draw / self.rate * 2) % 2]
                out.append(ToolResult(name, arguments, failure, failed=True))
        return out

    def close(self) -> None:
        """The pool is the shared toolbox's: its owner closes it."""


def tool_error_text(result: ToolResult) -> str:
    return json.dumps({"error": result.error}, ensure_ascii=False)
