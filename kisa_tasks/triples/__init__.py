"""Triples (head, relation, tail) with evidence, extracted from abstracts."""
