"""Entity statistics and rare-seed selection (DuckDB over the stage tables)."""
