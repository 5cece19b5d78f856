"""Lexicon extraction vs the dictionary packages' own finders, side by side.

Same abstracts, one process each (first 3000 English abstracts of the 2021
bundled file). Speed is abstracts/s. Recall is measured on the packages' own
dictionaries (record MeSH/chemical extras off): of the text spans their finders
match, how many ours covers, either with the same entity or inside a longer,
more specific mention ("hypertension" inside "pulmonary hypertension"); spans
whose surface is on our stoplist (deliberately not entities: "combined",
"associations", "cancer") are reported apart. The strict entity-level overlap
is printed too.

    .venv/bin/python benchmarks/extract_lexicon.py
"""

from __future__ import annotations

import re
import time

from kisa_tasks.extract.lexicon import STOPLIST, automaton, find_mentions
from kisa_tasks.ingest.corpus import embedded_baseline_files
from kisa_tasks.ingest.medline import Citation, MedlineReader

N = 3000
_TOKEN = re.compile(r"\w+(?:[-']\w+)*|[^\w\s]")


def load_abstracts() -> list[Citation]:
    out = []
    for event in MedlineReader(embedded_baseline_files()[1]):
        if isinstance(event, Citation) and event.abstract and event.language == "eng":
            out.append(event)
            if len(out) == N:
                break
    return out


Span = tuple[str, int, int, str, str]  # pmid, start, end, entity name, surface


def packages(abstracts: list[Citation]) -> tuple[float, list[Span]]:
    from drug_named_entity_recognition import find_drugs
    from medical_named_entity_recognition import find_diseases

    find_drugs(["warm", "up"])
    find_diseases(["warm", "up"])
    found: list[Span] = []
    start = time.perf_counter()
    for c in abstracts:
        spans = [(m.start(), m.end()) for m in _TOKEN.finditer(c.abstract)]
        tokens = [c.abstract[s:e] for s, e in spans]
        for data, i, _end in find_drugs(tokens) + find_diseases(tokens):
            # Their end index is not reliable (the drug package's token indexes
            # are off); the matched string's own length is.
            begin = spans[i][0]
            surface = data["matching_string"]
            found.append((c.pmid, begin, begin + len(surface), data["name"].lower(), surface))
    return time.perf_counter() - start, found


def ours(abstracts: list[Citation]) -> tuple[float, list[Span]]:
    automaton()  # built once per process, like the packages' dictionaries
    found: list[Span] = []
    start = time.perf_counter()
    for c in abstracts:
        for m in find_mentions(c.pmid, c.abstract):
            found.append((c.pmid, m.start, m.end, m.name.lower(), m.surface))
    return time.perf_counter() - start, found


def main() -> None:
    abstracts = load_abstracts()
    theirs_s, theirs = packages(abstracts)
    ours_s, mine = ours(abstracts)
    by_pmid: dict[str, list[Span]] = {}
    for span in mine:
        by_pmid.setdefault(span[0], []).append(span)
    stoplisted = [t for t in theirs if t[4].lower() in STOPLIST]
    comparable = [t for t in theirs if t[4].lower() not in STOPLIST]
    covered = [
        t for t in comparable if any(m[1] <= t[1] and t[2] <= m[2] for m in by_pmid.get(t[0], ()))
    ]
    pairs_theirs = {(t[0], t[3]) for t in comparable}
    pairs_mine = {(m[0], m[3]) for m in mine}
    print(f"{len(abstracts)} abstracts")
    print(f"  packages (find_drugs + find_diseases): {len(abstracts) / theirs_s:8.0f} abstracts/s")
    print(f"  kisa lexicon:                          {len(abstracts) / ours_s:8.0f} abstracts/s")
    print(f"  speed-up: {theirs_s / ours_s:.1f}x")
    print(
        f"  span recall on the packages' matches: {len(covered) / max(1, len(comparable)):.1%} "
        f"({len(covered)}/{len(comparable)}); stoplisted on purpose: {len(stoplisted)}"
    )
    print(
        f"  strict (pmid, entity) overlap: "
        f"{len(pairs_theirs & pairs_mine) / max(1, len(pairs_theirs)):.1%}"
    )
    print(f"  mentions: packages {len(theirs)}, kisa {len(mine)}")


if __name__ == "__main__":
    main()
