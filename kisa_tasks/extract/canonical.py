"""Canonicalisation, deterministic backend: one entity per real-world thing.

1. Abbreviations defined in an abstract ("angiotensin-converting enzyme (ACE)")
   bind the short form to the long form's entity there, and its other
   occurrences in that abstract become mentions of that entity.
2. Identifiers merge: ids that name the same thing (a drug's DrugBank and MeSH
   ids, from the drug dictionary) join one entity (union-find).
3. Entities without a shared identifier merge when their normalised names are
   equal (case, punctuation, Greek letters, plurals).
4. A name no identifier anchors joins an existing entity when the decider says
   so (``entity_merge``): string similarity with a threshold in the ``rules``
   backend, the paper's "new entity or an existing one?" question to a model
   in the ``llm`` backend.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from kisa_tasks.extract.entity_merge import (
    EntityName,
    MergeQuestion,
    is_anchored,
    merge_questions,
    rules_decisions,
)
from kisa_tasks.vocabulary import ENTITY_TYPES

_GREEK = {
    "α": "alpha", "β": "beta", "γ": "gamma", "δ": "delta", "ε": "epsilon", "κ": "kappa",
    "λ": "lambda", "μ": "mu", "π": "pi", "σ": "sigma", "τ": "tau", "ω": "omega",
}  # fmt: skip
_NON_WORD = re.compile(r"[^a-z0-9]+")
# Anchored on the parenthesised short form; the long-form window before it is
# cut in Python (a regex with a lazy window backtracks at every position).
_SHORT_FORM = re.compile(r"\(\s*([A-Za-z][A-Za-z0-9\-]{1,9})\s*\)")
_WINDOW = 120
# Priority of identifier schemes when choosing the canonical id of a group.
_SCHEME_ORDER = {"mesh": 0, "drugbank": 1, "drug": 2}


def normalise(surface: str) -> str:
    """Comparison key: Greek spelled out, accents and punctuation dropped,
    lower case, simple plurals singular. ``normalise("TNF-α") == "tnf alpha"``."""
    text = "".join(_GREEK.get(ch, ch) for ch in surface.lower())
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = [_singular(w) for w in _NON_WORD.split(text) if w]
    return " ".join(words)


# Singular nouns that end like plurals.
_INVARIANT = frozenset(
    {"diabetes", "herpes", "rabies", "scabies", "series", "species", "measles", "mumps",
     "rickets", "ascites", "caries", "feces", "faeces", "lens", "news", "shingles"}
)  # fmt: skip


def _singular(word: str) -> str:
    if len(word) <= 4 or word in _INVARIANT or word.endswith(("ss", "us", "is", "ous")):
        return word
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith("s"):
        return word[:-1]
    return word


def abbreviation_definitions(text: str) -> list[tuple[str, int, int]]:
    """``(short form, long-form start, long-form end)`` for each "long (SF)" in
    ``text``, with the long form found as in Schwartz & Hearst (2003): walking
    back from the parenthesis, every short-form character must appear in order
    and the first one must start a word."""
    out = []
    for match in _SHORT_FORM.finditer(text):
        short = match.group(1)
        if not any(c.isupper() for c in short):
            continue
        end = match.start()
        while end > 0 and text[end - 1].isspace():
            end -= 1
        window_start = max(0, end - _WINDOW)
        # The long form never spans another parenthesis.
        window_start = max(window_start, text.rfind("(", 0, end) + 1, text.rfind(")", 0, end) + 1)
        window = text[window_start:end]
        if len(window) < 2:
            continue
        start = _long_form_start(short, window)
        if start is not None:
            out.append((short, window_start + start, end))
    return out


def _long_form_start(short: str, candidate: str) -> int | None:
    chars = [c.lower() for c in short if c.isalnum()]
    s, i = len(chars) - 1, len(candidate) - 1
    while s >= 0:
        c = chars[s]
        while i >= 0 and (
            candidate[i].lower() != c or (s == 0 and i > 0 and candidate[i - 1].isalnum())
        ):
            i -= 1
        if i < 0:
            return None
        i -= 1
        s -= 1
    start = i + 1
    # Extend to the start of that word; reject runaway long forms.
    while start > 0 and candidate[start - 1].isalnum():
        start -= 1
    long_form = candidate[start:]
    if len(long_form.split()) > min(len(short) + 5, 2 * len(short)):
        return None
    return start


@dataclass
class _UnionFind:
    parent: dict[str, str] = field(default_factory=dict)

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            # Deterministic root: the preferred identifier of the two.
            keep, drop = sorted((ra, rb), key=_id_priority)
            self.parent[drop] = keep


def _id_priority(identifier: str) -> tuple[int, str]:
    scheme = identifier.split(":", 1)[0]
    return (_SCHEME_ORDER.get(scheme, 9), identifier)


@lru_cache(maxsize=1)
def identifier_links() -> tuple[tuple[str, str], ...]:
    """Pairs of ids the drug dictionary package says name the same drug.

    Unchecked: many of the package's MeSH ids are another descriptor
    (Heparin -> Fibrinolysin, Angiotensin II -> Norepinephrine), so
    ``canonicalise`` joins a pair only when the names agree (``drug_names``)."""
    from kisa_tasks.extract.lexicon import _load_pickle

    data = _load_pickle("drug_named_entity_recognition", "drug_ner_dictionary.pkl.bz2")
    links = []
    for entry in data["drug_canonical_to_data"].values():
        if entry.get("drugbank_id") and entry.get("mesh_id"):
            links.append((f"drugbank:{entry['drugbank_id']}", f"mesh:{entry['mesh_id']}"))
    return tuple(sorted(links))


@lru_cache(maxsize=1)
def drug_names() -> dict[str, frozenset[str]]:
    """DrugBank id -> every normalised name of the drug (name, synonyms,
    the surface variants the package maps to it)."""
    from kisa_tasks.extract.lexicon import _load_pickle

    data = _load_pickle("drug_named_entity_recognition", "drug_ner_dictionary.pkl.bz2")
    variants: dict[str, set[str]] = {}
    for variant, canonicals in data["drug_variant_to_canonical"].items():
        for canonical in canonicals:
            variants.setdefault(canonical, set()).add(variant)
    out: dict[str, frozenset[str]] = {}
    for key, entry in data["drug_canonical_to_data"].items():
        if entry.get("drugbank_id"):
            names = {key, entry.get("name") or "", *(entry.get("synonyms") or ())}
            names |= variants.get(key, set())
            out[f"drugbank:{entry['drugbank_id']}"] = frozenset(normalise(n) for n in names if n)
    return out


def same_thing(
    a: str, b: str, names: Mapping[str, str], known: Mapping[str, frozenset[str]]
) -> bool:
    """Whether two linked ids name the same thing: equal normalised names, or
    one's name is among the other's known names."""
    name_a, name_b = normalise(names[a]), normalise(names[b])
    return name_a == name_b or name_b in known.get(a, ()) or name_a in known.get(b, ())


def expand_abbreviations(
    mentions: Sequence[Mapping[str, Any]], texts: Mapping[tuple[str, str], str]
) -> list[dict[str, Any]]:
    """Rebind abbreviation mentions to their defined long form, and add the
    short form's other occurrences in the same text as mentions."""
    by_text: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for m in mentions:
        by_text.setdefault((m["pmid"], m["field"]), []).append(dict(m))
    out: list[dict[str, Any]] = []
    for key, items in sorted(by_text.items()):
        text = texts.get(key, "")
        for short, lf_start, lf_end in abbreviation_definitions(text):
            long_mentions = [
                m
                for m in items
                if m["start"] >= lf_start
                and m["end"] == lf_end
                and _starts_a_word(text, lf_start, m["start"])
            ]
            if not long_mentions:
                continue
            target = max(long_mentions, key=lambda m: m["end"] - m["start"])
            # A mention of part of the long form ("myocardial infarction" in
            # "acute myocardial infarction (AMI)") names the short form's new
            # occurrences, but only the whole long form overrides what the
            # dictionary itself found for the short form.
            whole = target["start"] == lf_start
            taken = {(m["start"], m["end"]) for m in items}
            for occurrence in re.finditer(
                rf"(?<![A-Za-z0-9]){re.escape(short)}(?![A-Za-z0-9])", text
            ):
                span = (occurrence.start(), occurrence.end())
                existing = [m for m in items if (m["start"], m["end"]) == span]
                for m in existing if whole else ():
                    m.update(
                        entity_id=target["entity_id"], name=target["name"], type=target["type"]
                    )
                if span not in taken:
                    items.append({**target, "start": span[0], "end": span[1], "surface": short})
                    taken.add(span)
        out.extend(sorted(items, key=lambda m: (m["start"], m["end"])))
    return out


