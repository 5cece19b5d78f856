"""The ``rules`` researcher: an offline policy that does real research.

Guided, it follows the masked hints hop by hop: for the first entity it
searches each clue and reads the hits; for each hop it searches the current
entity with the hop's relation in two sources (``search`` and
``medical_search``), reads the best hits with the hop as the goal, and keeps
the entity of the hop's type that the evidence mentions most, preferring one
both sources agree on. Explore, it searches the question alone. Every thought
is templated from what the last tool outputs said; every observation is the
real output of the call before it. Entities in a document are read from the
corpus's entity mentions (the same extraction the pipeline ran).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass

from kisa_tasks.agent.loop import Message
from kisa_tasks.agent.react import ToolCall, render_turn
from kisa_tasks.agent.tools import MAX_HITS, MAX_VISITS, SEPARATOR
from kisa_tasks.qa.templates import PHRASES, TYPE_NOUNS
from kisa_tasks.qa.text import mentions
from kisa_tasks.triples.rules import CUES

Script = Generator[str, str, None]
_NOUN_TYPES = {noun: kind for kind, noun in TYPE_NOUNS.items()}
_RESPONSE = re.compile(r"<tool_response>\n?(.*?)\n?</tool_response>", re.S)
_PMID = re.compile(r"PMID (\d+)")
_NAMES = re.compile(r"[A-Z][\w/-]+(?: [A-Z0-9][\w/-]+)*")  # capitalised names in a clue
READ_BATCHES = 5  # batched visits per hop (10 documents each)
CONFIRMED = 100  # weight of a candidate a clue confirms


@dataclass(frozen=True)
class Hop:
    phrase: str
    type: str
    clues: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    anchor_type: str
    anchor_clues: tuple[str, ...]
    hops: tuple[Hop, ...]


def direction_of(text: str) -> tuple[str, bool | None] | None:
    """(relation type, walked along the stored edge?) of a hop phrase or clue
    ("is treated with X" -> treats, against the edge); None for the direction
    of a symmetric relation. From the question templates' phrases."""
    best: tuple[str, bool | None, int] | None = None
    for relation, (active, passive) in PHRASES.items():
        for phrase, outgoing in ((active, True), (passive, False)):
            if text.startswith(phrase) and (best is None or len(phrase) > best[2]):
                best = (relation, None if active == passive else outgoing, len(phrase))
    return (best[0], best[1]) if best else None


def relation_of(text: str) -> str | None:
    found = direction_of(text)
    return found[0] if found else None


def expresses(sentence: str, relation: str | None) -> bool:
    """Whether a sentence has a cue word of the relation (the same cues the
    rules extractor reads), as a reader checks a claim against the text."""
    if relation is None:
        return True
    return any(c.relation_type == relation and c.pattern.search(sentence) for c in CUES)


def entity_type(noun: str) -> str:
    return _NOUN_TYPES.get(noun.strip(), noun.strip())


def parse_hints(hints: str) -> Plan | None:
    """The steps of ``rules-v1`` hints (as ``mtg.masked_hints`` writes them);
    None for hints in any other shape (then the researcher explores)."""
    anchor = re.search(r"Identify Entity A: the (.+?) that satisfies (.+?); ", hints)
    if anchor is None:
        return None
    hops = [
        Hop(phrase, entity_type(noun), tuple(re.findall(r"\[(.+?)\]", confirmed or "")))
        for phrase, noun, confirmed in re.findall(
            r"follow '(.+?)' to the (.+?) (?:Entity [A-Z]|the target)(?:, confirmed by (.+?))?"
            r"(?:; this is the answer)?\.",
            hints,
        )
    ]
    clues = tuple(re.findall(r"\[(.+?)\]", anchor.group(2)))
    if not hops or not clues:
        return None
    return Plan(entity_type(anchor.group(1)), clues, tuple(hops))


def _reverse(step: tuple[str, bool | None] | None) -> tuple[str, bool | None] | None:
    """A clue read from its named entity's side: "A is treated with X" means
    X treats A, so from X the edge is walked the other way."""
    if step is None or step[1] is None:
        return step
    return step[0], not step[1]


def responses(observation: str) -> list[str]:
    """The parts of the last tool outputs: one per response, and one per
    document or query of a batched response."""
    return [part for r in _RESPONSE.findall(observation) for part in r.split(SEPARATOR)]


def pmids_in(text: str) -> list[str]:
    return list(dict.fromkeys(_PMID.findall(text)))


