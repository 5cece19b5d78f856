"""The QA tests' seed graph fixture (the graph itself is in ``qa_world``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from qa_world import write_graph

from kisa_tasks.graph import GraphStore


@pytest.fixture()
def seed_graph(graph_store: GraphStore) -> Iterator[GraphStore]:
    write_graph(graph_store)
    yield graph_store
