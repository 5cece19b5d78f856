"""The ``rules`` researcher: an offline policy that does real research.

Guided, it follows the masked hints hop by hop. Entity A: it searches the
clues together and then one by one, reads the hits, and ranks candidates by
how many clues the evidence confirms. Each hop: it searches the current
entity with the hop's relation (``search``) and with what is known so far
and its other names (``medical_search``), reads hits in batches until the
evidence names a candidate (and one batch past it, to see rivals), lets the
hop's clues decide between candidates, and when a hop finds nothing it goes
back and tries the previous hop's next candidate. A name that finds nothing
is searched again under its aliases. Explore, it searches the question
alone. Every thought is templated from what the last tool outputs said;
every observation is the real output of the call before it. Entities and
typed relations in a document are read from the corpus (the same extraction
the pipeline ran), only for documents the researcher visited.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass

from kisa_tasks.agent.loop import Message
from kisa_tasks.agent.react import (
    RESPONSE_BLOCK,
    ToolCall,
    parse_turn,
    render_responses,
    render_turn,
)
from kisa_tasks.agent.tools import MAX_HITS, MAX_VISITS, SEPARATOR, failed_output
from kisa_tasks.qa.templates import PHRASES, TYPE_NOUNS
from kisa_tasks.qa.text import mentions
from kisa_tasks.triples.rules import RELATION_CUES

Script = Generator[str, str, None]
_NOUN_TYPES = {noun: kind for kind, noun in TYPE_NOUNS.items()}
_RESPONSE = re.compile(r"<tool_response>\n?(.*?)\n?</tool_response>", re.S)
_PMID = re.compile(r"PMID (\d+)")
_NAMES = re.compile(r"[A-Z][\w/-]+(?: [A-Z0-9][\w/-]+)*")  # capitalised names in a clue
READ_BATCHES = 5  # batched visits per hop at most (10 documents each)
# The researcher reads the documents it picks, so it scans titles only.
SCAN = {"k": MAX_HITS, "snippets": False}
ANCHOR_BATCHES = 3  # per anchor query, until one names a candidate
MAX_BACKTRACKS = 2  # dead ends after which the next candidate of a hop is tried
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
    cue = RELATION_CUES.get(relation)
    return cue is not None and cue.search(sentence) is not None


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


def ranking(scores: Counter[str]) -> list[str]:
    """Best first; ties by name, so a rollout is the same every time."""
    return sorted(scores, key=lambda n: (-scores[n], n))


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

    def other_names(self, name: str) -> list[str]:
        """Other ways the literature writes a named entity (for a search
        that found nothing under its canonical name)."""
        entity = self.resolve(name)
        if entity is None:
            return []
        return [a for a in self.aliases(entity) if len(a) >= 3 and a.casefold() != name.casefold()]

    def searched(self, thought: str, query: str, names: Sequence[str]) -> Generator[str, str, str]:
        """A search; when it finds nothing, once more under the names' other
        names. Sends back the observation with hits (or the last one)."""
        observation = yield render_turn(thought, [ToolCall("search", {"query": [query], **SCAN})])
        if pmids_in(observation):
            return observation
        synonyms = [a for n in names for a in self.other_names(n)][:4]
        if not synonyms:
            return observation
        return (
            yield render_turn(
                f"Nothing under that name; I search its other names: {', '.join(synonyms)}.",
                [ToolCall("search", {"query": synonyms, **SCAN})],
            )
        )

    def anchor(self, plan: Plan) -> Generator[str, str, Counter[str]]:
        """Candidates for Entity A scored by how many clues the evidence
        confirms for them, then by how often; stops once one fits every clue."""
        every = [n for clue in plan.anchor_clues for n in _NAMES.findall(clue)]
        named = {n.casefold() for n in every}
        confirms: dict[str, set[int]] = {}
        seen: Counter[str] = Counter()
        # All clues at once first (abstracts naming several clue entities are
        # the best evidence), then each clue on its own.
        queries = [(" ".join(every), every)] if len(plan.anchor_clues) > 1 else []
        for clue in plan.anchor_clues:
            queries.append((" ".join(_NAMES.findall(clue)) or clue, _NAMES.findall(clue)))
        for query, names in queries:
            observation = yield from self.searched(
                f"The {plan.anchor_type} (A) {' and '.join(plan.anchor_clues)}. "
                f"I search for {query}.",
                query,
                names,
            )
            hits = observation
            for batch in range(ANCHOR_BATCHES):
                reads = self.read(hits, query, batch)
                if not reads:
                    break
                observation = yield render_turn(
                    "I read the most relevant hits to see which entity they support."
                    if batch == 0
                    else "Nothing decisive yet; I read the next hits.",
                    reads,
                )
                new = False
                for number, clue in enumerate(plan.anchor_clues):
                    found = self.evidence(
                        responses(observation), _NAMES.findall(clue),
                        _reverse(direction_of(clue)), plan.anchor_type, named,
                    )  # fmt: skip
                    for name, count in found.items():
                        confirms.setdefault(name, set()).add(number)
                        seen[name] += count
                        new = True
                if new:
                    break
            if any(len(c) == len(plan.anchor_clues) for c in confirms.values()):
                break
        return Counter({n: CONFIRMED * len(c) + seen[n] for n, c in confirms.items()})

    def hop_candidates(
        self, known: str, current: str, hop: Hop, context: Sequence[str], path: set[str]
    ) -> Generator[str, str, tuple[Counter[str], list[str]]]:
        """Search the hop in two sources and read hits until the evidence
        names a candidate, and one batch past it to see its rivals."""
        goal = f"{current} {hop.phrase}"
        queries = [" ".join([current, *context])]
        if synonyms := self.other_names(current)[:3]:
            queries.append(" ".join(synonyms))
        hits = yield render_turn(
            f"{known} Next: what {hop.type} does {current} relate to ('{hop.phrase}')? "
            "I check two sources.",
            [
                ToolCall("search", {"query": [goal], **SCAN}),
                # With what is known so far: the entities met on the way.
                # The names the literature also writes it under.
                ToolCall("medical_search", {"query": queries, **SCAN}),
            ],
        )
        found: Counter[str] = Counter()
        read: list[str] = []
        past = 0
        for batch in range(READ_BATCHES):
            reads = self.read(hits, goal, batch)
            if not reads or past > 1:
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
            past += bool(found)
        return found, read

    def confirm(
        self, letter: str, hop: Hop, found: Counter[str], read: list[str], path: set[str]
    ) -> Generator[str, str, Counter[str]]:
        """A clue decides between candidates: search its entity, read, and
        the candidates it confirms win."""
        for clue in hop.clues if len(found) > 1 else ():
            names = _NAMES.findall(clue)
            if not names:
                continue
            observation = yield from self.searched(
                f"Several candidates fit. ({letter}) also {clue}; I check that.",
                " ".join(names),
                names,
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
        return found

    def guided(self, plan: Plan) -> Script:
        anchor = yield from self.anchor(plan)
        if not anchor:
            yield render_turn("No entity fits the clues; I cannot go on.", answer="not found")
            return
        ranked = ranking(anchor)
        current, alternatives = ranked[0], ranked[1:]
        path = {current.casefold()}
        every = [n for clue in plan.anchor_clues for n in _NAMES.findall(clue)]
        context = list(dict.fromkeys(every))[:4]  # clue entities, for searches in context
        conclusion = f"(A) is most likely {current}."
        backtracks = 0
        for number, hop in enumerate(plan.hops):
            letter = "BCDEFGH"[number]
            while True:
                found, read = yield from self.hop_candidates(
                    conclusion, current, hop, context, path
                )
                found = yield from self.confirm(letter, hop, found, read, path)
                if found or not alternatives or backtracks >= MAX_BACKTRACKS:
                    break
                # A dead end: the entity before it was probably the wrong one.
                backtracks += 1
                path.discard(current.casefold())
                previous, current = current, alternatives.pop(0)
                path.add(current.casefold())
                conclusion = (
                    f"Nothing '{hop.phrase}' from {previous}, so ({chr(ord(letter) - 1)}) "
                    f"is more likely the next candidate, {current}."
                )
            if not found:
                break
            context = [current, *context][:4]
            ranked = ranking(found)
            current, alternatives = ranked[0], ranked[1:]
            path.add(current.casefold())
            conclusion = f"({letter}) is most likely {current}."
        else:
            yield render_turn(
                f"{conclusion} Following every hop, the answer is {current}.", answer=current
            )
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
    """A script as a ``Policy``: each call sends the last observation in.

    A call whose output came back blank or refused (a failed service) is made
    again once, in a turn of its own, and the script reads the retried output
    in its place: the researcher searches again instead of reasoning from
    nothing."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.started = False
        self.last = ""
        self.retrying: tuple[list[str], list[int]] | None = None

    def __call__(self, messages: Sequence[Message]) -> str:
        if not self.started:
            self.started = True
            return self._said(next(self.script))
        outputs = [m.group(2) for m in RESPONSE_BLOCK.finditer(messages[-1]["content"])]
        if self.retrying is not None:
            first, failed = self.retrying
            self.retrying = None
            for position, output in zip(failed, outputs, strict=False):
                first[position] = output
            outputs = first
        else:
            failed = [i for i, output in enumerate(outputs) if failed_output(output)]
            calls = parse_turn(self.last).calls
            if failed and len(calls) == len(outputs):
                self.retrying = (outputs, failed)
                return self._said(
                    render_turn(
                        "A tool returned nothing usable (the service failed); I make the same "
                        "call again.",
                        [calls[i] for i in failed],
                    )
                )
        return self._said(self.script.send(render_responses(outputs)))

    def _said(self, text: str) -> str:
        self.last = text
        return text
