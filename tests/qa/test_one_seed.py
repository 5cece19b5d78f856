"""``kisa qa --seed``: finding the seed and the run it works on."""

from __future__ import annotations

import pytest

from kisa_tasks.artefacts import ArtefactStore
from kisa_tasks.qa.one_seed import SeedNotFoundError, latest_run, resolve_seed
from kisa_tasks.settings import KisaSettings

ENTITIES: list[dict[str, object]] = [
    {"canonical_id": "drugbank:DB01115", "name": "Nifedipine", "aliases": ["adalat"]},
    {"canonical_id": "mesh:D006333", "name": "Heart Failure", "aliases": []},
]


def test_a_seed_is_found_by_id_name_or_alias() -> None:
    for given in ("drugbank:DB01115", "nifedipine", "Adalat"):
        assert resolve_seed(ENTITIES, given) == ("drugbank:DB01115", "Nifedipine")
    with pytest.raises(SeedNotFoundError, match="no entity 'aspirin'"):
        resolve_seed(ENTITIES, "aspirin")


def test_without_a_committed_run_it_says_what_to_run(settings: KisaSettings) -> None:
    with pytest.raises(SeedNotFoundError, match="make demo"):
        latest_run(ArtefactStore.from_settings(settings), "dermatology")
