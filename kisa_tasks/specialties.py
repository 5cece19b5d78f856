"""The 12 specialties, each defined by MeSH tree branches.

A record belongs to every specialty whose branch prefixes one of its MeSH tree
numbers (``C14.280.647`` is under ``C14``). The table is the single source for
the Airflow trigger form, artefact partitions and the specialty mapper.

| id                      | MeSH branches | MeSH heading(s)                          |
|-------------------------|---------------|------------------------------------------|
| cardiology              | C14           | Cardiovascular Diseases                  |
| oncology                | C04           | Neoplasms                                |
| neurology               | C10           | Nervous System Diseases                  |
| infectious_diseases     | C01           | Infections                               |
| pulmonology             | C08           | Respiratory Tract Diseases               |
| gastroenterology        | C06           | Digestive System Diseases                |
| endocrinology           | C18, C19      | Nutritional and Metabolic; Endocrine     |
| nephrology_urology      | C12           | Urogenital Diseases                      |
| immunology              | C20           | Immune System Diseases                   |
| hematology              | C15           | Hemic and Lymphatic Diseases             |
| dermatology             | C17           | Skin and Connective Tissue Diseases      |
| psychiatry              | F03           | Mental Disorders                         |
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Specialty:
    id: str
    label: str
    mesh_branches: tuple[str, ...]

    def covers(self, tree_number: str) -> bool:
        return any(tree_number == b or tree_number.startswith(b + ".") for b in self.mesh_branches)


SPECIALTIES: tuple[Specialty, ...] = (
    Specialty("cardiology", "Cardiology", ("C14",)),
    Specialty("oncology", "Oncology", ("C04",)),
    Specialty("neurology", "Neurology", ("C10",)),
    Specialty("infectious_diseases", "Infectious diseases", ("C01",)),
    Specialty("pulmonology", "Pulmonology", ("C08",)),
    Specialty("gastroenterology", "Gastroenterology", ("C06",)),
    Specialty("endocrinology", "Endocrinology and metabolism", ("C18", "C19")),
    Specialty("nephrology_urology", "Nephrology and urology", ("C12",)),
    Specialty("immunology", "Immunology", ("C20",)),
    Specialty("hematology", "Hematology", ("C15",)),
    Specialty("dermatology", "Dermatology", ("C17",)),
    Specialty("psychiatry", "Psychiatry", ("F03",)),
)
SPECIALTY_IDS: tuple[str, ...] = tuple(s.id for s in SPECIALTIES)
# Partition value of corpus-level artefacts (every usable abstract of a run,
# whatever its specialty): the reference for entity frequencies.
WHOLE_CORPUS = "all"
_BY_ID = {s.id: s for s in SPECIALTIES}


def get_specialty(specialty_id: str) -> Specialty:
    try:
        return _BY_ID[specialty_id]
    except KeyError:
        raise ValueError(
            f"unknown specialty {specialty_id!r}; choose one of {', '.join(SPECIALTY_IDS)}"
        ) from None


def specialties_for(tree_numbers: Iterable[str]) -> list[str]:
    """Every specialty covering at least one tree number, in table order."""
    numbers = list(tree_numbers)
    return [s.id for s in SPECIALTIES if any(s.covers(t) for t in numbers)]
