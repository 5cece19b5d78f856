"""Benchmark question sets and the metrics that score agents on them."""
