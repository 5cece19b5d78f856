"""Iterative expansion of one seed's knowledge graph (the paper's step 2).

Round 1 searches the corpus for the seed, extracts triples from the hits and
keeps those touching the seed. Each later round searches for the frontier
(the entities the previous round added) and keeps triples touching the graph
built so far, so the graph stays connected to the seed. New entities are
admitted up to ``max_nodes``, those one hop from the last round's frontier
first, then by evidence, then by id. Pure over its inputs: the same corpus,
search engine and policy give the same graph.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from kisa_tasks.subgraphs.graph import Edge
from kisa_tasks.triples.evidence import EvidenceCorpus
from kisa_tasks.triples.rules import TripleEvidence
from kisa_tasks.triples.support import confidence

Search = Callable[[str], Sequence[str]]  # query -> pmids, best first


@dataclass(frozen=True)
class ExpansionPolicy:
    # The precise extractor reads few relations per abstract (issue 18): a
    # round reads more hits and a wider frontier so a rare seed's graph
    # reaches two hops. Reading is cheap next to building the index.
    max_iterations: int = 4
    max_nodes: int = 60
    hits_per_query: int = 100
    frontier_size: int = 16


@dataclass
class SeedGraph:
    seed: str
    evidence: list[TripleEvidence] = field(default_factory=list)
    nodes: list[str] = field(default_factory=list)
    iterations: int = 0
    searched_pmids: int = 0

    def edges(self) -> list[Edge]:
        """One edge per (head, type, tail) between admitted nodes; its weight is
        the number of abstracts supporting it."""
        admitted = set(self.nodes)
        pmids: dict[tuple[str, str, str], set[str]] = {}
        for t in self.evidence:
            if t.head in admitted and t.tail in admitted:
                pmids.setdefault((t.head, t.relation_type, t.tail), set()).add(t.pmid)
        return [Edge(h, r, t, float(len(p))) for (h, r, t), p in sorted(pmids.items())]

    def confidences(self) -> dict[tuple[str, str, str], float]:
        """(head, type, tail) -> confidence from every abstract's evidence."""
        supports: dict[tuple[str, str, str], list[str]] = {}
        for t in self.evidence:
            supports.setdefault((t.head, t.relation_type, t.tail), []).append(t.support)
        return {key: confidence(key[1], kinds) for key, kinds in supports.items()}

    def trusted_edges(self, floor: float) -> list[Edge]:
        """The edges at or above the confidence ``floor``: what questions use."""
        confidences = self.confidences()
        return [e for e in self.edges() if confidences[(e.head, e.relation, e.tail)] >= floor]

    def edge_pmids(self) -> dict[Edge, list[str]]:
        by_key: dict[tuple[str, str, str], set[str]] = {}
        for t in self.evidence:
            by_key.setdefault((t.head, t.relation_type, t.tail), set()).add(t.pmid)
        return {e: sorted(by_key[(e.head, e.relation, e.tail)]) for e in self.edges()}


def expand_seed(
    seed: str, corpus: EvidenceCorpus, search: Search, policy: ExpansionPolicy
) -> SeedGraph:
    graph = SeedGraph(seed, nodes=[seed])
    admitted = {seed}
    frontier = [seed]
    seen_evidence: set[tuple[str, str, str, str]] = set()
    searched: set[str] = set()
    for iteration in range(1, policy.max_iterations + 1):
        pmids = sorted(
            {p for entity in frontier for term in corpus.search_terms(entity) for p in search(term)}
        )
        searched.update(pmids)
        corpus.prefetch(pmids)
        touching: list[TripleEvidence] = []
        for pmid in pmids:
            for t in corpus.triples(pmid):
                key = (t.head, t.relation_type, t.tail, t.pmid)
                if key in seen_evidence or not (t.head in admitted or t.tail in admitted):
                    continue
                seen_evidence.add(key)
                touching.append(t)
        graph.evidence.extend(touching)
        graph.iterations = iteration
        new = _rank_candidates(touching, admitted, set(frontier))
        room = policy.max_nodes - len(admitted)
        added = new[: max(room, 0)]
        graph.nodes.extend(added)
        admitted.update(added)
        frontier = added[: policy.frontier_size]
        if not frontier:
            break
    graph.searched_pmids = len(searched)
    return graph


def _rank_candidates(
    triples: Sequence[TripleEvidence], admitted: set[str], frontier: set[str]
) -> list[str]:
    evidence: dict[str, set[str]] = {}
    near_frontier: set[str] = set()
    for t in triples:
        for node, other in ((t.head, t.tail), (t.tail, t.head)):
            if node in admitted:
                continue
            evidence.setdefault(node, set()).add(t.pmid)
            if other in frontier:
                near_frontier.add(node)
    return sorted(evidence, key=lambda n: (n not in near_frontier, -len(evidence[n]), n))
