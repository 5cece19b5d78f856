"""Helpers shared by the DAG files (Airflow side only; not DAGs themselves)."""