@dataclass
class Researcher:
    """Reads documents: ``entities_in(pmid)`` -> entity ids, ``info(id)`` ->
    (name, type), ``aliases(id)`` -> other ways the text writes it."""

    entities_in: Callable[[str], Sequence[str]]
    info: Callable[[str], tuple[str, str]]
    aliases: Callable[[str], Sequence[str]] = lambda entity: ()
    # With these the researcher reads typed relations in the documents it
    # visited (the rules reader the pipeline uses) instead of co-mentions:
    # pmid -> (head id, relation type, tail id); a name -> its entity id.
    relations_in: Callable[[str], Sequence[tuple[str, str, str]]] | None = None
    resolve: Callable[[str], str | None] = lambda name: None

    def related(
        self,
        observations: Sequence[str],
        sources: Sequence[str],
        step: tuple[str, bool | None] | None,
        wanted_type: str,
        exclude: set[str],
    ) -> Counter[str]:
        """Names of ``wanted_type`` entities the visited documents relate to
        one of ``sources`` by ``step`` (relation, direction from the source)."""
        found: Counter[str] = Counter()
        if self.relations_in is None or step is None:
            return found
        relation, outgoing = step
        ids = {i for i in map(self.resolve, sources) if i is not None}
        for output in observations:
            pmids = pmids_in(output)
            if not pmids:
                continue
            for head, kind, tail in self.relations_in(pmids[0]):
                if kind != relation:
                    continue
                for source, other, forward in ((head, tail, True), (tail, head, False)):
                    if source not in ids or (outgoing is not None and forward != outgoing):
                        continue
                    name, other_type = self.info(other)
                    if other_type == wanted_type and name.casefold() not in exclude:
                        found[name] += 1
        return found

    def evidence(
        self,
        observations: Sequence[str],
        sources: Sequence[str],
        step: tuple[str, bool | None] | None,
        wanted_type: str,
        exclude: set[str],
    ) -> Counter[str]:
        """Typed relations when the researcher can read them, else co-mentions
        in evidence sentences with a cue of the relation."""
        if self.relations_in is not None:
            return self.related(observations, sources, step, wanted_type, exclude)
        relation = step[0] if step else None
        return self.candidates(observations, wanted_type, exclude, sources, relation)

    def _written(self, entity: str, text: str) -> bool:
        name = self.info(entity)[0]
        return any(len(s) >= 3 and mentions(text, s) for s in (name, *self.aliases(entity)))

    def candidates(
        self,
        observations: Sequence[str],
        wanted_type: str,
        exclude: set[str],
        near: Sequence[str] = (),
        relation: str | None = None,
    ) -> Counter[str]:
        """Names of entities of ``wanted_type`` written in the evidence
        sentences of the tool outputs, once per sentence; with ``near``, only
        in sentences that also name one of those (the entity a hop starts
        from, or a clue's entity); with ``relation``, only in sentences with
        a cue of it. Names containing an excluded one ("Venous Thrombosis"
        after "Thrombosis") are the same thing again, not a next hop."""
        found: Counter[str] = Counter()
        for output in observations:
            pmids = pmids_in(output)
            if not pmids or "Nothing in this document" in output:
                continue
            sentences = [line[2:] for line in output.splitlines() if line.startswith("- ")]
            sentences = sentences or [output]
            wanted = [
                e for e in dict.fromkeys(self.entities_in(pmids[0]))
                if self.info(e)[1] == wanted_type and self.info(e)[0].casefold() not in exclude
            ]  # fmt: skip
            for sentence in sentences:
                if near and not any(mentions(sentence, n) for n in near):
                    continue
                if not expresses(sentence, relation):
                    continue
                for entity in wanted:
                    name = self.info(entity)[0]
                    if any(mentions(name, x) for x in exclude):
                        continue
                    if self._written(entity, sentence):
                        found[name] += 1
        return found

    def read(self, observation: str, goal: str, batch: int = 0) -> list[ToolCall]:
        """One batched visit of the ``batch``-th ten hits (found in both
        sources first, then by rank)."""
        pmids = [p for r in responses(observation) for p in pmids_in(r)]
        ranked = [p for p, _ in Counter(pmids).most_common()]
        chosen = ranked[batch * MAX_VISITS : (batch + 1) * MAX_VISITS]
        return [ToolCall("visit", {"pmid": chosen, "goal": goal})] if chosen else []

    def guided(self, plan: Plan) -> Script:
        anchor: Counter[str] = Counter()
        every = [n for clue in plan.anchor_clues for n in _NAMES.findall(clue)]
        named = {n.casefold() for n in every}
        # All clues at once first (abstracts naming several clue entities are
        # the best evidence), then each clue on its own.
        queries = [" ".join(every)] if len(plan.anchor_clues) > 1 else []
        queries += [" ".join(_NAMES.findall(c)) or c for c in plan.anchor_clues]
        for query in queries:
            observation = yield render_turn(
                f"Entity A is a {plan.anchor_type} that "
                f"{' and '.join(plan.anchor_clues)}. I search for {query}.",
                [ToolCall("search", {"query": [query], "k": MAX_HITS})],
            )
            reads = self.read(observation, query)
            if not reads:
                continue
            observation = yield render_turn(
                "I read the most relevant hits to see which entity they support.", reads
            )
            for clue in plan.anchor_clues:
                anchor.update(
                    self.evidence(
                        responses(observation),
                        _NAMES.findall(clue),
                        _reverse(direction_of(clue)),
                        plan.anchor_type,
                        named,
                    )
                )
        if not anchor:
            yield render_turn("No entity fits the clues; I cannot go on.", answer="not found")
            return
        current = min(anchor, key=lambda n: (-anchor[n], n))
        path = {current.casefold()}
        context = list(dict.fromkeys(every))[:4]  # clue entities, for searches in context
        for letter, hop in zip("BCDEFGH", plan.hops, strict=False):
            goal = f"{current} {hop.phrase}"
            observation = yield render_turn(
                f"Entity {chr(ord(letter) - 1)} is most likely {current}. Next: what "
                f"{hop.type} does it relate to ('{hop.phrase}')? I check two sources.",
                [
                    ToolCall("search", {"query": [current], "k": MAX_HITS}),
                    # With what is known so far: the entities met on the way.
                    ToolCall(
                        "medical_search",
                        {"query": [goal, " ".join([current, *context])], "k": MAX_HITS},
                    ),
                ],
            )
            hits = observation
            found: Counter[str] = Counter()
            read: list[str] = []
            for batch in range(READ_BATCHES):
                reads = self.read(hits, goal, batch)
                if not reads:
                    break
                observation = yield render_turn(
                    "I read the best hits with this hop as the goal."
                    if batch == 0
                    else "I read the next hits to see every candidate.",
                    reads,
                )
                read += responses(observation)
                found.update(
                    self.evidence(
                        responses(observation), [current], direction_of(hop.phrase), hop.type, path
                    )
                )
            # A clue decides between candidates: search its entity, read, and
            # the candidate it confirms wins.
            for clue in hop.clues if len(found) > 1 else ():
                names = _NAMES.findall(clue)
                if not names:
                    continue
                observation = yield render_turn(
                    f"Several candidates fit. The next entity also {clue}; I check that.",
                    [ToolCall("search", {"query": [" ".join(names)], "k": MAX_HITS})],
                )
                reads = self.read(observation, clue)
                if not reads:
                    continue
                observation = yield render_turn("I read what the clue's search found.", reads)
                confirmed = self.evidence(
                    responses(observation) + read, names, _reverse(direction_of(clue)),
                    hop.type, path,
                )  # fmt: skip
                found.update({n: CONFIRMED for n in confirmed if n in found})
            if not found:
                break
            context = [current, *context][:4]
            current = min(found, key=lambda n: (-found[n], n))
            path.add(current.casefold())
        else:
            yield render_turn(f"Following every hop, the target is {current}.", answer=current)
            return
        yield render_turn(
            f"The evidence ran out at '{hop.phrase}'; my best candidate is {current}.",
            answer=current,
        )

    def explore(self, question: str) -> Script:
        asked = re.search(r"which ([a-z ]+?)(?: \(|\?)", question)
        wanted = entity_type(asked.group(1)) if asked else ""
        query = re.sub(r"\([A-Z]\)|\b[A-Z]\b", " ", question)
        observation = yield render_turn(
            "I start from the question itself and search the literature.",
            [ToolCall("search", {"query": [" ".join(query.split())[:300]]})],
        )
        reads = self.read(observation, question[:200])
        if reads:
            observation = yield render_turn("I read the most relevant hits.", reads)
        named = {n.casefold() for n in _NAMES.findall(question)}
        found = self.candidates(responses(observation), wanted, named) if wanted else Counter()
        answer = min(found, key=lambda n: (-found[n], n)) if found else "not found"
        yield render_turn(f"The documents point most often to {answer}.", answer=answer)


class ScriptPolicy:
    """A script as a ``Policy``: each call sends the last observation in."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.started = False

    def __call__(self, messages: Sequence[Message]) -> str:
        if not self.started:
            self.started = True
            return next(self.script)
        return self.script.send(messages[-1]["content"])
