"""Seed sub-graphs: the in-memory graph, exact path searches, the sampling strategies."""