def _starts_a_word(text: str, long_form_start: int, mention_start: int) -> bool:
    """The mention starts the long form or a word of it, not the inside of a
    hyphenated word: "butyric acid" in "gamma-amino-butyric acid (GABA)" is
    another substance."""
    if mention_start == long_form_start:
        return True
    return text[mention_start - 1].isspace()


@dataclass(frozen=True)
class Entity:
    canonical_id: str
    name: str
    type: str
    aliases: tuple[str, ...]
    identifiers: tuple[str, ...]


Decider = Callable[[Sequence[MergeQuestion], Mapping[str, str]], Mapping[str, str]]


def canonicalise(
    mentions: Iterable[Mapping[str, Any]],
    links: Iterable[tuple[str, str]] = (),
    decide: Decider = rules_decisions,
    known_names: Mapping[str, frozenset[str]] | None = None,
) -> tuple[list[Entity], dict[str, str]]:
    """Group mention identifiers into entities; returns the entities and the
    identifier -> canonical id map (to rewrite mentions). ``decide`` answers
    "new entity or an existing one?" for names no identifier anchors. A
    link joins two ids only when their names agree (``same_thing``, with
    ``known_names``: id -> normalised names, ``drug_names`` by default)."""
    known = drug_names() if known_names is None else known_names
    uf = _UnionFind()
    names: dict[str, str] = {}
    types: dict[str, str] = {}
    aliases: dict[str, set[str]] = {}
    for m in mentions:
        ident = m["entity_id"]
        uf.find(ident)
        names.setdefault(ident, m["name"] or m["surface"])
        types.setdefault(ident, m["type"])
        aliases.setdefault(ident, set()).add(m["surface"])
    for a, b in links:
        if a in names and b in names and same_thing(a, b, names, known):
            uf.union(a, b)
    by_name: dict[tuple[str, str], str] = {}
    for ident in sorted(names, key=_id_priority):
        key = (normalise(names[ident]), _kind(types[ident]))
        if key in by_name:
            uf.union(by_name[key], ident)
        else:
            by_name[key] = ident
    for ident, existing in decide(_merge_questions(uf, names, types), names).items():
        uf.union(existing, ident)
    groups: dict[str, list[str]] = {}
    for ident in names:
        groups.setdefault(uf.find(ident), []).append(ident)
    entities = []
    mapping: dict[str, str] = {}
    for root, members in sorted(groups.items()):
        members.sort(key=_id_priority)
        for ident in members:
            mapping[ident] = root
        entities.append(
            Entity(
                canonical_id=root,
                name=names[root],
                type=_group_type([types[i] for i in members]),
                aliases=tuple(sorted({a for i in members for a in aliases[i]})),
                identifiers=tuple(members),
            )
        )
    return entities, mapping


def _merge_questions(
    uf: _UnionFind, names: Mapping[str, str], types: Mapping[str, str]
) -> list[MergeQuestion]:
    members: dict[str, list[str]] = {}
    for ident in names:
        members.setdefault(uf.find(ident), []).append(ident)
    entities = [
        EntityName(
            ident=root,
            key=normalise(names[root]),
            name=names[root],
            kind=_kind(_group_type([types[i] for i in group])),
            anchored=is_anchored(group),
        )
        for root, group in members.items()
    ]
    # Anchored entities first: they are the existing ones a name may join.
    entities.sort(key=lambda e: (not e.anchored, _id_priority(e.ident)))
    return merge_questions(entities)


def _kind(type_: str) -> str:
    # Drugs and chemicals are one namespace for name matching.
    return "substance" if type_ in ("drug", "chemical") else type_


def _group_type(types: list[str]) -> str:
    for preferred in ENTITY_TYPES:
        if preferred in types:
            return preferred
    return types[0]
