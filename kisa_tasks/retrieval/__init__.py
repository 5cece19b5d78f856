"""The search engine over the corpus (BM25 with field boosts and filters)."""
